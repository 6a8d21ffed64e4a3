import underPressure from '@fastify/under-pressure'
import fp from 'fastify-plugin'

/**
 * Load shedding: over the event-loop-delay, heap or RSS thresholds, HTTP routes answer 503 with
 * Retry-After (except /health: a busy process is still alive) and the admission check refuses new
 * Socket.IO handshakes. Connected calls keep working.
 */
export default fp(
  async function pressurePlugin(fastify) {
    const { config } = fastify
    await fastify.register(underPressure, {
      maxEventLoopDelay: config.PRESSURE_MAX_EVENT_LOOP_DELAY_MS,
      maxHeapUsedBytes: config.PRESSURE_MAX_HEAP_USED_BYTES,
      maxRssBytes: config.PRESSURE_MAX_RSS_BYTES,
      sampleInterval: config.PRESSURE_SAMPLE_INTERVAL_MS,
      retryAfter: config.PRESSURE_RETRY_AFTER_S
    })
  },
  { name: 'pressure', dependencies: ['env'] }
)
