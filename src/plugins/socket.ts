import { createAdapter } from '@socket.io/redis-streams-adapter'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import fastifySocketIOModule from 'fastify-socket.io'
import { randomUUID } from 'node:crypto'
import type { ServerOptions } from 'socket.io'
import { createEventRouter, type EventRouter, type SignalingServer, type SignalingSocket } from '../events/event-router.js'
import { createJsonOnlyParser } from '../events/json-only-parser.js'
import { displayNames } from '../events/username.js'
import { ERROR_MESSAGES } from '../protocol.js'
import { createMemoryRoomStore } from '../rooms/memory-room-store.js'
import { connectRedis } from '../rooms/redis-connection.js'
import { createRedisRoomStore } from '../rooms/redis-room-store.js'
import type { RoomStore } from '../rooms/room-store.js'
import { parseCorsOrigins } from './cors.js'
import { createPacketLogAdapter } from './recovery-buffer.js'
import { packetRetentionMs, startRecoveryKeepalive } from './recovery-keepalive.js'

/** How long a resume waits for the instance holding the old transport to let go of it. */
const RELEASE_WAIT_MS = 1000
/** A full recovery log is reported at most this often. */
const OVERWRITE_WARNING_INTERVAL_MS = 60_000

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

interface Backend {
  rooms: RoomStore
  adapter?: ServerOptions['adapter']
  /** Whether other instances share the rooms (and the adapter relays between them). */
  betweenInstances: boolean
  close(): Promise<void>
}

/**
 * With REDIS_URL: rooms in Redis and Socket.IO's Redis Streams adapter between instances. The
 * streams adapter (not the pub/sub one) because it resumes after a Redis blip without losing
 * packets and stores connection-recovery sessions in Redis, so a client can resume its session on
 * any instance. Two connections: the store's fails fast while Redis is away (clients get
 * UNAVAILABLE at once), the adapter's queues (its stream reader waits out the outage rather than
 * spinning).
 */
async function createRedisBackend(fastify: FastifyInstance, url: string, router: EventRouter): Promise<Backend> {
  const { config, log } = fastify
  const prefix = config.REDIS_KEY_PREFIX
  const timeout = config.REDIS_CONNECT_TIMEOUT_MS
  // A Redis that hangs rather than drops must not hang every socket's event queue behind it.
  const storeRedis = await connectRedis(
    url,
    { enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: config.REDIS_COMMAND_TIMEOUT_MS },
    timeout
  )
  const adapterRedis = await connectRedis(url, {}, timeout)
  for (const [role, client] of [['store', storeRedis], ['adapter', adapterRedis]] as const) {
    // Without a listener ioredis reports every failed reconnect as an unhandled 'error'.
    client.on('error', (err: Error) => log.debug({ role, err: err.message }, 'redis connection error'))
    client.on('close', () => log.warn({ role }, 'redis connection lost'))
    client.on('ready', () => log.info({ role }, 'redis connection ready'))
  }
  const rooms = createRedisRoomStore({
    redis: storeRedis,
    prefix,
    instanceId: randomUUID(),
    capacity: config.MAX_USERS_PER_ROOM,
    heartbeatMs: config.INSTANCE_HEARTBEAT_MS,
    instanceTimeoutMs: config.INSTANCE_TIMEOUT_MS,
    roomTtlSeconds: config.ROOM_TTL_S,
    isServedHere: (memberId) => router.session(memberId) !== undefined,
    onEvicted: (roomId, memberId) => {
      log.info('freed a seat left behind by a dead instance or a missed leave')
      fastify.io.to(roomId).emit('user-left', memberId)
    },
    onReaped: () => {
      log.warn('the other instances took this one for dead and freed its seats; re-seating its members')
      reseatLocalMembers(fastify, router).catch((err: unknown) => log.error({ err }, 're-seating failed'))
    },
    onError: (err) => log.warn({ err }, 'room store housekeeping failed')
  })
  fastify.readiness.addCheck('redis', () => rooms.healthy())
  const adapter = createAdapter(adapterRedis, {
    // Recovery replays from this stream: it must hold at least a grace window of traffic.
    maxLen: config.REDIS_STREAM_MAX_LEN,
    // Its stream readers stop only after their blocking read returns: keep shutdown short.
    blockTimeInMs: 1000,
    streamName: `${prefix}socket.io`,
    channelPrefix: `${prefix}socket.io`,
    sessionKeyPrefix: `${prefix}session:`
  })
  return {
    rooms,
    adapter,
    betweenInstances: true,
    async close() {
      await rooms.close()
      // quit() waits for Redis to answer; with Redis gone it would wait (and reconnect) forever.
      await Promise.all(
        [storeRedis, adapterRedis].map(async (client) => {
          await Promise.race([client.quit().catch(() => {}), new Promise((resolve) => setTimeout(resolve, 1000))])
          client.disconnect()
        })
      )
    }
  }
}

