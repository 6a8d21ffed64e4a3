import type { FastifyInstance } from 'fastify'

/** How often expired packets leave the buffer (Socket.IO's own sweep runs once a minute). */
const PRUNE_INTERVAL_MS = 1000

/** One entry of Socket.IO's in-memory recovery buffer (socket.io-adapter's SessionAwareAdapter). */
interface StoredPacket {
  id: string
  emittedAt: number
  /** The event name, its arguments and the offset; a JSON string once compacted here. */
  data: unknown[] | string
}

/**
 * Socket.IO's in-memory recovery buffer keeps every broadcast (every relayed signal) as the live
 * object graph it was sent from, for the grace window plus up to a minute until its sweep. At
 * thousands of signals a second that is hundreds of thousands of small objects that every
 * scavenge promotes and every full GC marks: most of what connection recovery cost in CPU and in
 * p99 (docs/performance.md). Here each stored packet becomes one JSON string once sent (a string
 * is one object, and marking it never looks inside), is parsed back only for the rare client that
 * resumes, and leaves the buffer within a second of `retentionMs` (how long a resume may need it,
 * see socket.ts) rather than at a sweep once a minute. Socket.IO's own sweep still runs, with the
 * grace window as its cut-off: in the moment after it, an offset older than that is gone, as it
 * always was. Clients see the same bytes: Socket.IO sends packets as JSON anyway (binary packets
 * are never stored). In-memory adapter only; the Redis streams adapter keeps its packets in Redis.
 */
export function compactRecoveryBuffer(fastify: FastifyInstance, retentionMs: number): void {
  const adapter = fastify.io.of('/').adapter
  const packets = (adapter as unknown as { packets?: StoredPacket[] }).packets
  // Not Socket.IO's session-aware in-memory adapter (or a version that keeps packets elsewhere):
  // leave it as it is rather than guess.
  if (!Array.isArray(packets)) {
    fastify.log.warn('recovery buffer not found: packets are kept uncompacted')
    return
  }

  const broadcast = adapter.broadcast.bind(adapter)
  adapter.broadcast = (packet, opts) => {
    const stored = packets.length
    broadcast(packet, opts)
    // The adapter stored it (an event without ack, not volatile) and has already encoded it for
    // every recipient, so its arrays are garbage as soon as the buffer lets go of them.
    if (packets.length > stored) {
      const entry = packets[packets.length - 1]!
      entry.data = JSON.stringify(entry.data)
    }
  }

  const restore = adapter.restoreSession.bind(adapter)
  adapter.restoreSession = async (pid, offset) => {
    const session = await restore(pid, offset)
    // Typed as always there, but null when the session expired or its offset left the buffer.
    if (!session) return session
    return {
      ...session,
      missedPackets: session.missedPackets.map((data: unknown[] | string) => (typeof data === 'string' ? (JSON.parse(data) as unknown[]) : data))
    }
  }

  const prune = setInterval(() => {
    // Packets are stored in emission order: find the first one still inside the window.
    const threshold = Date.now() - retentionMs
    let low = 0
    let high = packets.length
    while (low < high) {
      const middle = (low + high) >>> 1
      if (packets[middle]!.emittedAt < threshold) low = middle + 1
      else high = middle
    }
    if (low > 0) packets.splice(0, low)
  }, PRUNE_INTERVAL_MS)
  prune.unref()
  fastify.addHook('onClose', async () => clearInterval(prune))
}
