import Fastify from 'fastify'
import fp from 'fastify-plugin'
import { createHash, timingSafeEqual } from 'node:crypto'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

export interface Metrics {
  /** One client event handled: its outcome is `ok` or the error code. */
  readonly observeEvent: (event: string, outcome: string, seconds: number) => void
  readonly signalRelayed: () => void
  /** A log line a client caused was dropped for being over its budget (see log-budget.ts). */
  readonly logLineSuppressed: () => void
  /** Packets the recovery log dropped before their time, being at its cap. */
  readonly recoveryPacketsDropped: (packets: number) => void
}

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Metrics
    /** The listener on METRICS_PORT that serves `GET /metrics` (tests call its `inject`). */
    metricsServer: FastifyInstance
  }
}

/** Constant-time comparison of a presented bearer token with the configured one. */
function sameSecret(presented: string, expected: string): boolean {
  const digest = (value: string): Buffer => createHash('sha256').update(value).digest()
  return timingSafeEqual(digest(presented), digest(expected))
}

interface HistogramOptions {
  name: string
  help: string
  labelName: string
  buckets: readonly number[]
}

/**
 * A histogram with one label, observed with plain arithmetic and read by prom-client's registry
 * through `get()` in the shape its own histograms return.
 */
export function createHistogram({ name, help, labelName, buckets }: HistogramOptions) {
  const series = new Map<string, { counts: number[]; sum: number; count: number }>()
  return {
    name,
    help,
    type: 'histogram' as const,
    aggregator: 'sum' as const,
    observe(label: string, value: number): void {
      let entry = series.get(label)
      if (entry === undefined) series.set(label, (entry = { counts: buckets.map(() => 0), sum: 0, count: 0 }))
      let bucket = 0
      while (bucket < buckets.length && value > buckets[bucket]!) bucket++
      if (bucket < buckets.length) entry.counts[bucket]!++
      entry.sum += value
      entry.count++
    },
    get() {
      const values: Array<{ metricName: string; labels: Record<string, string | number>; value: number }> = []
      for (const [label, { counts, sum, count }] of series) {
        let cumulative = 0
        buckets.forEach((le, i) => {
          cumulative += counts[i]!
          values.push({ metricName: `${name}_bucket`, labels: { le, [labelName]: label }, value: cumulative })
        })
        values.push({ metricName: `${name}_bucket`, labels: { le: '+Inf', [labelName]: label }, value: count })
        values.push({ metricName: `${name}_sum`, labels: { [labelName]: label }, value: sum })
        values.push({ metricName: `${name}_count`, labels: { [labelName]: label }, value: count })
      }
      return { name, help, type: this.type, aggregator: this.aggregator, values }
    },
    reset(): void {
      series.clear()
    }
  }
}

/**
 * Prometheus metrics at `GET /metrics` on METRICS_PORT (behind METRICS_TOKEN when set). Counts are
 * this instance's: sum them across instances. On the event path: a few additions to plain numbers.
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
    // The event path only adds to plain numbers; prom-client sees them at scrape time. Its own
    // `inc` and `observe` validate and hash the labels on every call, about 1.5% of the relay's
    // CPU in a profile at 5,000 signals/s (docs/performance.md).
    /** Events handled, by event then outcome. */
    const handled = new Map<string, Map<string, number>>()
    let relayedTotal = 0
    let suppressedLines = 0
    let droppedPackets = 0
    new Counter({
      name: 'signaling_events_total',
      help: 'Client events handled, by event and outcome (ok or the error code)',
      labelNames: ['event', 'outcome'] as const,
      registers: [registry],
      collect() {
        this.reset()
        for (const [event, byOutcome] of handled) {
          for (const [outcome, count] of byOutcome) this.inc({ event, outcome }, count)
        }
      }
    })
    const duration = createHistogram({
      name: 'signaling_event_duration_seconds',
      help: 'Time from a client event arriving to its handler finishing',
      labelName: 'event',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1]
    })
    // prom-client's registry asks a metric only for its name and `get()`; its types list its own
    // four classes (and type `get()`'s `type` as a numeric enum, where its own histograms return
    // the string 'histogram' that the text format needs: test/metrics.test.ts reads it).
    registry.registerMetric(duration as unknown as Histogram)
    new Counter({
      name: 'signaling_signals_relayed_total',
      help: 'Signals (SDP offers, answers, ICE candidates) relayed between members',
      registers: [registry],
      collect() {
        this.reset()
        this.inc(relayedTotal)
      }
    })

    new Counter({
      name: 'signaling_log_lines_suppressed_total',
      help: 'Log lines caused by clients that were dropped for being over the per-socket or per-second budget',
      registers: [registry],
      collect() {
        this.reset()
        this.inc(suppressedLines)
      }
    })

    new Gauge({
      name: 'signaling_recovery_log_bytes',
      help: 'Bytes the in-memory recovery log holds (packets kept for resumes, and spare chunks); 0 with Redis',
      registers: [registry],
      collect() {
        this.set(fastify.hasDecorator('recovery') ? fastify.recovery.logBytes() : 0)
      }
    })
    new Gauge({
      name: 'signaling_recovery_log_packets',
      help: 'Offsets the in-memory recovery log holds within its retention (a resume may start from one); 0 with Redis',
      registers: [registry],
      collect() {
        this.set(fastify.hasDecorator('recovery') ? fastify.recovery.logPackets() : 0)
      }
    })
    new Counter({
      name: 'signaling_recovery_log_dropped_total',
      help: 'Packets the recovery log dropped before their time, being at RECOVERY_LOG_BYTES: resumes from them fail',
      registers: [registry],
      collect() {
        this.reset()
        this.inc(droppedPackets)
      }
    })

    fastify.decorate('metrics', {
      observeEvent(event, outcome, seconds) {
        let byOutcome = handled.get(event)
        if (byOutcome === undefined) handled.set(event, (byOutcome = new Map<string, number>()))
        byOutcome.set(outcome, (byOutcome.get(outcome) ?? 0) + 1)
        duration.observe(event, seconds)
      },
      signalRelayed() {
        relayedTotal++
      },
      logLineSuppressed() {
        suppressedLines++
      },
      recoveryPacketsDropped(packets) {
        droppedPackets += packets
      }
    })

    // Its own listener, never the public port: the load balancer forwards PORT to the internet, and
    // these numbers (the Node version, open file descriptors, event counts) are for operators.
    const { METRICS_TOKEN: token, METRICS_PORT, METRICS_HOST, HOST } = fastify.config
    const metricsServer = Fastify({ loggerInstance: fastify.log.child({ listener: 'metrics' }), forceCloseConnections: true })
    metricsServer.get('/metrics', { logLevel: 'warn' }, async (request, reply) => {
      if (token !== undefined) {
        const presented = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1] ?? ''
        if (!sameSecret(presented, token)) {
          return reply.code(401).header('WWW-Authenticate', 'Bearer').send({ error: 'Unauthorized' })
        }
      }
      return reply.type(registry.contentType).send(await registry.metrics())
    })
    metricsServer.setNotFoundHandler((_request, reply) => {
      reply.code(404).send({ error: 'Not Found' })
    })
    fastify.decorate('metricsServer', metricsServer)
    fastify.addHook('onReady', async () => {
      await metricsServer.listen({ port: METRICS_PORT, host: METRICS_HOST ?? HOST, listenTextResolver: (address) => `metrics served at /metrics on port ${new URL(address).port}` })
    })
    fastify.addHook('onClose', async () => {
      await metricsServer.close()
    })
  },
  { name: 'metrics', dependencies: ['env'] }
)
