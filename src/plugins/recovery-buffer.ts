import type { FastifyInstance } from 'fastify'

/** How often expired packets leave the buffer (Socket.IO's own sweep runs once a minute). */
const PRUNE_INTERVAL_MS = 1000

/** An entry of Socket.IO's in-memory recovery buffer (socket.io-adapter's SessionAwareAdapter). */
interface StoredPacket {
  emittedAt: number
  opts: { rooms: Set<string>; except?: Set<string> }
  data: unknown[]
}

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

export interface RecoveryBufferOptions {
  /** How long a session is kept after its socket disconnected. */
  graceMs: number
  /** How long a packet is kept: as long as a resume may still ask for it (see socket.ts). */
  retentionMs: number
}

/**
 * Socket.IO's in-memory recovery buffer keeps every broadcast (every relayed signal) as the live
 * objects it was sent from: the packet, its data, its audience's Sets, its offset. At thousands of
 * signals a second over a window of tens of seconds that is a million small objects, which every
 * scavenge promotes and every full GC marks: most of what connection recovery cost in CPU and in
 * p99 (docs/performance.md). Here the adapter's buffer stays empty: each packet, once sent, moves
 * to a packet log, pruned every second, and a resume reads the log as Socket.IO's adapter reads its
 * buffer. In-memory adapter only; the Redis streams adapter keeps its packets in Redis.
 */
export function compactRecoveryBuffer(fastify: FastifyInstance, { graceMs, retentionMs }: RecoveryBufferOptions): void {
  const adapter = fastify.io.of('/').adapter
  type Restored = Awaited<ReturnType<typeof adapter.restoreSession>>
  const { packets, sessions } = adapter as unknown as {
    packets?: StoredPacket[]
    sessions?: Map<string, Omit<Restored, 'missedPackets'> & { disconnectedAt: number }>
  }
  // Not Socket.IO's session-aware in-memory adapter (or a version that keeps them elsewhere):
  // leave it as it is rather than guess.
  if (!Array.isArray(packets) || !(sessions instanceof Map)) {
    fastify.log.warn('recovery buffer not found: packets are kept as Socket.IO keeps them')
    return
  }
  const log = createPacketLog()

  const broadcast = adapter.broadcast.bind(adapter)
  adapter.broadcast = (packet, opts) => {
    try {
      broadcast(packet, opts)
    } finally {
      // The adapter stored it (an event without ack, not volatile) before sending it: move it, and
      // anything a nested broadcast stored, to the log in the order stored.
      if (packets.length > 0) {
        for (const { emittedAt, opts: audience, data } of packets.splice(0)) log.add(emittedAt, audience.rooms, audience.except ?? [], data)
      }
    }
  }

  // Socket.IO's restoreSession for its in-memory adapter, reading the log instead of its buffer.
  // Its types promise a session; its adapters answer null when there is none to resume.
  const none = null as unknown as Restored
  adapter.restoreSession = async (pid, offset) => {
    const session = sessions.get(pid)
    if (session === undefined) return none
    if (session.disconnectedAt + graceMs < Date.now()) {
      sessions.delete(pid)
      return none
    }
    const missedPackets = log.since(offset, session.rooms)
    return missedPackets === undefined ? none : { ...session, missedPackets }
  }

  const prune = setInterval(() => log.prune(Date.now() - retentionMs), PRUNE_INTERVAL_MS)
  prune.unref()
  fastify.addHook('onClose', async () => clearInterval(prune))
}
