import type { FastifyInstance } from 'fastify'
import helmet from '@fastify/helmet'
import iceServerEvents from './events/ice-servers.js'
import mediaStatusEvents from './events/media-status.js'
import roomEvents from './events/room.js'
import recoveryPlugin from './recovery/recovery-plugin.js'
import seatGraceEvents from './recovery/seat-grace.js'
import signInEvents from './events/sign-in.js'
import signalEvents from './events/signal.js'
import userListEvents from './events/user-list.js'
import admissionPlugin from './plugins/admission.js'
import authPlugin from './plugins/auth.js'
import clientLogPlugin from './plugins/client-log.js'
import corsPlugin from './plugins/cors.js'
import demoPagePlugin from './plugins/demo-page.js'
import envPlugin, { type EnvPluginOptions } from './plugins/env.js'
import healthPlugin from './plugins/health.js'
import httpLimitsPlugin from './plugins/http-limits.js'
import icePlugin from './plugins/ice.js'
import metricsPlugin from './plugins/metrics.js'
import pressurePlugin from './plugins/pressure.js'
import roomStorePlugin from './plugins/room-store.js'
import socketGuardPlugin from './plugins/socket-guard.js'
import socketPlugin from './plugins/socket.js'

export type AppOptions = EnvPluginOptions

/** The whole service as one plugin, so tests and `server.ts` build exactly the same thing. */
export default async function app(fastify: FastifyInstance, opts: AppOptions): Promise<void> {
  await fastify.register(envPlugin, opts)
  await fastify.register(httpLimitsPlugin)
  await fastify.register(corsPlugin)
  // Security headers for the HTTP routes (Socket.IO's own responses never pass through Fastify).
  // The demo page connects to its Socket.IO server, which may be another origin; no HTTPS upgrade
  // is forced, since TLS is the load balancer's business.
  await fastify.register(helmet, {
    contentSecurityPolicy: {
      directives: { 'connect-src': ["'self'", 'ws:', 'wss:'], 'upgrade-insecure-requests': null }
    }
  })
  await fastify.register(pressurePlugin)
  await fastify.register(healthPlugin)
  await fastify.register(metricsPlugin)
  await fastify.register(clientLogPlugin)
  await fastify.register(icePlugin)
  await fastify.register(admissionPlugin)
  await fastify.register(roomStorePlugin)
  await fastify.register(recoveryPlugin)
  await fastify.register(socketPlugin)
  await fastify.register(socketGuardPlugin)
  await fastify.register(authPlugin)
  await fastify.register(demoPagePlugin)

  // Fastify's own 404 logs the whole URL, query string included; a room id may be in it.
  fastify.setNotFoundHandler((_request, reply) => {
    reply.code(404).send({ error: 'Not Found' })
  })

  // Each event group is its own encapsulated plugin, registered after the socket plugin it uses.
  await fastify.register(roomEvents)
  await fastify.register(seatGraceEvents)
  await fastify.register(signalEvents)
  await fastify.register(mediaStatusEvents)
  await fastify.register(userListEvents)
  await fastify.register(iceServerEvents)
  await fastify.register(signInEvents)
}
