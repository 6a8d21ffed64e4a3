/**
 * Hostile clients, one attack per test, each beside a call in another room (the sentinel) whose
 * every signal must still arrive. What is asserted is behaviour: the attack is refused or cut off,
 * the process lives, the sentinel loses nothing, and the bytes held and lines logged stay bounded.
 */
import { connect as connectTcp, type Socket as TcpSocket } from 'node:net'
import { once } from 'node:events'
import { SignJWT } from 'jose'
import { io } from 'socket.io-client'
import t, { type Test } from 'tap'
import WebSocket from 'ws'
import type { AckResult } from '../src/protocol.js'
import {
  buildServer,
  collect,
  connectClient,
  createRoom,
  joinRoom,
  nextEvent,
  raw,
  request,
  sync,
  type Client,
  type TestServer,
  until
} from './helper.js'

/** A call in its own room, signalling all along; `stop` checks that every acked signal arrived, in order. */
async function sentinel(t: Test, server: TestServer): Promise<{ stop(): Promise<void> }> {
  const [a, b] = [await server.connect(), await server.connect()]
  await joinRoom(b, await createRoom(a, 'sentinel-a'), 'sentinel-b')
  const received: number[] = []
  b.on('signal', ({ signal }) => received.push((signal as { n: number }).n))
  let sent = 0
  let running = true
  const loop = (async () => {
    while (running) {
      const result = await request(a, 'signal', { to: b.id, signal: { n: sent } })
      if (!result.success) throw new Error(`the sentinel's signal was refused: ${result.code}`)
      sent++
      // Paced under the rate limit, as a call's trickle ICE is; it is load, not a wait for anything.
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
  })()
  return {
    async stop() {
      running = false
      await loop
      await until(async () => received.length >= sent, 'every sentinel signal to arrive')
      t.ok(sent > 0, `the sentinel call went on: ${sent} signals`)
      t.same(received, Array.from({ length: sent }, (_, n) => n), 'every sentinel signal arrived, in order')
      t.ok(a.connected && b.connected, 'the sentinel call is still connected')
    }
  }
}

t.test('binary attachments are refused with INVALID_PAYLOAD before anything looks at them', async (t) => {
  const server = await buildServer(t)
  const call = await sentinel(t, server)
  const [alice, bob] = [await server.connect(), await server.connect()]
  await joinRoom(bob, await createRoom(alice, 'alice'), 'bob')
  const bobSaw = collect(bob, 'signal')
  const attachment = Buffer.alloc(60_000, 7)
  t.match(await request(alice, 'signal', { to: bob.id, signal: attachment }), { success: false, code: 'INVALID_PAYLOAD' },
    'a binary signal to a real peer')
  t.match(await request(alice, 'signal', { to: bob.id, signal: { sdp: 'v=0', blob: attachment } }), { success: false, code: 'INVALID_PAYLOAD' },
    'binary nested in a signal')
  t.match(await request(alice, 'register-username', { username: attachment }), { success: false, code: 'INVALID_PAYLOAD' })
  const errors = collect(alice, 'error')
  raw(alice).emit('signal', { to: bob.id, signal: attachment })
  await sync(alice)
  t.same(errors, ['Invalid request.'], 'without an ack: the error event')
  await sync(bob)
  t.same(bobSaw, [], 'nothing was relayed')

  // Forty sockets, each in a room of its own, ten 60 KB binary signals each, all at once.
  const attackers = await Promise.all(Array.from({ length: 40 }, () => server.connect()))
  await Promise.all(attackers.map((attacker, i) => createRoom(attacker, `attacker-${i}`)))
  // 24 MB arrive at once: on a loaded machine the last answers take longer than request's 5 s.
  const answers = await Promise.all(attackers.flatMap((attacker) =>
    Array.from({ length: 10 }, () => raw(attacker).timeout(30_000).emitWithAck('signal', { to: 'nobody-at-all', signal: attachment }) as Promise<AckResult>)))
  t.ok(answers.every((answer) => !answer.success && answer.code === 'INVALID_PAYLOAD'), `${answers.length} refused`)
  t.equal((await server.app.inject('/health')).statusCode, 200, 'the process lives')
  await call.stop()
})

t.test('attachments past the message limit, or a frame out of turn amid them, close only that connection', async (t) => {
  const server = await buildServer(t)
  const call = await sentinel(t, server)
  const closed: Array<Promise<unknown>> = []
  const open = async (): Promise<WebSocket> => {
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`)
    t.teardown(() => ws.terminate())
    closed.push(once(ws, 'close'))
    const messages: string[] = []
    ws.on('message', (data) => messages.push(String(data)))
    await once(ws, 'open')
    ws.send('40')
    await until(async () => messages.some((message) => message.startsWith('40{')), 'the namespace to accept the connection')
    return ws
  }
  const announce = (ws: WebSocket, count: number): void =>
    ws.send(`45${count}-["signal",{"to":"x","signal":[` + Array.from({ length: count }, (_, num) => `{"_placeholder":true,"num":${num}}`).join(',') + ']}]')

  const outOfTurn = await open()
  announce(outOfTurn, 10)
  for (let i = 0; i < 9; i++) outOfTurn.send(Buffer.alloc(1000, i))
  outOfTurn.send('42["user-list"]')
  const tooBig = await open()
  announce(tooBig, 10)
  for (let i = 0; i < 9; i++) tooBig.send(Buffer.alloc(60_000, i)) // 540 KB against a 64 KB message
  await Promise.all(closed)
  t.pass('both connections were closed')
  t.equal((await server.app.inject('/health')).statusCode, 200, 'the process lives')
  await call.stop()
})

t.test('a flood after the rate-limit cut-off is dropped without a word: one log line', async (t) => {
  const server = await buildServer(t, { LOG_LEVEL: 'info' })
  const call = await sentinel(t, server)
  const linesBefore = server.logs.length
  // Long-polling: each POST carries as many events as fit in a message.
  const flooders = await Promise.all(Array.from({ length: 4 }, () => server.connect({ transports: ['polling'] })))
  const cut = flooders.map((flooder) => nextEvent(flooder, 'disconnect' as never, 10_000))
  for (const flooder of flooders) for (let i = 0; i < 8000; i++) raw(flooder).emit('user-list')
  t.same(await Promise.all(cut), flooders.map(() => 'io server disconnect'), 'each flooder is cut off')
  await call.stop()
  const lines = server.logs.slice(linesBefore).filter((line) => String(line.msg).includes('rate limit'))
  t.equal(lines.length, 4, 'one line per flooder, not one per dropped event')
})

t.test('an HTTP request that never ends, or whose headers never do, is cut off', async (t) => {
  const server = await buildServer(t, { HTTP_REQUEST_TIMEOUT_MS: '1000', HTTP_HEADERS_TIMEOUT_MS: '1000' })
  const call = await sentinel(t, server)
  const { port } = new URL(server.url)
  const open = (start: string): TcpSocket => {
    const socket = connectTcp(Number(port), '127.0.0.1')
    socket.on('error', () => {})
    t.teardown(() => socket.destroy())
    socket.write(start)
    return socket
  }
  const body = open('POST /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n')
  const headers = open('GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ')
  const [bodyClosed, headersClosed] = [once(body, 'close'), once(headers, 'close')]
  const answered: string[] = []
  for (const socket of [body, headers]) socket.on('data', (data) => answered.push(String(data).split('\r\n')[0]!))
  // Generous next to the 1 s timeouts (Node checks them every 2 s); without them these never close.
  const giveUp = new Promise((_resolve, reject) => setTimeout(() => reject(new Error('still open after 20 s')), 20_000).unref())
  await Promise.race([Promise.all([bodyClosed, headersClosed]), giveUp])
  // (the body's request may be answered 404 first: no POST /health route waits for its body)
  t.equal(answered.filter((line) => line === 'HTTP/1.1 408 Request Timeout').length, 2, 'both cut off with 408, and closed')
  await call.stop()
})

t.test('without a proxy, one address holds a bounded number of TCP connections', async (t) => {
  // MAX_CONNECTIONS_PER_IP=2: two Socket.IO connections, and at most 2 × 2 + 10 TCP connections.
  // No request is sent on them: the headers timeout must not close them while this test counts.
  const server = await buildServer(t, { MAX_CONNECTIONS_PER_IP: '2', HTTP_HEADERS_TIMEOUT_MS: '60000', HTTP_REQUEST_TIMEOUT_MS: '60000' })
  const call = await sentinel(t, server)
  const { port } = new URL(server.url)
  const sockets = Array.from({ length: 30 }, () => {
    const socket = connectTcp(Number(port), '127.0.0.1')
    socket.on('error', () => {})
    t.teardown(() => socket.destroy())
    return socket
  })
  await Promise.all(sockets.map((socket) => once(socket, 'connect')))
  // The sentinel's two clients hold two of the fourteen.
  await until(async () => sockets.filter((socket) => socket.destroyed).length >= 30 - 12, 'the connections over the cap to be closed')
  const kept = sockets.filter((socket) => !socket.destroyed)
  t.equal(kept.length, 12, 'the rest are closed at once')
  await call.stop()
})

t.test('an expired sign-in ends the connection, unless a fresh token came first', async (t) => {
  const SECRET = 'a-test-secret-that-is-long-enough-for-hs256'
  const key = new TextEncoder().encode(SECRET)
  const token = (sub: string, expiresIn: string) =>
    new SignJWT({ sub, name: sub }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime(expiresIn).sign(key)
  const server = await buildServer(t, { AUTH_JWT_SECRET: SECRET, RECONNECT_GRACE_MS: '60000' })
  const signedIn = async (sub: string, expiresIn: string) => connectClient(t, server.url, { auth: { token: await token(sub, expiresIn) } })
  const [a, b] = [await signedIn('sentinel-a', '5m'), await signedIn('sentinel-b', '5m')]
  await joinRoom(b, await createRoom(a, 'x'), 'x')
  const call = { a, b }

  // refreshing expires first, so by the time stale has expired, refreshing would have too.
  const refreshing = await signedIn('refreshing', '2s')
  const stale = await signedIn('stale', '4s')
  const roomId = await createRoom(stale, 'x')
  await joinRoom(refreshing, roomId, 'x')
  t.match(await request(refreshing, 'refresh-token', await token('someone-else', '5m')), { success: false, code: 'INVALID_TOKEN' },
    'a token for another user is refused')
  t.match(await request(refreshing, 'refresh-token', 'not-a-token'), { success: false, code: 'INVALID_TOKEN' })
  const refreshed = await request(refreshing, 'refresh-token', { token: await token('refreshing', '5m') })
  t.ok(refreshed.success && refreshed.expiresAt > Date.now() + 60_000, 'a fresh token for the same user is taken')

  const told = nextEvent(stale, 'error', 10_000)
  const gone = nextEvent(stale, 'disconnect' as never, 10_000)
  const left = nextEvent(refreshing, 'user-left', 10_000)
  const staleId = stale.id
  t.equal(await told, 'Your sign-in has expired. Sign in again.', 'TOKEN_EXPIRED, as the error event\'s string')
  t.equal(await gone, 'io server disconnect', 'then disconnected for good')
  t.equal(await left, staleId, 'its seat freed')
  await sync(refreshing)
  t.ok(refreshing.connected, 'the connection that refreshed in time is still on, past its first token\'s expiry')
  t.ok(call.a.connected && call.b.connected, 'the sentinel call is untouched')
})

t.test('without sign-in, refresh-token answers that nothing expires', async (t) => {
  const { connect } = await buildServer(t)
  t.same(await request(await connect(), 'refresh-token', 'whatever'), { success: true, ok: true, expiresAt: null })
})

t.test('names that would pass for another member\'s, or hide characters, are not accepted as they are', async (t) => {
  const server = await buildServer(t)
  const call = await sentinel(t, server)
  const alice = await server.connect()
  const roomId = await createRoom(alice, 'alice')
  for (const bad of ['ali\u202Ece', 'ali\u200Bce', '\u3164', 'a\u2066lice', 'bo\u00ADb', 'x\uFEFF']) {
    t.match(await request(await server.connect(), 'register-username', bad), { success: false, code: 'INVALID_USERNAME' }, JSON.stringify(bad))
  }
  t.same(await request(await server.connect(), 'register-username', 'ａｌｉｃｅ　Ｌ'), { success: true, ok: true, username: 'alice L' },
    'full-width forms and spaces are folded (NFKC)')
  const joiners: Client[] = []
  for (const name of ['alice', 'ALICE', '\u0430lice']) {
    const joiner = await server.connect()
    const seen = nextEvent(alice, 'user-joined')
    const joined = await joinRoom(joiner, roomId, name)
    t.ok(joined.success, `${JSON.stringify(name)} gets in`)
    joiners.push(joiner)
    const member = await seen
    t.not(member.username, 'alice', `but is not shown as alice: ${JSON.stringify(member.username)}`)
  }
  const list = await request(alice, 'user-list')
  t.same(list.users.map((user: { username: string }) => user.username), ['alice', 'alice (2)', 'ALICE (3)', '\u0430lice (4)'])
  t.same(await request(joiners[0]!, 'register-username', 'alice'), { success: true, ok: true, username: 'alice (2)' },
    'a rename shows the name in effect')
  await call.stop()
})

t.test('Origin is checked on every long-polling request of a session, not only its handshake', async (t) => {
  const server = await buildServer(t, { CORS_ORIGINS: 'https://app.example' })
  const call = await sentinel(t, server)
  const base = `${server.url}/socket.io/?EIO=4&transport=polling`
  const handshake = await fetch(base, { headers: { origin: 'https://app.example' } })
  t.equal(handshake.status, 200)
  const { sid } = JSON.parse((await handshake.text()).slice(1)) as { sid: string }
  t.equal((await fetch(`${base}&sid=${sid}`, { method: 'POST', body: '40', headers: { origin: 'https://app.example' } })).status, 200)
  const forged = await fetch(`${base}&sid=${sid}`, { method: 'POST', body: '42["user-list"]', headers: { origin: 'https://evil.example' } })
  t.equal(forged.status, 403, 'the same session from another origin is refused')
  t.match(await forged.json(), { message: 'origin not allowed' })
  await call.stop()
})

t.test('refusals answer a status that says why, on long-polling and WebSocket alike', async (t) => {
  const server = await buildServer(t, { CORS_ORIGINS: 'https://app.example', MAX_CONNECTIONS_PER_IP: '3' })
  const call = await sentinel(t, server)
  const upgrade = (headers: Record<string, string>): Promise<number> =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(`${server.url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`, { headers })
      ws.once('unexpected-response', (_request, response) => {
        resolve(response.statusCode ?? 0)
        ws.terminate()
      })
      ws.once('open', () => {
        resolve(101)
        ws.close()
      })
      ws.once('error', reject)
    })
  const poll = async (headers: Record<string, string> = {}) => (await fetch(`${server.url}/socket.io/?EIO=4&transport=polling`, { headers })).status
  t.equal(await upgrade({ origin: 'https://evil.example' }), 403, 'a WebSocket from a disallowed origin: 403')
  t.equal(await poll({ origin: 'https://evil.example' }), 403, 'long-polling likewise')
  await server.connect() // the sentinel's two and this one: the address's three
  t.equal(await upgrade({}), 429, 'over the per-address cap: 429')
  t.equal(await poll(), 429)
  await call.stop()
})

t.test('a draining instance refuses new clients with 503 and keeps serving the sessions it holds', async (t) => {
  const server = await buildServer(t)
  const call = await sentinel(t, server)
  const polling = io(server.url, { transports: ['polling'], forceNew: true, reconnection: false })
  t.teardown(() => {
    polling.disconnect()
  })
  await new Promise((resolve) => polling.once('connect', () => resolve(undefined)))
  server.app.readiness.draining = true
  const base = `${server.url}/socket.io/?EIO=4&transport=polling`
  const refused = await fetch(base)
  t.equal(refused.status, 503, 'a new handshake: 503')
  t.ok(refused.headers.get('retry-after'), 'with Retry-After')
  t.equal((await fetch(`${base}&sid=held-by-another-instance`)).status, 503, 'a session it does not hold: 503, so the balancer tries the next')
  t.match(await request(polling as unknown as Client, 'user-list'), { success: false, code: 'NOT_IN_ROOM' }, 'a session it holds is still served')
  await call.stop()
})

t.test('one connection may create only so many rooms a minute', async (t) => {
  const server = await buildServer(t, { ROOMS_PER_MINUTE: '3' })
  const call = await sentinel(t, server)
  const client = await server.connect()
  for (let i = 0; i < 3; i++) {
    t.ok((await request(client, 'create-room', { username: 'maker' })).success, `room ${i + 1}`)
    await request(client, 'leave-room')
  }
  t.match(await request(client, 'create-room', { username: 'maker' }), { success: false, code: 'TOO_MANY_ROOMS' })
  t.ok((await joinRoom(await server.connect(), await createRoom(await server.connect(), 'other'), 'x')).success, 'others are not affected')
  await call.stop()
})
