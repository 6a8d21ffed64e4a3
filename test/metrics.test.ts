import t from 'tap'
import { buildServer, createRoom, joinRoom, nextEvent, request } from './helper.js'

/** The value of one sample in Prometheus text format, or undefined. */
function sample(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `) || (labels === '' && l.startsWith(`${name} `)))
  return line === undefined ? undefined : Number(line.split(' ').at(-1))
}

t.test('metrics move as sockets connect, rooms form and signals flow', async (t) => {
  const { app, connect } = await buildServer(t)
  const scrape = async () => {
    const response = await app.inject('/metrics')
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
})

t.test('unknown event names never become labels', async (t) => {
  const { app, connect } = await buildServer(t)
  const client = await connect()
  for (let i = 0; i < 20; i++) (client as unknown as { emit(e: string): void }).emit(`invented-${i}`)
  await request(client, 'user-list')
  t.notMatch((await app.inject('/metrics')).body, /invented-/)
})

t.test('METRICS_TOKEN guards /metrics with a bearer token', async (t) => {
  const { app } = await buildServer(t, { METRICS_TOKEN: 'scrape-token-0123456789' })
  t.equal((await app.inject('/metrics')).statusCode, 401)
  t.equal((await app.inject({ url: '/metrics', headers: { authorization: 'Bearer wrong-token-0123456789' } })).statusCode, 401)
  const ok = await app.inject({ url: '/metrics', headers: { authorization: 'Bearer scrape-token-0123456789' } })
  t.equal(ok.statusCode, 200)
  t.match(ok.body, /signaling_connected_sockets/)
})
