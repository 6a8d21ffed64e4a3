import { randomUUID } from 'node:crypto'
import t from 'tap'
import { connectRedis } from '../src/rooms/redis-connection.js'
import { createRedisRoomStore } from '../src/rooms/redis-room-store.js'
import { roomStoreContract, seat } from './room-store-contract.js'
import { useRedis } from './redis-helper.js'

roomStoreContract(t, async (t, capacity) => {
  const redis = await useRedis(t)
  if (redis === undefined) throw new Error('Redis is unreachable')
  const client = await connectRedis(redis.url, { enableOfflineQueue: false }, 2000)
  const store = createRedisRoomStore({
    redis: client,
    prefix: redis.prefix,
    instanceId: randomUUID(),
    capacity,
    heartbeatMs: 1000,
    instanceTimeoutMs: 3000,
    roomTtlSeconds: 60,
    isServedHere: () => true,
    onError: (error) => t.error(error)
  })
  t.teardown(async () => {
    await store.close()
    await client.quit()
  })
  return store
})

t.test('room and seat keys carry TTLs', async (t) => {
  const redis = await useRedis(t)
  if (redis === undefined) return
  const client = await connectRedis(redis.url, {}, 2000)
  const instanceId = randomUUID()
  const store = createRedisRoomStore({
    redis: client, prefix: redis.prefix, instanceId, capacity: 4, heartbeatMs: 1000, instanceTimeoutMs: 3000,
    roomTtlSeconds: 120, isServedHere: () => true, onError: (error) => t.error(error)
  })
  t.teardown(async () => {
    await store.close()
    await client.quit()
  })
  const { roomId } = await store.create(seat('a'))
  for (const key of [`room:${roomId}`, `seats:${instanceId}`]) {
    const ttl = await redis.client.ttl(`${redis.prefix}${key}`)
    t.ok(ttl > 100 && ttl <= 120, `${key} expires (ttl ${ttl})`)
  }
  t.ok((await redis.client.pttl(`${redis.prefix}alive:${instanceId}`)) > 0, 'the heartbeat key expires')
})

t.test('an unreachable REDIS_URL fails fast and names it, without the password', async (t) => {
  // No retry loop: it rejects (a hang would trip the test timeout).
  await t.rejects(connectRedis('redis://user:hunter2@127.0.0.1:1', {}, 1000), {
    message: /REDIS_URL=redis:\/\/user:\*\*\*@127\.0\.0\.1:1/
  })
})
