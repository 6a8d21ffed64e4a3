import Fastify from 'fastify'
import fp from 'fastify-plugin'
import app from './app.js'
import { createServerOptions } from './server-options.js'

const SHUTDOWN_SIGNALS = ['SIGTERM', 'SIGINT'] as const

const server = Fastify(createServerOptions())
try {
  // fp() so the app's decorators (config, readiness) are visible here at the root.
  await server.register(fp(app))
  await server.listen({ port: server.config.PORT, host: server.config.HOST })
} catch (err) {
  // A bad setting lands here too; its message names the variable (`env/PORT must be integer`).
  server.log.fatal({ err }, 'could not start')
  process.exit(1)
}

let shuttingDown = false
for (const signal of SHUTDOWN_SIGNALS) {
  process.once(signal, () => {
    if (shuttingDown) return
    shuttingDown = true
    server.log.info({ signal }, 'shutting down')
    server.readiness.draining = true
    // On SIGTERM (a deploy) answer /ready 503 for a while first, so the load balancer stops sending
    // new clients here before the sockets are moved off; Ctrl-C (SIGINT) stops at once.
    const drainMs = signal === 'SIGTERM' ? server.config.DRAIN_DELAY_MS : 0
    new Promise((resolve) => setTimeout(resolve, drainMs))
      .then(() => server.close())
      .then(
        () => process.exit(0),
        (err: unknown) => {
          server.log.error({ err }, 'shutdown failed')
          process.exit(1)
        }
      )
  })
}

