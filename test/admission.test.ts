import { Socket as EngineSocket } from 'engine.io-client'
import t, { type Test } from 'tap'
import { buildServer, connectClient, createRoom, joinRoom, nextEvent, request, until } from './helper.js'

async function outcome(t: Test, url: string, options: Parameters<typeof connectClient>[2] = {}): Promise<string> {
  try {
    await connectClient(t, url, options)
    return 'connected'
  } catch {
    return 'refused'
  }
}

t.test('a WebSocket from a disallowed origin is refused; allowed origins and non-browsers are not', async (t) => {
  const { url } = await buildServer(t, { CORS_ORIGINS: 'https://app.example' })
  t.equal(await outcome(t, url, { extraHeaders: { origin: 'https://evil.example' } }), 'refused')
  t.equal(await outcome(t, url, { extraHeaders: { origin: 'https://evil.example' }, transports: ['polling'] }), 'refused',
    'long-polling too')
  t.equal(await outcome(t, url, { extraHeaders: { origin: 'https://app.example' } }), 'connected')
  t.equal(await outcome(t, url), 'connected', 'no Origin header: not a browser')
})

t.test('MAX_CONNECTIONS_PER_IP caps one address; its seats free up as it disconnects', async (t) => {
  const { url, connect } = await buildServer(t, { MAX_CONNECTIONS_PER_IP: '2' })
  const first = await connect()
  await connect()
  t.equal(await outcome(t, url), 'refused', 'a third from the same address')
  first.disconnect()
  await until(async () => (await outcome(t, url)) === 'connected', 'a connection once one closed')
  t.pass('room again once one closed')
})

t.test('parallel handshakes cannot slip past MAX_CONNECTIONS_PER_IP', async (t) => {
  const { url } = await buildServer(t, { MAX_CONNECTIONS_PER_IP: '2' })
  const results = await Promise.all(Array.from({ length: 20 }, () => outcome(t, url)))
  t.equal(results.filter((r) => r === 'connected').length, 2)
})

t.test('one socket per connection: more namespace connects on the same transport are refused', async (t) => {
  const { app, url } = await buildServer(t)
  // What a hostile client can do below socket.io-client: send CONNECT for `/` again and again.
  const engine = new EngineSocket(url, { transports: ['websocket'], path: '/socket.io/' })
  t.teardown(() => {
    engine.close()
  })
  await new Promise((resolve) => engine.once('open', () => resolve(undefined)))
  const replies: string[] = []
  engine.on('message', (data) => replies.push(String(data)))
  for (let i = 0; i < 5; i++) engine.send('0')
  await until(async () => replies.length >= 5, 'an answer to every CONNECT')
  t.equal(app.io.of('/').sockets.size, 1, 'one server socket')
  t.equal(replies.filter((reply) => reply.startsWith('0{')).length, 1, 'one CONNECT accepted')
  t.equal(replies.filter((reply) => reply.includes('Only one socket per connection.')).length, 4, 'the others refused')
})

t.test('TRUST_PROXY makes the limits use the forwarded client address', async (t) => {
  const { url } = await buildServer(t, { MAX_CONNECTIONS_PER_IP: '1', TRUST_PROXY: 'true' })
  const from = (address: string) => ({ extraHeaders: { 'x-forwarded-for': address } })
  t.equal(await outcome(t, url, from('198.51.100.1')), 'connected')
  t.equal(await outcome(t, url, from('198.51.100.2')), 'connected', 'another client behind the same proxy')
  t.equal(await outcome(t, url, from('198.51.100.1')), 'refused', 'the first client again')
})

t.test('HANDSHAKES_PER_IP_PER_MINUTE limits the rate of new connections per address', async (t) => {
  const { url } = await buildServer(t, { HANDSHAKES_PER_IP_PER_MINUTE: '3' })
  const results = []
  for (let i = 0; i < 5; i++) results.push(await outcome(t, url))
  t.same(results, ['connected', 'connected', 'connected', 'refused', 'refused'])
})

t.test('under pressure: HTTP 503 with Retry-After and new handshakes refused; calls keep working', async (t) => {
  const heapNow = process.memoryUsage().heapUsed
  const { app, url, connect } = await buildServer(t, {
    PRESSURE_MAX_HEAP_USED_BYTES: String(heapNow + 64 * 1024 * 1024),
    PRESSURE_SAMPLE_INTERVAL_MS: '10',
    // Off here: sampled every 10 ms the delay histogram can be empty, which under-pressure reads as infinite.
    PRESSURE_MAX_EVENT_LOOP_DELAY_MS: '0',
    PRESSURE_RETRY_AFTER_S: '7'
  })
  const [alice, bob] = [await connect(), await connect()]
  const roomId = await createRoom(alice, 'alice')
  await joinRoom(bob, roomId, 'bob')
  t.equal((await app.inject('/ready')).statusCode, 200)

  // Push the heap over the threshold for the rest of this test.
  const ballast: number[][] = []
  for (let i = 0; i < 200; i++) ballast.push(new Array(100_000).fill(i))
  await until(async () => (await app.inject('/ready')).statusCode === 503, 'the heap to be sampled over the threshold')
  const ready = await app.inject('/ready')
  t.equal(ready.statusCode, 503)
  t.equal(ready.headers['retry-after'], '7')
  t.equal((await app.inject('/health')).statusCode, 200, 'liveness is not shed')
  t.equal((await app.metricsServer.inject('/metrics')).statusCode, 200, 'nor are metrics, when operators need them most')
  t.equal(await outcome(t, url), 'refused', 'new handshakes are refused')
  const signal = nextEvent(bob, 'signal')
  t.same(await request(alice, 'signal', { to: bob.id, signal: { candidate: 'still' } }), { success: true, ok: true })
  t.same(await signal, { from: alice.id, signal: { candidate: 'still' } }, 'the call in progress continues')
  ballast.length = 0 // held until here, so the heap stayed over the threshold throughout
})

t.test('HTTP routes carry helmet\'s security headers', async (t) => {
  const { app } = await buildServer(t)
  const response = await app.inject('/health')
  t.equal(response.headers['x-content-type-options'], 'nosniff')
  t.ok(response.headers['strict-transport-security'])
})
