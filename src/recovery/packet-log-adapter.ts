import { randomBytes } from 'node:crypto'
import { Adapter, type BroadcastOptions, type Session } from 'socket.io-adapter'
import { createPacketLog } from './packet-log.js'

/** How often expired packets and sessions go (SessionAwareAdapter's sweep runs once a minute). */
const PRUNE_INTERVAL_MS = 1000

export interface PacketLogAdapterOptions {
  /** How long a session is kept after its socket disconnected. */
  graceMs: number
  /** How long a packet is kept: as long as a resume may still ask for it (see socket.ts). */
  retentionMs: number
  /** The packet log's buffer (see createPacketLog). */
  logBytes: number
  /** Told when the log was too small for the retention (see createPacketLog). */
  onOverwrite?: () => void
  /** The clock (epoch ms); tests pass their own. */
  now?: () => number
}

type SavedSession = Omit<Session, 'missedPackets'> & { disconnectedAt: number }

/**
 * Socket.IO's in-memory adapter for connection state recovery, with the packet log in place of the
 * buffer Socket.IO's own (SessionAwareAdapter) keeps. That one holds every broadcast, every relayed
 * signal, as the live objects it was sent from (the packet, its data, its audience's Sets, its
 * offset) for the grace window plus up to a minute: at thousands of signals a second a million
 * small objects, which every scavenge promotes and every full GC marks, most of what recovery cost
 * in CPU and in p99 (docs/performance.md). The rest follows SessionAwareAdapter: sessions saved on
 * disconnect, restored within the grace window with the packets the socket's rooms got after its
 * offset, the offset appended last to each stored packet. Expired packets and sessions go every
 * second. For one instance; with Redis, the streams adapter keeps both in Redis.
 */
export function createPacketLogAdapter({ graceMs, retentionMs, logBytes, onOverwrite, now = Date.now }: PacketLogAdapterOptions): typeof Adapter {
  /** Offsets only need to be unique on this instance, and short: every broadcast carries one. */
  const prefix = randomBytes(3).toString('base64url')
  let sequence = 0

  return class PacketLogAdapter extends Adapter {
    private readonly log = createPacketLog({ capacityBytes: logBytes, onOverwrite })
    private readonly sessions = new Map<string, SavedSession>()
    private readonly sweep = setInterval(() => this.prune(), PRUNE_INTERVAL_MS).unref()

    private prune(): void {
      const at = now()
      this.log.prune(at - retentionMs)
      for (const [pid, session] of this.sessions) if (session.disconnectedAt + graceMs < at) this.sessions.delete(pid)
    }

    /** When the oldest packet a resume could still start from was sent; undefined when none is kept. */
    get oldestPacketAt(): number | undefined {
      return this.log.oldestAt
    }

    override close(): void {
      clearInterval(this.sweep)
    }

    override persistSession(session: Omit<Session, 'missedPackets'>): void {
      this.sessions.set(session.pid, { ...session, disconnectedAt: now() })
    }

    override async restoreSession(pid: string, offset: string): Promise<Session> {
      // Socket.IO's types promise a session; its adapters answer null when there is none.
      const none = null as unknown as Session
      const session = this.sessions.get(pid)
      if (session === undefined) return none
      if (session.disconnectedAt + graceMs < now()) {
        this.sessions.delete(pid)
        return none
      }
      const missedPackets = this.log.since(offset, session.rooms)
      return missedPackets === undefined ? none : { ...session, missedPackets }
    }

    override broadcast(packet: { type: number; id?: number; data: unknown[] }, opts: BroadcastOptions): void {
      // Events without an ack (which could not be replayed) and not volatile get an offset and are
      // kept, before they are sent, so that the log stays in emission order.
      if (packet.type === 2 && packet.id === undefined && opts.flags?.volatile === undefined) {
        packet.data.push(prefix + (sequence++).toString(36))
        this.log.add(now(), opts.rooms, opts.except ?? [], packet.data)
      }
      super.broadcast(packet, opts)
    }
  }
}
