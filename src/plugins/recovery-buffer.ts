import type { FastifyInstance } from 'fastify'

/** How often expired packets leave the buffer (Socket.IO's own sweep runs once a minute). */
const PRUNE_INTERVAL_MS = 1000
/** Separates a record's offset, its audience and its data (none of them holds a raw newline). */
const SEPARATOR = '\n'

/** An entry of Socket.IO's in-memory recovery buffer (socket.io-adapter's SessionAwareAdapter). */
interface StoredPacket {
  id: string
  emittedAt: number
  opts: { rooms: Set<string>; except?: Set<string> }
  data: unknown[]
}

/**
 * Sent packets as one string each (offset, audience and data as JSON, which is what went on the
 * wire anyway) beside their emission times in an array of numbers: two arrays, however many
 * packets, and nothing inside them for the garbage collector to trace.
 */
export function createPacketLog() {
  const times: number[] = []
  const records: string[] = []
  return {
    get size(): number {
      return records.length
    },
    /** Packets arrive in emission order. */
    add(offset: string, emittedAt: number, rooms: Iterable<string>, except: Iterable<string>, data: unknown[]): void {
      times.push(emittedAt)
      records.push(offset + SEPARATOR + JSON.stringify([[...rooms], [...except]]) + SEPARATOR + JSON.stringify(data))
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
        records.splice(0, low)
      }
    },
    /**
     * The data of the packets after `offset` that a socket in `socketRooms` would have received,
     * by Socket.IO's rule; undefined when the offset is no longer (or never was) here.
     */
    since(offset: string, socketRooms: string[]): unknown[][] | undefined {
      let index = records.length - 1
      while (index >= 0 && !(records[index]!.startsWith(offset) && records[index]!.startsWith(SEPARATOR, offset.length))) index--
      if (index < 0) return undefined
      const missed: unknown[][] = []
      for (let i = index + 1; i < records.length; i++) {
        const record = records[i]!
        const audienceStart = record.indexOf(SEPARATOR) + 1
        const dataStart = record.indexOf(SEPARATOR, audienceStart) + 1
        const [rooms, except] = JSON.parse(record.slice(audienceStart, dataStart - 1)) as [string[], string[]]
        const included = rooms.length === 0 || socketRooms.some((room) => rooms.includes(room))
        const excluded = socketRooms.some((room) => except.includes(room))
        if (included && !excluded) missed.push(JSON.parse(record.slice(dataStart)) as unknown[])
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
    const stored = packets.length
    broadcast(packet, opts)
    // The adapter stored it (an event without ack, not volatile) and has already encoded it for
    // every recipient: move it to the log.
    if (packets.length > stored) {
      const { id, emittedAt, opts: audience, data } = packets.pop()!
      log.add(id, emittedAt, audience.rooms, audience.except ?? [], data)
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
