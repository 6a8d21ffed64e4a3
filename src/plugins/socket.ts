import fp from 'fastify-plugin'
import fastifySocketIOModule from 'fastify-socket.io'
import { createEventRouter, type EventRouter, type Session, type SignalingServer } from '../events/event-router.js'
import { createMemoryRoomStore } from '../rooms/memory-room-store.js'
import type { RoomStore } from '../rooms/room-store.js'
import { parseCorsOrigins } from './cors.js'

// A CommonJS build with an `__esModule` default export: from ESM its plugin is `.default`.
const fastifySocketIO = fastifySocketIOModule.default

declare module 'fastify' {
  interface FastifyInstance {
    /** fastify-socket.io decorates it untyped; this is the same server with our event maps. */
    io: SignalingServer
    rooms: RoomStore
    socketEvents: EventRouter
  }
}

/**
 * Socket.IO on Fastify's HTTP server, the room store, and the event router that every event group
 * plugin registers its handlers with.
 */
export default fp(
  async function socketPlugin(fastify) {
    const { config } = fastify
    const rooms = createMemoryRoomStore({ capacity: config.MAX_USERS_PER_ROOM })
    const router = createEventRouter({
      log: fastify.log,
      rateLimit: {
        burst: config.RATE_LIMIT_BURST,
        perSecond: config.RATE_LIMIT_PER_SECOND,
        maxRefusals: config.RATE_LIMIT_MAX_REFUSALS,
        windowMs: config.RATE_LIMIT_WINDOW_MS
      }
    })
    const sessions = new Set<Session>()

    await fastify.register(fastifySocketIO, {
      serveClient: false,
      maxHttpBufferSize: config.MAX_MESSAGE_BYTES,
      // @fastify/cors never sees Socket.IO's requests, so they get the same origins here.
      cors: { origin: parseCorsOrigins(config.CORS_ORIGINS), methods: ['GET', 'POST'] },
      // Without this, `fastify.close()` waits forever on connected sockets. Disconnecting runs each
      // socket's clean-up (leave its room); wait for it so the store is consistent before it closes.
      // (its types declare `done` as a bare `Function`.)
      preClose: (done: Function) => {
        fastify.io.local.disconnectSockets(true)
        const drained = Promise.all([...sessions].map((session) => session.idle))
        const timeout = new Promise<void>((resolve) => setTimeout(resolve, config.SHUTDOWN_TIMEOUT_MS).unref())
        Promise.race([drained, timeout]).then(
          () => done(),
          (err: unknown) => done(err)
        )
      }
    })

    fastify.decorate('rooms', rooms)
    fastify.decorate('socketEvents', router)

    fastify.io.on('connection', (socket) => {
      const session = router.attach(socket)
      sessions.add(session)
      fastify.log.debug({ socketId: socket.id }, 'socket connected')
      socket.on('disconnect', (reason) => {
        fastify.log.debug({ socketId: socket.id, reason }, 'socket disconnected')
        session.idle.finally(() => sessions.delete(session))
      })
    })

    fastify.addHook('onClose', async () => {
      await rooms.close()
    })
  },
  { name: 'socket', dependencies: ['env'] }
)
