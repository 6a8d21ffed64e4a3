import type { FastifyInstance } from 'fastify'
import mediaStatusEvents from './events/media-status.js'
import roomEvents from './events/room.js'
import signalEvents from './events/signal.js'
import userListEvents from './events/user-list.js'
import corsPlugin from './plugins/cors.js'
import envPlugin, { type EnvPluginOptions } from './plugins/env.js'
import healthPlugin from './plugins/health.js'
import socketPlugin from './plugins/socket.js'

export type AppOptions = EnvPluginOptions

/** The whole service as one plugin, so tests and `server.ts` build exactly the same thing. */
export default async function app(fastify: FastifyInstance, opts: AppOptions): Promise<void> {
  await fastify.register(envPlugin, opts)
  await fastify.register(corsPlugin)
  await fastify.register(healthPlugin)
  await fastify.register(socketPlugin)

  // Fastify's own 404 logs the whole URL, query string included; a room id may be in it.
  fastify.setNotFoundHandler((_request, reply) => {
    reply.code(404).send({ error: 'Not Found' })
  })

  // Each event group is its own encapsulated plugin, registered after the socket plugin it uses.
  await fastify.register(roomEvents)
  await fastify.register(signalEvents)
  await fastify.register(mediaStatusEvents)
  await fastify.register(userListEvents)
}
