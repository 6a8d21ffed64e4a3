import fp from 'fastify-plugin'
import fastifySocketIOModule from 'fastify-socket.io'
import { createAnnouncer, type Announcer } from '../events/announce.js'
import { createEventRouter, type EventRouter, type SignalingServer } from '../events/event-router.js'
import { createJsonOnlyParser } from '../events/json-only-parser.js'
import { parseCorsOrigins } from './cors.js'

// A CommonJS build with an `__esModule` default export: from ESM its plugin is `.default`.
const fastifySocketIO = fastifySocketIOModule.default

declare module 'fastify' {
  interface FastifyInstance {
    /** fastify-socket.io decorates it untyped; this is the same server with our event maps. */
    io: SignalingServer
    /** Where each event group registers its handlers. */
    socketEvents: EventRouter
    /** What the server sends its clients, each event from one place. */
    announce: Announcer
  }
}

/**
 * Socket.IO on Fastify's HTTP server, with the event router that every event group plugin
 * registers its handlers with, and what sends events back; shut down with the instance.
 */
export default fp(
  async function socketPlugin(fastify) {
    const { config, recovery } = fastify
    const router = createEventRouter({
      // The announcer exists before any socket can fail an event.
      sendError: (socketId, message) => fastify.announce.error(socketId, message),
      logBudget: fastify.clientLog,
      observe: fastify.metrics.observeEvent,
      rateLimit: {
        burst: config.RATE_LIMIT_BURST,
        perSecond: config.RATE_LIMIT_PER_SECOND,
        maxRefusals: config.RATE_LIMIT_MAX_REFUSALS,
        windowMs: config.RATE_LIMIT_WINDOW_MS
      }
    })

    await fastify.register(fastifySocketIO, {
      serveClient: false,
      ...recovery.socketOptions,
      maxHttpBufferSize: config.MAX_MESSAGE_BYTES,
      // No client packet may carry binary: refused at its header, its attachments never kept.
      parser: createJsonOnlyParser({ maxMessageBytes: config.MAX_MESSAGE_BYTES }),
      pingInterval: config.PING_INTERVAL_MS,
      pingTimeout: config.PING_TIMEOUT_MS,
      // @fastify/cors never sees Socket.IO's requests, so they get the same origins here.
      cors: { origin: parseCorsOrigins(config.CORS_ORIGINS), methods: ['GET', 'POST'] },
      // Without this, `fastify.close()` waits forever on connected sockets. Disconnecting runs each
      // socket's clean-up; wait for it so the store is consistent before it closes.
      // (its types declare `done` as a bare `Function`.)
      // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
      preClose: (done: Function) => {
        const finish = done as (error?: unknown) => void
        // With recovery the transports just close, as a network drop would: clients reconnect (to
        // another instance, through the load balancer) and are recovered there.
        if (recovery.enabled) fastify.io.engine.close()
        else fastify.io.local.disconnectSockets(true)
        const drained = Promise.all([...router.servedSockets()].map((served) => served.idle))
        const timeout = new Promise<void>((resolve) => setTimeout(resolve, config.SHUTDOWN_TIMEOUT_MS).unref())
        Promise.race([drained, timeout]).then(
          () => finish(),
          (err: unknown) => finish(err)
        )
      }
    })

    fastify.decorate('socketEvents', router)
    fastify.decorate('announce', createAnnouncer(fastify.io, { sentTo: recovery.noteOffset, seatChanged: fastify.roster.changed }))
    // Origins, load, draining and per-address limits, on every HTTP request engine.io handles.
    fastify.admission.attach(fastify.io.engine)

    fastify.io.on('connection', (socket) => {
      router.attach(socket)
      fastify.clientLog.log(socket.id, 'debug', { socketId: socket.id }, 'socket connected')
    })
    // Through the router's own disconnect listener: one more per socket would cost a closure and
    // a listener array on every socket (docs/performance.md, seventh session).
    router.onDisconnect(async ({ socket }, reason) => {
      fastify.clientLog.log(socket.id, 'debug', { socketId: socket.id, reason }, 'socket disconnected')
    })
  },
  { name: 'socket', dependencies: ['env', 'health', 'admission', 'metrics', 'client-log', 'room-store', 'recovery'] }
)
