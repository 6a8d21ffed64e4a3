import { createAdapter } from '@socket.io/redis-streams-adapter'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { randomUUID } from 'node:crypto'
import type { ServerOptions } from 'socket.io'
import { createMemoryRoomStore } from '../rooms/memory-room-store.js'
import { catchingUnawaitedWrites, connectRedis, type RedisClient } from '../rooms/redis-connection.js'
import { createRedisRoomStore } from '../rooms/redis-room-store.js'
import { createLocalOnlyRoster, createRoomRoster, type RoomRoster } from '../rooms/room-roster.js'
import type { RoomStore } from '../rooms/room-store.js'

/** How instances share their sockets' events: Socket.IO's adapter between them, when there are several. */
export interface Cluster {
  /** Whether other instances share the rooms (and the adapter relays between them). */
  shared: boolean
  /** Socket.IO's Redis Streams adapter (a factory of one per namespace), with REDIS_URL. */
  adapter?: ServerOptions['adapter']
}

declare module 'fastify' {
  interface FastifyInstance {
    rooms: RoomStore
    cluster: Cluster
    /** Who sits in the rooms with a member here, kept current between instances (see room-roster.ts). */
    roster: RoomRoster
  }
}

/** Closes a Redis client without waiting forever: `quit()` waits for an answer that may never come. */
async function disconnect(client: RedisClient): Promise<void> {
  await Promise.race([client.quit().catch(() => {}), new Promise((resolve) => setTimeout(resolve, 1000))])
  client.disconnect()
}

/**
 * With REDIS_URL: rooms in Redis, and Socket.IO's Redis Streams adapter between instances (see the
 * README, Running several instances). Two connections: the store's fails fast while Redis is away
 * (clients get UNAVAILABLE at once), the adapter's queues (its reader waits out an outage).
 */
async function useRedis(fastify: FastifyInstance, url: string): Promise<void> {
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
    // Asked by the heartbeat, after boot: the event router exists by then.
    isServedHere: (memberId) => fastify.socketEvents.served(memberId) !== undefined,
    onError: (err) => log.warn({ err }, 'room store housekeeping failed')
  })
  fastify.readiness.addCheck('redis', () => rooms.healthy())
  const adapterClient = catchingUnawaitedWrites(adapterRedis, (err) => log.debug({ err: err.message }, 'a redis write the adapter does not await failed (a message between instances, or a saved session, was lost)'))
  const adapter = createAdapter(adapterClient, {
    // Recovery replays from this stream: it must hold a retention's worth of every instance's traffic.
    maxLen: config.REDIS_STREAM_MAX_LEN,
    // Its stream readers stop only after their blocking read returns: keep shutdown short.
    blockTimeInMs: 1000,
    streamName: `${prefix}socket.io`,
    channelPrefix: `${prefix}socket.io`,
    sessionKeyPrefix: `${prefix}session:`
  })
  const roster = createRoomRoster()
  fastify.decorate('rooms', rooms)
  fastify.decorate('cluster', { shared: true, adapter })
  fastify.decorate('roster', roster)
  // Socket.IO exists once the socket plugin is registered, before ready.
  fastify.addHook('onReady', async () => roster.attach(fastify.io))
  fastify.addHook('onClose', async () => {
    roster.stop()
    await rooms.close()
    await Promise.all([storeRedis, adapterRedis].map(disconnect))
  })
}

/** Where rooms live, chosen at boot: Redis with REDIS_URL (shared by instances), else this process's memory. */
export default fp(
  async function roomStorePlugin(fastify) {
    const { config } = fastify
    if (config.REDIS_URL) return useRedis(fastify, config.REDIS_URL)
    const rooms = createMemoryRoomStore({ capacity: config.MAX_USERS_PER_ROOM })
    fastify.decorate('rooms', rooms)
    fastify.decorate('cluster', { shared: false })
    fastify.decorate('roster', createLocalOnlyRoster())
    fastify.addHook('onClose', () => rooms.close())
  },
  { name: 'room-store', dependencies: ['env', 'health'] }
)
