import t from 'tap'
import { buildServer, createRoom, joinRoom, nextEvent, request } from './helper.js'

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

t.test('close() with RECONNECT_GRACE_MS=0 disconnects sockets for good and frees their seats', async (t) => {
  const { app, connect } = await buildServer(t, { RECONNECT_GRACE_MS: '0' })
  const [alice, bob] = [await connect(), await connect()]
  const roomId = await createRoom(alice, 'alice')
  await joinRoom(bob, roomId, 'bob')
  const disconnected = nextEvent(alice, 'disconnect' as never)
  await app.close()
  t.equal(await disconnected, 'io server disconnect')
  t.equal(await app.rooms.members(roomId), undefined, 'every seat was freed before the store closed')
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
  const { connect, logs, url } = await buildServer(t, { LOG_LEVEL: 'debug' })
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
