import { randomBytes } from 'node:crypto'
import { Adapter, type BroadcastOptions, type Session } from 'socket.io-adapter'
import type { Namespace, Socket } from 'socket.io'
import { PacketType, type Packet } from 'socket.io-parser'
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
  /**
   * PING_INTERVAL_MS + PING_TIMEOUT_MS: within that a connected socket confirms what it was sent,
   * so a chunk is compacted only once that old (see createPacketLog's compactAfterMs; 0: at once).
   */
  heartbeatMs?: number
  /** Told of packets dropped before their time, the log being at its cap. */
  onDropped?: (packets: number) => void
  /** The clock (epoch ms); tests pass their own. */
  now?: () => number
}

/** `confirmed`: the socket had received every packet numbered below it (see Receipts). */
type SavedSession = Omit<Session, 'missedPackets'> & { disconnectedAt: number; confirmed: number }

/**
 * What a connected socket has provably received: every packet numbered below `confirmed`. Engine.IO
 * pings each connection and the client answers with a pong once it has read everything written
 * before the ping, so at each pong what was numbered before that ping is confirmed (`pinged`).
 * A class: one small object a socket, its two numbers updated in place.
 */
class Receipts {
  confirmed: number
  pinged: number
  constructor(
    from: number,
    /** Its engine.io connection and the one listener on it, taken off when the socket goes. */
    readonly conn: Socket['conn'],
    readonly onPingOrPong: (packet?: EnginePacket) => void,
    /** The adapter's own set of the socket's rooms (`sids`), kept at hand for its pongs. */
    readonly rooms: ReadonlySet<string>
  ) {
    this.confirmed = from
    this.pinged = from
  }
}

/**
 * A session being restored, by socket id until its socket connects: where its replay started
 * (`from`), where it ended (`end`, the log's next number then) and the rooms it was for.
 */
interface Restoring {
  from: number
  end: number
  rooms: string[]
  at: number
}

/** An engine.io packet as its `packetCreate` event hands it over. */
interface EnginePacket {
  type: string
}

/**
 * Socket.IO's in-memory adapter for connection state recovery (one instance; with Redis the streams
 * adapter keeps both in Redis), following SessionAwareAdapter's rules but with the packet log in
 * place of its buffer of live objects: docs/recovery.md says why, and what that cost.
 */
