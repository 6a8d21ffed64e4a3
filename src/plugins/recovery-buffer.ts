import { randomBytes } from 'node:crypto'
import { Adapter, type BroadcastOptions, type Session } from 'socket.io-adapter'

/** How often expired packets and sessions go (SessionAwareAdapter's sweep runs once a minute). */
const PRUNE_INTERVAL_MS = 1000

/** Whether `value` holds binary data, which JSON would not carry (Socket.IO sends it as attachments). */
function containsBinary(value: unknown, depth = 0): boolean {
  if (value === null || typeof value !== 'object' || depth > 32) return false
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return true
  for (const child of Array.isArray(value) ? value : Object.values(value)) if (containsBinary(child, depth + 1)) return true
  return false
}

/**
 * Sent packets kept for resumes, as three arrays however many packets: their emission times (an
 * array of numbers holds no objects), their audiences and their data, each one flat JSON string
 * (what went on the wire anyway). Packets holding binary data, which JSON would mangle, are kept
 * as they are. Socket.IO puts a packet's offset last in its data, so that is where a resume's
 * offset is looked for.
 */
export function createPacketLog() {
  const times: number[] = []
  const audiences: string[] = []
  const datas: Array<string | unknown[]> = []
  return {
    get size(): number {
      return datas.length
    },
    /** Packets arrive in emission order. */
    add(emittedAt: number, rooms: Iterable<string>, except: Iterable<string>, data: unknown[]): void {
      times.push(emittedAt)
      audiences.push(JSON.stringify([[...rooms], [...except]]))
      datas.push(containsBinary(data) ? data : JSON.stringify(data))
    },
    /** Drops the packets emitted before `threshold`. */
    prune(threshold: number): void {
      let low = 0
      let high = times.length
      while (low < high) {
        const middle = (low + high) >>> 1
        if (times[middle]! < threshold) low = middle + 1
        else high = middle
      }
      if (low > 0) {
        times.splice(0, low)
        audiences.splice(0, low)
        datas.splice(0, low)
      }
    },
    /**
     * The data of the packets after `offset` that a socket in `socketRooms` would have received,
     * by Socket.IO's rule; undefined when the offset is no longer (or never was) here. Only the
     * packets it gets are parsed: a resume after a long drop at a high rate skips many.
     */
    since(offset: string, socketRooms: string[]): unknown[][] | undefined {
      const ending = ',' + JSON.stringify(offset) + ']'
      let index = datas.length - 1
      for (; index >= 0; index--) {
        const data = datas[index]!
        if (typeof data === 'string' ? data.endsWith(ending) : data[data.length - 1] === offset) break
      }
      if (index < 0) return undefined
      const quoted = socketRooms.map((room) => JSON.stringify(room))
      const missed: unknown[][] = []
      for (let i = index + 1; i < datas.length; i++) {
        const audience = audiences[i]!
        // Cheap first: a packet for some rooms names one of this socket's, or it is not for it.
        if (!audience.startsWith('[[]') && !quoted.some((room) => audience.includes(room))) continue
        const [rooms, except] = JSON.parse(audience) as [string[], string[]]
        const included = rooms.length === 0 || socketRooms.some((room) => rooms.includes(room))
        const excluded = socketRooms.some((room) => except.includes(room))
        if (!included || excluded) continue
        const data = datas[i]!
        missed.push(typeof data === 'string' ? (JSON.parse(data) as unknown[]) : data)
      }
      return missed
    }
  }
}

export interface PacketLogAdapterOptions {
  /** How long a session is kept after its socket disconnected. */
  graceMs: number
  /** How long a packet is kept: as long as a resume may still ask for it (see socket.ts). */
  retentionMs: number
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
export function createPacketLogAdapter({ graceMs, retentionMs }: PacketLogAdapterOptions): typeof Adapter {
  /** Offsets only need to be unique on this instance, and short: every broadcast carries one. */
  const prefix = randomBytes(3).toString('base64url')
  let sequence = 0

  return class PacketLogAdapter extends Adapter {
    private readonly log = createPacketLog()
    private readonly sessions = new Map<string, SavedSession>()
    private readonly sweep = setInterval(() => this.prune(), PRUNE_INTERVAL_MS).unref()

    private prune(): void {
      const now = Date.now()
      this.log.prune(now - retentionMs)
      for (const [pid, session] of this.sessions) if (session.disconnectedAt + graceMs < now) this.sessions.delete(pid)
    }

    override close(): void {
      clearInterval(this.sweep)
    }

    override persistSession(session: Omit<Session, 'missedPackets'>): void {
      this.sessions.set(session.pid, { ...session, disconnectedAt: Date.now() })
    }

    override async restoreSession(pid: string, offset: string): Promise<Session> {
      // Socket.IO's types promise a session; its adapters answer null when there is none.
      const none = null as unknown as Session
      const session = this.sessions.get(pid)
      if (session === undefined) return none
      if (session.disconnectedAt + graceMs < Date.now()) {
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
        this.log.add(Date.now(), opts.rooms, opts.except ?? [], packet.data)
      }
      super.broadcast(packet, opts)
    }
  }
}
