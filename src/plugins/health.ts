import fp from 'fastify-plugin'

export interface Readiness {
  /** True from the moment shutdown begins: the load balancer should stop sending new clients. */
  draining: boolean
  /** A dependency that must be up for the instance to take traffic (the shared store, say). */
  addCheck(name: string, isUp: () => boolean): void
  /** Names of the checks failing now, plus `draining` while shutting down; empty when ready. */
  failing(): string[]
}

declare module 'fastify' {
  interface FastifyInstance {
    readiness: Readiness
  }
}

function createReadiness(): Readiness {
  const checks = new Map<string, () => boolean>()
  return {
    draining: false,
    addCheck(name, isUp) {
      checks.set(name, isUp)
    },
    failing() {
      const failing = [...checks].filter(([, isUp]) => !isUp()).map(([name]) => name)
      return this.draining ? ['draining', ...failing] : failing
    }
  }
}

/**
 * `GET /health` answers 200 while the process runs (liveness: restart me if not); `GET /ready`
 * answers 503 while draining or while a dependency is down (readiness: send me no traffic).
 */
export default fp(
  async function healthPlugin(fastify) {
    const readiness = createReadiness()
    fastify.decorate('readiness', readiness)

    // Probes arrive every few seconds; logging each one would drown everything else.
    // A process under pressure is still alive: /health must not make the orchestrator kill it.
    fastify.get('/health', { logLevel: 'warn', config: { pressureHandler: () => undefined } }, async () => ({ status: 'ok' }))
    fastify.get('/ready', { logLevel: 'warn' }, async (_request, reply) => {
      const failing = readiness.failing()
      if (failing.length === 0) return { status: 'ready' }
      return reply.code(503).send({ status: 'unavailable', failing })
    })

    fastify.addHook('preClose', async () => {
      readiness.draining = true
    })
  },
  { name: 'health' }
)