/**
 * After this instance was cut off long enough for the others to free its seats, its sockets are
 * still connected and still think they are in their rooms: seat them again, or tell them they lost
 * their place (the room filled up or emptied meanwhile).
 */
async function reseatLocalMembers(fastify: FastifyInstance, router: EventRouter): Promise<void> {
  const capacity = fastify.config.MAX_USERS_PER_ROOM
  for (const session of router.sessions()) {
    const { socket } = session
    const { roomId, username, camera = true, mic = true, subject } = socket.data
    if (!socket.connected || roomId === undefined || username === undefined) continue
    const request = { id: socket.id, camera, mic, name: username, names: displayNames(username, capacity), conn: session.conn, subject }
    const outcome = await fastify.rooms.join(roomId, request)
    if (outcome.status === 'joined') {
      fastify.io.to(roomId).except(socket.id).emit('user-joined', outcome.member)
    } else {
      socket.data.roomId = undefined
      await socket.leave(roomId)
      fastify.io.to(socket.id).emit('error', ERROR_MESSAGES.SEAT_LOST)
    }
  }
}

function createMemoryBackend(fastify: FastifyInstance): Backend {
  const { config } = fastify
  const rooms = createMemoryRoomStore({ capacity: config.MAX_USERS_PER_ROOM })
  const graceMs = config.RECONNECT_GRACE_MS
  const retentionMs = packetRetentionMs({ graceMs, pingIntervalMs: config.PING_INTERVAL_MS, pingTimeoutMs: config.PING_TIMEOUT_MS })
  let warnedAt = -Infinity
  const onOverwrite = (): void => {
    if (Date.now() - warnedAt < OVERWRITE_WARNING_INTERVAL_MS) return
    warnedAt = Date.now()
    fastify.log.warn({ logBytes: config.RECOVERY_LOG_BYTES }, 'recovery log full: packets dropped before their time; raise RECOVERY_LOG_BYTES')
  }
  const adapter =
    graceMs > 0 ? createPacketLogAdapter({ graceMs, retentionMs, logBytes: config.RECOVERY_LOG_BYTES, onOverwrite }) : undefined
  return { rooms, adapter, betweenInstances: false, close: () => rooms.close() }
}

/**
 * Socket.IO on Fastify's HTTP server, the room store (chosen at boot), and the event router that
 * every event group plugin registers its handlers with.
 */
