import fp from 'fastify-plugin'
import { createLogBudget, type LogBudget } from '../log-budget.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Logs lines that clients cause (their events, handshakes), within a budget no client can exhaust. */
    clientLog: LogBudget
  }
}

export default fp(
  async function clientLogPlugin(fastify) {
    fastify.decorate(
      'clientLog',
      createLogBudget({ log: fastify.log, windowMs: fastify.config.RATE_LIMIT_WINDOW_MS, onSuppressed: fastify.metrics.logLineSuppressed })
    )
  },
  { name: 'client-log', dependencies: ['env', 'metrics'] }
)
