import { randomBytes } from 'node:crypto'
import { Adapter, type BroadcastOptions, type Session } from 'socket.io-adapter'
import type { Namespace } from 'socket.io'
import type { Packet } from 'socket.io-parser'
import { JsonReusingEncoder } from '../events/json-only-parser.js'
import { createPacketLog } from './packet-log.js'

/** How often expired packets and sessions go (SessionAwareAdapter's sweep runs once a minute). */
const PRUNE_INTERVAL_MS = 1000

export interface PacketLogAdapterOptions {
  /** How long a session is kept after its socket disconnected. */
  graceMs: number
  /** How long a packet is kept: as long as a resume may still ask for it (see keepalive.ts). */
  retentionMs: number
  /** The most bytes the packet log may hold (see createPacketLog). */
  logBytes: number
  /** Told of packets dropped before their time, the log being at its cap. */
  onDropped?: (packets: number) => void
  /** The clock (epoch ms); tests pass their own. */
  now?: () => number
}

type SavedSession = Omit<Session, 'missedPackets'> & { disconnectedAt: number }

/**
 * Socket.IO's in-memory adapter for connection state recovery (one instance; with Redis the streams
 * adapter keeps both in Redis), following SessionAwareAdapter's rules but with the packet log in
 * place of its buffer of live objects: docs/recovery.md says why, and what that cost.
 */
export function createPacketLogAdapter({ graceMs, retentionMs, logBytes, onDropped, now = Date.now }: PacketLogAdapterOptions): typeof Adapter {
  return class PacketLogAdapter extends Adapter {
    private readonly log = createPacketLog({ capacityBytes: logBytes, onDropped, now })
    /** An offset is this and the packet's number in base 36: unique to this log, and short, since
     * every broadcast carries one. The log keeps numbers, not strings (docs/recovery.md). */
    private readonly offsetPrefix = randomBytes(3).toString('base64url')
    private readonly sessions = new Map<string, SavedSession>()
    /** Each room of a saved session, with how many hold it: a recovery may still replay packets to it. */
    private readonly savedRooms = new Map<string, number>()
    private readonly sweep = setInterval(() => this.prune(), PRUNE_INTERVAL_MS).unref()
    /** Socket.IO's encoder when it can take the JSON made for the log (our parser's): see broadcast. */
    private readonly reusingEncoder: JsonReusingEncoder | undefined

    constructor(nsp: Namespace) {
      super(nsp)
      const { encoder } = nsp.server
      this.reusingEncoder = encoder instanceof JsonReusingEncoder ? encoder : undefined
      // The last socket left a room: unless a saved session may come back to it, its packets die.
      this.on('delete-room', (room: string) => this.maybeGone(room))
    }

    private maybeGone(room: string): void {
      if (!this.rooms.has(room) && !this.savedRooms.has(room)) this.log.roomGone(room)
    }

    private prune(): void {
      const at = now()
      this.log.prune(at - retentionMs)
      for (const [pid, session] of this.sessions) if (session.disconnectedAt + graceMs < at) this.forget(pid, session)
    }

    private forget(pid: string, session: SavedSession): void {
      this.sessions.delete(pid)
      for (const room of session.rooms) {
        const count = (this.savedRooms.get(room) ?? 1) - 1
        if (count > 0) {
          this.savedRooms.set(room, count)
          continue
        }
        this.savedRooms.delete(room)
        this.maybeGone(room)
      }
    }

    /** Those of these rooms that someone is in, or may come back to: a packet to none of them reaches nobody. */
    private liveOf(rooms: Set<string>): string[] {
      const live: string[] = []
      for (const room of rooms) if (this.rooms.has(room) || this.savedRooms.has(room)) live.push(room)
      return live
    }

    /** Bytes the packet log holds (see createPacketLog). */
    get logBytes(): number {
      return this.log.heldBytes
    }

    /** Packets the log keeps alive (a recovery may still replay them). */
    get packetsKept(): number {
      return this.log.size
    }

    /** Offsets a resume may still start from (the packets within the retention). */
    get offsetsHeld(): number {
      return this.log.offsetsHeld
    }

    /** When the oldest packet a resume could still start from was sent; undefined when none is kept. */
    get oldestPacketAt(): number | undefined {
      return this.log.oldestAt
    }

    override close(): void {
      clearInterval(this.sweep)
    }

    override persistSession(session: Omit<Session, 'missedPackets'>): void {
      const previous = this.sessions.get(session.pid)
      if (previous !== undefined) this.forget(session.pid, previous)
      this.sessions.set(session.pid, { ...session, disconnectedAt: now() })
      for (const room of session.rooms) this.savedRooms.set(room, (this.savedRooms.get(room) ?? 0) + 1)
    }

    override async restoreSession(pid: string, offset: string): Promise<Session> {
      // Socket.IO's types promise a session; its adapters answer null when there is none.
      const none = null as unknown as Session
      const session = this.sessions.get(pid)
      if (session === undefined) return none
      if (session.disconnectedAt + graceMs < now()) {
        this.forget(pid, session)
        return none
      }
      const number = this.packetNumberOf(offset)
      const missedPackets = number === undefined ? undefined : this.log.since(number, session.rooms)
      return missedPackets === undefined ? none : { ...session, missedPackets }
    }

    /** The packet an offset of this log names; undefined for any other text. */
    private packetNumberOf(offset: unknown): number | undefined {
      if (typeof offset !== 'string' || !offset.startsWith(this.offsetPrefix)) return undefined
      const digits = offset.slice(this.offsetPrefix.length)
      const number = parseInt(digits, 36)
      // Only the text it wrote: not a prefix of it, nor the same number spelt otherwise.
      return Number.isSafeInteger(number) && number >= 0 && number.toString(36) === digits ? number : undefined
    }

    override broadcast(packet: { type: number; id?: number; data: unknown[] }, opts: BroadcastOptions): void {
      // Events without an ack (which could not be replayed) and not volatile get an offset and are
      // kept, before they are sent, so that the log stays in emission order; not those that nobody
      // could ever get (a signal to a socket gone for good).
      if (packet.type === 2 && packet.id === undefined && opts.flags?.volatile === undefined) {
        const live = this.liveOf(opts.rooms)
        if (opts.rooms.size === 0 || live.length > 0) {
          packet.data.push(this.offsetPrefix + this.log.nextNumber.toString(36))
          const json = JSON.stringify(packet.data)
          this.log.add(now(), opts.rooms, opts.except ?? [], json, live)
          // The same text goes on the wire: made once, not again by the encoder.
          this.reusingEncoder?.reuse(packet as Packet, json)
        }
      }
      try {
        super.broadcast(packet, opts)
      } finally {
        this.reusingEncoder?.drop()
      }
    }
  }
}