export default fp(
  async function socketPlugin(fastify) {
    const { config } = fastify
    const router = createEventRouter({
      logBudget: fastify.clientLog,
      observe: fastify.metrics.observeEvent,
      rateLimit: {
        burst: config.RATE_LIMIT_BURST,
        perSecond: config.RATE_LIMIT_PER_SECOND,
        maxRefusals: config.RATE_LIMIT_MAX_REFUSALS,
        windowMs: config.RATE_LIMIT_WINDOW_MS
      }
    })
    const backend = config.REDIS_URL ? await createRedisBackend(fastify, config.REDIS_URL, router) : createMemoryBackend(fastify)
    const graceMs = config.RECONNECT_GRACE_MS

    await fastify.register(fastifySocketIO, {
      serveClient: false,
      adapter: backend.adapter,
      // With recovery on, a client that reconnects within the grace window gets its socket id,
      // rooms and socket.data back, and the packets it missed (the streams adapter keeps the
      // session in Redis, so it may come back through any instance). Every broadcast then carries
      // its offset as an extra trailing argument, which clients reading the first one ignore.
      // With sign-in on, a recovered socket passes the auth middleware again: its token may have
      // expired or been swapped for someone else's since.
      connectionStateRecovery:
        graceMs > 0
          ? { maxDisconnectionDuration: graceMs, skipMiddlewares: !config.AUTH_JWT_SECRET && !config.AUTH_JWKS_URL }
          : undefined,
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
      preClose: (done: Function) => {
        if (graceMs > 0) {
          // Close the transports, as a network drop would: clients reconnect (to another instance,
          // through the load balancer) and are recovered there within the grace window.
          fastify.io.engine.close()
        } else {
          fastify.io.local.disconnectSockets(true)
        }
        const drained = Promise.all([...router.sessions()].map((session) => session.idle))
        const timeout = new Promise<void>((resolve) => setTimeout(resolve, config.SHUTDOWN_TIMEOUT_MS).unref())
        Promise.race([drained, timeout]).then(
          () => done(),
          (err: unknown) => done(err)
        )
      }
    })

    fastify.decorate('rooms', backend.rooms)
    fastify.decorate('socketEvents', router)

    // Origins, load, draining and per-address limits, on every HTTP request engine.io handles.
    fastify.admission.attach(fastify.io.engine)

    // One socket per connection: Socket.IO would let a client open several on one engine
    // connection, each with its own rate limit and failed-join budget, past the per-address cap.
    // A client may send its CONNECTs all at once, so a socket still in the middlewares counts too.
    const holders = new WeakMap<object, SignalingSocket>()
    const pending = (fastify.io.of('/') as unknown as { _preConnectSockets: Map<string, unknown> })._preConnectSockets
    fastify.io.use((socket, next) => {
      const holder = holders.get(socket.client)
      if (holder !== undefined && holder !== socket && (holder.connected || pending.has(holder.id))) {
        next(new Error('Only one socket per connection.'))
        return
      }
      holders.set(socket.client, socket)
      next()
    })

    /** Recovery session id → the socket holding it, for the sockets this instance serves. */
    const byPid = new Map<string, SignalingSocket>()
    fastify.io.on('connection', (socket) => {
      router.attach(socket)
      const pid = (socket as unknown as { pid?: string }).pid
      if (pid !== undefined) byPid.set(pid, socket)
      fastify.clientLog.log(socket.id, 'debug', { socketId: socket.id }, 'socket connected')
      socket.on('disconnect', (reason) => {
        if (pid !== undefined && byPid.get(pid) === socket) byPid.delete(pid)
        fastify.clientLog.log(socket.id, 'debug', { socketId: socket.id, reason }, 'socket disconnected')
      })
    })

    if (graceMs > 0) {
      // A client that switched networks often reconnects before the server notices its old
      // transport died (that takes a ping timeout). Socket.IO saves a session only once it sees the
      // disconnect, so such a client would come back with a new id, leaving its old seat behind.
      // When a recovery asks for a session whose socket is still open here, close that transport as
      // a network loss would (which saves the session), then restore.
      // With Redis the old transport may be open on another instance (a new network address often
      // hashes to another one): ask them all, and wait up to a second for the one that holds it.
      const release = async (pid: string): Promise<boolean> => {
        const stale = byPid.get(pid)
        if (!stale?.connected) return false
        const gone = new Promise((resolve) => stale.once('disconnect', resolve))
        stale.conn.close()
        await Promise.race([gone, new Promise((resolve) => setTimeout(resolve, RELEASE_WAIT_MS))])
        return true
      }
      const adapter = fastify.io.of('/').adapter
      const restore = adapter.restoreSession.bind(adapter)
      adapter.restoreSession = async (pid, offset) => {
        if (!(await release(pid)) && backend.betweenInstances) {
          const asked = fastify.io.serverSideEmitWithAck('release-session', pid).catch(() => [])
          await Promise.race([asked, new Promise((resolve) => setTimeout(resolve, RELEASE_WAIT_MS))])
        }
        return restore(pid, offset)
      }
      fastify.io.on('release-session', (pid, ack) => {
        release(pid).then(ack, () => ack(false))
      })
    }

    if (graceMs > 0) startRecoveryKeepalive(fastify, { graceMs, betweenInstances: backend.betweenInstances })

    fastify.addHook('onClose', async () => {
      await backend.close()
    })
  },
  { name: 'socket', dependencies: ['env', 'health', 'admission', 'metrics', 'client-log'] }
)
