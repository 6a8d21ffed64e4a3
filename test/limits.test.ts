import t from 'tap'
import { ERROR_MESSAGES } from '../src/protocol.js'
import { buildServer, createRoom, joinRoom, nextEvent, raw, request, until } from './helper.js'

t.test('a socket over its event rate is refused with RATE_LIMITED, then served again', async (t) => {
  const { connect } = await buildServer(t, { RATE_LIMIT_BURST: '20', RATE_LIMIT_PER_SECOND: '10' })
  const client = await connect()
  const results = await Promise.all(Array.from({ length: 30 }, () => request(client, 'user-list')))
  t.equal(results.filter((r) => !r.success && r.code === 'RATE_LIMITED').length, 10)
  t.equal(results.filter((r) => !r.success && r.code === 'NOT_IN_ROOM').length, 20)
  // Refused until the bucket refills (10 a second), then served.
  await until(async () => (await request(client, 'user-list')).code === 'NOT_IN_ROOM', 'the bucket to refill')
  t.pass('tokens refill')
})

t.test('sustained abuse is disconnected; other sockets are untouched', async (t) => {
  const { connect } = await buildServer(t, {
    RATE_LIMIT_BURST: '5',
    RATE_LIMIT_PER_SECOND: '1',
    RATE_LIMIT_MAX_REFUSALS: '20'
  })
  const [abuser, bystander] = [await connect(), await connect()]
  const disconnected = new Promise<string>((resolve) => abuser.on('disconnect', resolve))
  for (let i = 0; i < 100; i++) raw(abuser).emit('no-such-event', i)
  t.equal(await disconnected, 'io server disconnect')
  t.ok(bystander.connected)
  t.ok((await request(bystander, 'register-username', 'calm')).ok)
})

t.test('a frame over MAX_MESSAGE_BYTES closes only that transport', async (t) => {
  const { connect } = await buildServer(t, { MAX_MESSAGE_BYTES: '2048' })
  const [big, other] = [await connect(), await connect()]
  const disconnected = new Promise<string>((resolve) => big.on('disconnect', resolve))
  raw(big).emit('register-username', 'x'.repeat(4096))
  t.equal(await disconnected, 'transport close')
  t.ok((await request(other, 'register-username', 'fine')).ok)
})

t.test('failed joins are capped per socket so room ids cannot be walked', async (t) => {
  const { connect } = await buildServer(t, { MAX_FAILED_JOINS: '3' })
  const [alice, guesser] = [await connect(), await connect()]
  const roomId = await createRoom(alice, 'alice')
  await request(guesser, 'register-username', 'guesser')
  for (const guess of ['aaa-aaaa-aaa', 'bbb-bbbb-bbb', 'zzz']) {
    t.match(await request(guesser, 'join-room', guess), { success: false, code: 'ROOM_NOT_FOUND' })
  }
  t.match(await joinRoom(guesser, roomId, 'guesser'), { success: false, code: 'TOO_MANY_FAILED_JOINS' },
    'even the right id is refused now')
})

t.test('hostile payloads get INVALID_PAYLOAD and change nothing', async (t) => {
  const { connect } = await buildServer(t)
  const [alice, bob, mallory] = [await connect(), await connect(), await connect()]
  const roomId = await createRoom(alice, 'alice')
  await joinRoom(bob, roomId, 'bob')
  let nested: unknown = []
  for (let i = 0; i < 2000; i++) nested = [nested]
  const notObjects = [null, 0, true, [], nested, 'x'.repeat(10_000)]
  const hostileObjects = [
    JSON.parse('{"__proto__": {"polluted": true}, "username": "x"}'),
    JSON.parse('{"roomId": {"__proto__": {"polluted": true}}}'),
    { username: 'a'.repeat(10_000) },
    { roomId: 'r'.repeat(10_000) },
    { to: 'x'.repeat(1000), signal: {} }
  ]
  for (const event of ['register-username', 'create-room', 'join-room', 'leave-room', 'LeaveRoom', 'signal', 'camera-mic-status', 'user-list']) {
    for (const payload of notObjects) {
      const result = await request(mallory, event, payload)
      // A bare string is a valid form for some events; then it must fail on its content instead.
      const expected = typeof payload === 'string' && !['signal', 'camera-mic-status'].includes(event)
        ? ['INVALID_PAYLOAD', 'INVALID_USERNAME', 'ROOM_NOT_FOUND', 'NOT_IN_ROOM', 'ALREADY_IN_ROOM']
        : ['INVALID_PAYLOAD']
      t.ok(!result.success && expected.includes(result.code), `${event} refuses ${JSON.stringify(payload).slice(0, 20)}`)
    }
    for (const payload of hostileObjects) {
      const result = await request(mallory, event, payload)
      t.ok(result.success || result.code in ERROR_MESSAGES, `${event} answers ${JSON.stringify(payload).slice(0, 40)}`)
    }
    await request(mallory, 'leave-room')
  }
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype pollution')
  const signal = nextEvent(bob, 'signal')
  await request(alice, 'signal', { to: bob.id, signal: { type: 'offer', sdp: 'v=0' } })
  t.same(await signal, { from: alice.id, signal: { type: 'offer', sdp: 'v=0' } }, 'the call in the room is untouched')
})
