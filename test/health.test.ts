import t from 'tap'
import { buildServer, createRoom, joinRoom, nextEvent, request } from './helper.js'
import { useRedis } from './redis-helper.js'

t.test('/health is always 200; /ready turns 503 while draining', async (t) => {
  const { app } = await buildServer(t)
  t.equal((await app.inject('/health')).statusCode, 200)
  t.same((await app.inject('/ready')).json(), { status: 'ready' })
  app.readiness.draining = true
  const ready = await app.inject('/ready')
  t.equal(ready.statusCode, 503)
  t.same(ready.json(), { status: 'unavailable', failing: ['draining'] })
  t.equal((await app.inject('/health')).statusCode, 200)
})

t.test('a failing dependency check makes /ready 503 and names it', async (t) => {
  const { app } = await buildServer(t)
  let up = false
  app.readiness.addCheck('store', () => up)
  t.same((await app.inject('/ready')).json(), { status: 'unavailable', failing: ['store'] })
  up = true
  t.equal((await app.inject('/ready')).statusCode, 200)
})

t.test('close() with RECONNECT_GRACE_MS=0 frees its members\' seats before the store closes', async (t) => {
  const redis = await useRedis(t)
  if (redis === undefined) return
  const env = { ...redis.env, RECONNECT_GRACE_MS: '0' }
  const closing = await buildServer(t, env)
  const staying = await buildServer(t, env)
  const alice = await staying.connect()
  const bob = await closing.connect()
  const roomId = await createRoom(alice, 'alice')
  await joinRoom(bob, roomId, 'bob')
  const bobId = bob.id
  const disconnected = nextEvent(bob, 'disconnect' as never)
  const left = nextEvent(alice, 'user-left')
  await closing.app.close()
  t.equal(await disconnected, 'io server disconnect', 'disconnected for good')
  t.equal(await left, bobId, 'the room was told')
  t.match(await request(alice, 'user-list'), { success: true, users: [{ id: alice.id }] }, 'the seat was freed in the shared store')
})

t.test('close() with a grace window drops transports so clients reconnect elsewhere', async (t) => {
  const { app, connect } = await buildServer(t, { RECONNECT_GRACE_MS: '5000' })
  const alice = await connect()
  await createRoom(alice, 'alice')
  const disconnected = nextEvent(alice, 'disconnect' as never)
  await app.close()
  t.equal(await disconnected, 'transport close', 'a reason the client reconnects after')
})

t.test('logs carry no usernames, signal payloads or client addresses', async (t) => {
  // DEMO_PAGE off so an unknown path reaches the 404 handler (the static files route logs at warn only).
  const { connect, logs, url } = await buildServer(t, { LOG_LEVEL: 'debug', DEMO_PAGE: 'false' })
  const [alice, bob] = [await connect(), await connect()]
  const roomId = await createRoom(alice, 'alice-private-name')
  await joinRoom(bob, roomId, 'bob-private-name')
  await request(alice, 'signal', { to: bob.id, signal: { type: 'offer', sdp: 'v=0 SECRET-SDP 198.51.100.7' } })
  await request(alice, 'signal', { to: 'nobody', signal: { sdp: 'SECRET-SDP' } })
  // Any HTTP request is logged; a query string may carry a room id.
  t.equal((await fetch(`${url}/no-such-page?room=${roomId}`)).status, 404)
  bob.disconnect()
  await request(alice, 'user-list')
  t.ok(logs.some((entry) => entry.msg === 'incoming request'), 'requests were logged')
  t.ok(logs.some((entry) => entry.msg === 'socket connected'), 'sockets were logged')
  const text = logs.filter((entry) => !/listening at/.test(String(entry.msg))).map((entry) => JSON.stringify(entry)).join('\n')
  for (const secret of ['alice-private-name', 'bob-private-name', 'SECRET-SDP', '198.51.100.7', '127.0.0.1', roomId]) {
    t.notOk(text.includes(secret), `no ${secret} in the logs`)
  }
})
