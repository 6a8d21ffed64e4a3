import t from 'tap'
import { Registry } from 'prom-client'
import { createHistogram } from '../src/plugins/metrics.js'
import { buildServer, createRoom, joinRoom, nextEvent, request, sample } from './helper.js'

t.test('metrics move as sockets connect, rooms form and signals flow', async (t) => {
  const { app, connect } = await buildServer(t)
  const scrape = async () => {
    const response = await app.metricsServer.inject('/metrics')
    t.equal(response.statusCode, 200)
    t.match(response.headers['content-type'], /text\/plain/)
    return response.body
  }
  let text = await scrape()
  t.equal(sample(text, 'signaling_connected_sockets'), 0)
  t.ok(sample(text, 'process_resident_memory_bytes')! > 0, 'default process metrics')

  const [alice, bob] = [await connect(), await connect()]
  const roomId = await createRoom(alice, 'alice')
  await joinRoom(bob, roomId, 'bob')
  for (let i = 0; i < 3; i++) {
    const got = nextEvent(bob, 'signal')
    await request(alice, 'signal', { to: bob.id, signal: { candidate: `c${i}` } })
    await got
  }
  await request(alice, 'join-room', 'nnn-nnnn-nnn')
  text = await scrape()
  t.equal(sample(text, 'signaling_connected_sockets'), 2)
  t.equal(sample(text, 'signaling_rooms'), 1)
  t.equal(sample(text, 'signaling_room_members'), 2)
  t.equal(sample(text, 'signaling_signals_relayed_total'), 3)
  t.equal(sample(text, 'signaling_events_total', '{event="signal",outcome="ok"}'), 3)
  t.equal(sample(text, 'signaling_events_total', '{event="join-room",outcome="ALREADY_IN_ROOM"}'), 1)
  t.equal(sample(text, 'signaling_event_duration_seconds_count', '{event="signal"}'), 3)
  t.equal(sample(text, 'signaling_event_duration_seconds_bucket', '{le="+Inf",event="signal"}'), 3)
  t.ok(sample(text, 'signaling_event_duration_seconds_sum', '{event="signal"}')! > 0)

  // Counts are totals since boot, not since the last scrape.
  await request(alice, 'user-list')
  text = await scrape()
  t.equal(sample(text, 'signaling_signals_relayed_total'), 3)
  t.equal(sample(text, 'signaling_events_total', '{event="signal",outcome="ok"}'), 3)
  t.equal(sample(text, 'signaling_events_total', '{event="user-list",outcome="ok"}'), 1)
})

t.test('the event histogram: cumulative buckets, sum and count, in Prometheus text', async (t) => {
  const histogram = createHistogram({ name: 'h', help: 'a test histogram', labelName: 'event', buckets: [0.001, 0.01, 1] })
  const registry = new Registry()
  registry.registerMetric(histogram as never)
  for (const value of [0.0005, 0.001, 0.003, 5]) histogram.observe('a', value)
  histogram.observe('b', 0.5)
  const text = await registry.metrics()
  t.match(text, /# TYPE h histogram/)
  t.equal(sample(text, 'h_bucket', '{le="0.001",event="a"}'), 2, 'a bound is inclusive')
  t.equal(sample(text, 'h_bucket', '{le="0.01",event="a"}'), 3)
  t.equal(sample(text, 'h_bucket', '{le="1",event="a"}'), 3)
  t.equal(sample(text, 'h_bucket', '{le="+Inf",event="a"}'), 4)
  t.equal(sample(text, 'h_sum', '{event="a"}'), 5.0045)
  t.equal(sample(text, 'h_count', '{event="a"}'), 4)
  t.equal(sample(text, 'h_bucket', '{le="0.01",event="b"}'), 0)
  t.equal(sample(text, 'h_bucket', '{le="1",event="b"}'), 1)
  registry.resetMetrics()
  t.notMatch(await registry.metrics(), /h_count/, 'reset empties it')
})

t.test('unknown event names never become labels', async (t) => {
  const { app, connect } = await buildServer(t)
  const client = await connect()
  for (let i = 0; i < 20; i++) (client as unknown as { emit(e: string): void }).emit(`invented-${i}`)
  await request(client, 'user-list')
  t.notMatch((await app.metricsServer.inject('/metrics')).body, /invented-/)
})

t.test('METRICS_TOKEN guards /metrics with a bearer token', async (t) => {
  const { app } = await buildServer(t, { METRICS_TOKEN: 'scrape-token-0123456789' })
  t.equal((await app.metricsServer.inject('/metrics')).statusCode, 401)
  t.equal((await app.metricsServer.inject({ url: '/metrics', headers: { authorization: 'Bearer wrong-token-0123456789' } })).statusCode, 401)
  const ok = await app.metricsServer.inject({ url: '/metrics', headers: { authorization: 'Bearer scrape-token-0123456789' } })
  t.equal(ok.statusCode, 200)
  t.match(ok.body, /signaling_connected_sockets/)
})

t.test('/metrics is served on METRICS_PORT only, never on the public port', async (t) => {
  const { app, url } = await buildServer(t)
  t.equal((await fetch(`${url}/metrics`)).status, 404, 'the public listener does not show it')
  const address = app.metricsServer.server.address()
  if (address === null || typeof address === 'string') throw new Error('the metrics listener has no TCP address')
  t.not(address.port, new URL(url).port, 'a port of its own')
  const response = await fetch(`http://127.0.0.1:${address.port}/metrics`)
  t.equal(response.status, 200)
  t.match(await response.text(), /signaling_connected_sockets 0/)
  t.equal((await fetch(`http://127.0.0.1:${address.port}/health`)).status, 404, 'and nothing else there')
})

t.test('the recovery log\'s bytes and its early drops are metrics', async (t) => {
  // The smallest log there is (1 MiB) and signals that overflow it within the retention.
  const { app, connect } = await buildServer(t, { RECONNECT_GRACE_MS: '20000', RECOVERY_LOG_BYTES: String(1 << 20), RATE_LIMIT_BURST: '1000', MAX_SIGNAL_BYTES: '16384' })
  const scrape = async () => (await app.metricsServer.inject('/metrics')).body
  t.equal(sample(await scrape(), 'signaling_recovery_log_dropped_total'), 0)
  const [alice, bob] = [await connect(), await connect()]
  await joinRoom(bob, await createRoom(alice, 'alice'), 'bob')
  const held = sample(await scrape(), 'signaling_recovery_log_bytes')!
  t.ok(held > 0, `bytes held once packets are kept (${held})`)
  const sdp = 'a=x\r\n'.repeat(2000) // 10 KB
  for (let i = 0; i < 150; i++) await request(alice, 'signal', { to: bob.id, signal: { type: 'offer', sdp } })
  const text = await scrape()
  t.ok(sample(text, 'signaling_recovery_log_dropped_total')! > 0, 'packets dropped before their time are counted')
  t.ok(sample(text, 'signaling_recovery_log_bytes')! <= 1 << 20, 'and the log never holds more than its cap')
})
