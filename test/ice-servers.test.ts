import { createHmac } from 'node:crypto'
import t from 'tap'
import { buildServer, createRoom, nextEvent, request } from './helper.js'

const TURN = {
  STUN_URLS: 'stun:stun.example.org:3478',
  TURN_URLS: 'turn:turn.example.org:3478?transport=udp, turns:turn.example.org:5349',
  TURN_SECRET: 'coturn-static-auth-secret-for-tests',
  TURN_TTL_S: '600'
}

t.test('ice-servers answers STUN and TURN with REST credentials coturn accepts', async (t) => {
  const { connect } = await buildServer(t, TURN)
  const client = await connect()
  const before = Date.now()
  const result = await request(client, 'ice-servers')
  t.ok(result.success)
  const [stun, turn] = result.iceServers
  t.same(stun, { urls: ['stun:stun.example.org:3478'] })
  t.same(turn.urls, ['turn:turn.example.org:3478?transport=udp', 'turns:turn.example.org:5349'])
  const [expiry, socketId] = turn.username.split(':')
  t.equal(socketId, client.id, 'the username names the connection')
  t.ok(Math.abs(Number(expiry) - (before / 1000 + 600)) < 5, 'expiry ≈ now + TURN_TTL_S')
  t.equal(result.expiresAt, Number(expiry) * 1000)
  const expected = createHmac('sha1', TURN.TURN_SECRET).update(turn.username).digest('base64')
  t.equal(turn.credential, expected, 'credential = base64(HMAC-SHA1(secret, username))')
})

t.test('room-joined carries the same servers, so calls can start at once', async (t) => {
  const { connect } = await buildServer(t, TURN)
  const client = await connect()
  const joined = nextEvent(client, 'room-joined')
  await createRoom(client, 'alice')
  const { iceServers } = await joined
  t.equal(iceServers?.length, 2)
  t.match(iceServers?.[1], { username: new RegExp(`:${client.id}$`), credential: /.+/ })
})

t.test('without TURN settings: STUN only, or nothing, and no expiry', async (t) => {
  const stunOnly = await buildServer(t, { STUN_URLS: 'stun:a.example:3478,stun:b.example:3478' })
  t.same(await request(await stunOnly.connect(), 'ice-servers'), {
    success: true,
    ok: true,
    iceServers: [{ urls: ['stun:a.example:3478', 'stun:b.example:3478'] }],
    expiresAt: null
  })
  const bare = await buildServer(t)
  t.same(await request(await bare.connect(), 'ice-servers', {}), { success: true, ok: true, iceServers: [], expiresAt: null })
})

t.test('TURN_URLS without TURN_SECRET fails the boot, naming it', async (t) => {
  await t.rejects(buildServer(t, { TURN_URLS: 'turn:turn.example.org' }), { message: /TURN_SECRET/ })
})

t.test('the secret and the credentials never reach the logs', async (t) => {
  const { connect, logs } = await buildServer(t, { ...TURN, LOG_LEVEL: 'debug' })
  const client = await connect()
  const { iceServers } = await request(client, 'ice-servers')
  await createRoom(client, 'alice')
  const text = JSON.stringify(logs)
  t.notOk(text.includes(TURN.TURN_SECRET))
  t.notOk(text.includes(iceServers[1].credential))
})
