import fp from 'fastify-plugin'
import { createHash, timingSafeEqual } from 'node:crypto'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

export interface Metrics {
  /** One client event handled: its outcome is `ok` or the error code. */
  observeEvent(event: string, outcome: string, seconds: number): void
  signalRelayed(): void
}

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Metrics
  }
}

/** Constant-time comparison of a presented bearer token with the configured one. */
function sameSecret(presented: string, expected: string): boolean {
  const digest = (value: string): Buffer => createHash('sha256').update(value).digest()
  return timingSafeEqual(digest(presented), digest(expected))
}

/**
 * Prometheus metrics at `GET /metrics` (behind METRICS_TOKEN when set). Counts are this instance's:
 * sum them across instances. On the event path: one cached child lookup and one observation.
 */
export default fp(
  async function metricsPlugin(fastify) {
    const registry = new Registry()
    collectDefaultMetrics({ register: registry })

    /** Local sockets, or undefined before Socket.IO exists (a scrape during boot). */
    const localSockets = () => (fastify.hasDecorator('io') ? fastify.io.of('/').sockets : undefined)

    new Gauge({
      name: 'signaling_connected_sockets',
      help: 'Socket.IO connections open on this instance',
      registers: [registry],
      collect() {
        this.set(localSockets()?.size ?? 0)
      }
    })
    new Gauge({
      name: 'signaling_rooms',
      help: 'Rooms with at least one member connected to this instance',
      registers: [registry],
      collect() {
        const rooms = new Set<string>()
        for (const socket of localSockets()?.values() ?? []) if (socket.data.roomId) rooms.add(socket.data.roomId)
        this.set(rooms.size)
      }
    })
    new Gauge({
      name: 'signaling_room_members',
      help: 'Members seated in a room and connected to this instance',
      registers: [registry],
      collect() {
        let members = 0
        for (const socket of localSockets()?.values() ?? []) if (socket.data.roomId) members++
        this.set(members)
      }
    })
    const events = new Counter({
      name: 'signaling_events_total',
      help: 'Client events handled, by event and outcome (ok or the error code)',
      labelNames: ['event', 'outcome'] as const,
      registers: [registry]
    })
    const duration = new Histogram({
      name: 'signaling_event_duration_seconds',
      help: 'Time from a client event arriving to its handler finishing',
      labelNames: ['event'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry]
    })
    const relayed = new Counter({
      name: 'signaling_signals_relayed_total',
      help: 'Signals (SDP offers, answers, ICE candidates) relayed between members',
      registers: [registry]
    })

    // Label children are looked up once per (event, outcome), not hashed on every event.
    const counters = new Map<string, Map<string, { inc(): void }>>()
    const histograms = new Map<string, { observe(value: number): void }>()
    fastify.decorate('metrics', {
      observeEvent(event, outcome, seconds) {
        let byOutcome = counters.get(event)
        if (byOutcome === undefined) counters.set(event, (byOutcome = new Map()))
        let counter = byOutcome.get(outcome)
        if (counter === undefined) byOutcome.set(outcome, (counter = events.labels(event, outcome)))
        counter.inc()
        let histogram = histograms.get(event)
        if (histogram === undefined) histograms.set(event, (histogram = duration.labels(event)))
        histogram.observe(seconds)
      },
      signalRelayed() {
        relayed.inc()
      }
    })

    const token = fastify.config.METRICS_TOKEN
    // Not shed under load: that is when operators most need to see what the instance is doing.
    fastify.get('/metrics', { logLevel: 'warn', config: { pressureHandler: () => undefined } }, async (request, reply) => {
      if (token !== undefined) {
        const presented = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1] ?? ''
        if (!sameSecret(presented, token)) {
          return reply.code(401).header('WWW-Authenticate', 'Bearer').send({ error: 'Unauthorized' })
        }
      }
      return reply.type(registry.contentType).send(await registry.metrics())
    })
  },
  { name: 'metrics', dependencies: ['env'] }
)