export function createPacketLogAdapter({ graceMs, retentionMs, logBytes, heartbeatMs = 0, onDropped, now = Date.now }: PacketLogAdapterOptions): typeof Adapter {
  return class PacketLogAdapter extends Adapter {
    private readonly log = createPacketLog({ capacityBytes: logBytes, onDropped, now, compactAfterMs: heartbeatMs })
    /** An offset is this and the packet's number in base 36: unique to this log, and short, since
     * every broadcast carries one. The log keeps numbers, not strings (docs/recovery.md). */
    private readonly offsetPrefix = randomBytes(3).toString('base64url')
    private readonly sessions = new Map<string, SavedSession>()
    /** Each room of a saved session, with how many hold it: a recovery may still replay packets to it. */
    private readonly savedRooms = new Map<string, number>()
    /** What each connected socket of this namespace has received (sockets joined by hand, as in
     * tests, have none: they are taken to have confirmed nothing). */
    private readonly receipts = new Map<string, Receipts>()
    /** Sessions restored whose socket has not connected yet, by socket id (see Restoring). */
    private readonly restoring = new Map<string, Restoring>()
    /**
     * Rooms whose need (see prune) may have risen since the last prune: a member confirmed more
     * (its pong), left, or got its receipts, or a saved session holding the room went. Nothing else
     * raises it, so prune asks only of these, not of every room with packets each second
     * (docs/recovery.md).
     */
    private readonly changedRooms = new Set<string>()
    private readonly sweep = setInterval(() => this.prune(), PRUNE_INTERVAL_MS).unref()
    /** Socket.IO's encoder when it can take the JSON made for the log (our parser's): see broadcast. */
    private readonly reusingEncoder: JsonReusingEncoder | undefined

    constructor(nsp: Namespace) {
      super(nsp)
      const { encoder } = nsp.server
      this.reusingEncoder = encoder instanceof JsonReusingEncoder ? encoder : undefined
      // The last socket left a room: unless a saved session may come back to it, its packets die.
      this.on('delete-room', (room: string) => this.maybeGone(room))
      this.on('leave-room', (room: string) => this.changedRooms.add(room))
      // Before any `connection` listener of the application's: a socket is followed from its first packet.
      nsp.on('connection', (socket: Socket) => this.follow(socket))
    }

    /** Notes, from its pings and pongs, what a newly connected socket has received (see Receipts). */
    private follow(socket: Socket): void {
      const restored = this.restoring.get(socket.id)
      this.restoring.delete(socket.id)
      // Socket.IO joined it to its own room before this event, and the set stays until it leaves
      // every room (delAll). None: it was disconnected before this event (by a `connect` listener).
      const rooms = this.sids.get(socket.id)
      if (rooms === undefined) return
      if (restored !== undefined) this.sendLate(socket, restored)
      // One listener for both events, a closure fewer on every socket: `packetCreate` hands over the
      // packet being sent, `heartbeat` (the pong; Engine.IO 4, EIO3 clients are not allowed) nothing.
      const onPingOrPong = (packet?: EnginePacket): void => {
        if (packet === undefined) this.confirm(receipts)
        else if (packet.type === 'ping') receipts.pinged = this.log.nextNumber
      }
      const receipts = new Receipts(restored?.from ?? this.log.nextNumber, socket.conn, onPingOrPong, rooms)
      this.receipts.set(socket.id, receipts)
      // Until now it was taken to have confirmed nothing (a restored socket is in its rooms already).
      for (const room of rooms) this.changedRooms.add(room)
      socket.conn.on('packetCreate', onPingOrPong)
      socket.conn.on('heartbeat', onPingOrPong)
    }

    /**
     * What was sent to a restored socket's rooms after its replay was read and before it connected:
     * Socket.IO joins it to its rooms in its constructor but delivers to it only once connected
     * (after the middlewares), so those packets reached nobody. Sent now, before anything newer.
     */
    private sendLate(socket: Socket, { end, rooms }: Restoring): void {
      if (this.log.nextNumber <= end) return
      // Nothing of it can have been pruned: the socket, in its rooms with no receipts, held it all.
      // Only a packet too large for the whole log (counted as dropped) there makes `since` answer
      // nothing; those late packets are then lost, as a resume across it would fail.
      // Written as Socket.IO writes its replay (`socket.packet`, private): encoded, to the connection.
      const { nsp } = socket
      for (const data of this.log.since(end - 1, rooms, end) ?? []) {
        for (const encoded of nsp.server.encoder.encode({ type: PacketType.EVENT, nsp: nsp.name, data })) socket.conn.write(encoded)
      }
    }

    /** A pong: everything sent before its ping arrived, so each room of the socket may need less. */
    private confirm(receipts: Receipts): void {
      if (receipts.confirmed === receipts.pinged) return
      receipts.confirmed = receipts.pinged
      for (const room of receipts.rooms) this.changedRooms.add(room)
    }

    override delAll(id: string): void {
      super.delAll(id)
      // Gone from every room: disconnected (a saved session took its receipts, see persistSession).
      // A client may connect the namespace again on the same engine.io connection: no listener stays.
      const receipts = this.receipts.get(id)
      if (receipts === undefined) return
      this.receipts.delete(id)
      receipts.conn.off('packetCreate', receipts.onPingOrPong)
      receipts.conn.off('heartbeat', receipts.onPingOrPong)
    }

    private maybeGone(room: string): void {
      if (!this.rooms.has(room) && !this.savedRooms.has(room)) this.log.roomGone(room)
    }

    private prune(): void {
      const at = now()
      for (const [pid, session] of this.sessions) if (session.disconnectedAt + graceMs < at) this.forget(pid, session)
      for (const [id, { at: restoredAt }] of this.restoring) if (restoredAt + graceMs < at) this.restoring.delete(id)
      // What each room still needs: the packets from the oldest receipt among its sockets and saved
      // sessions (none of them can ask for older ones); a room with neither needs none.
      const sessionsNeed = new Map<string, number>()
      let firstNeeded = Infinity
      for (const { rooms, confirmed } of this.sessions.values()) {
        firstNeeded = Math.min(firstNeeded, confirmed)
        for (const room of rooms) sessionsNeed.set(room, Math.min(sessionsNeed.get(room) ?? Infinity, confirmed))
      }
      // Every socket here has receipts (receipts are only ever kept for sockets here) but those
      // still in Socket.IO's middlewares or joined by hand, which may need every packet.
      if (this.receipts.size < this.sids.size) firstNeeded = -Infinity
      else for (const { confirmed } of this.receipts.values()) firstNeeded = Math.min(firstNeeded, confirmed)
      this.log.releaseRooms((room) => {
        let from = sessionsNeed.get(room) ?? Infinity
        const members = this.rooms.get(room)
        if (members !== undefined) for (const id of members) from = Math.min(from, this.confirmedBy(id))
        return from
      }, this.changedRooms)
      this.changedRooms.clear()
      this.log.prune(at - retentionMs, firstNeeded)
    }

    /** What a socket here has confirmed receiving: all packets numbered below this. */
    private confirmedBy(id: string): number {
      return this.receipts.get(id)?.confirmed ?? -Infinity
    }

    private forget(pid: string, session: SavedSession): void {
      this.sessions.delete(pid)
      for (const room of session.rooms) {
        this.changedRooms.add(room)
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
      this.sessions.set(session.pid, { ...session, disconnectedAt: now(), confirmed: this.confirmedBy(session.sid) })
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
      if (number === undefined) return none
      // From the client's offset, or from what it had not confirmed when later: a client whose last
      // offset is old (a quiet call) needs nothing older than that, and it is all still here.
      const from = Math.max(number + 1, session.confirmed)
      const missedPackets = this.log.since(number, session.rooms, from)
      if (missedPackets === undefined) return none
      this.restoring.set(session.sid, { from, end: this.log.nextNumber, rooms: session.rooms, at: now() })
      return { ...session, missedPackets }
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
