/**
 * A member whose connection drops for less than the grace window keeps its seat and its id, and
 * the others never see it leave; past the window, or on purpose, it leaves as before.
 */
import { once } from 'node:events'
import { SessionAwareAdapter } from 'socket.io-adapter'
import { io } from 'socket.io-client'
import t, { type Test } from 'tap'
import { packetRetentionMs } from '../src/recovery/keepalive.js'
import {
  buildServer,
  collect,
  connectClient,
  createRoom,
  joinRoom,
  nextEvent,
  request,
  startServerProcess,
  sync,
  type Client,
  type TestServer,
  until
} from './helper.js'
import { useRedis } from './redis-helper.js'

/** Reconnects on its own, quickly; `transports` as Socket.IO's default would be fine too. */
const RECONNECTING = { reconnection: true, reconnectionDelay: 20, reconnectionDelayMax: 50 }

/** Drops the client's transport the way a network blip does, and keeps it down until `resume`. */
function dropTransport(client: Client): { resume(): Promise<void> } {
  client.io.reconnection(false)
  client.io.engine.close()
  return {
    async resume() {
      const reconnected = new Promise((resolve) => client.once('connect', () => resolve(undefined)))
      client.io.reconnection(true)
      client.connect()
      await reconnected
    }
  }
}

/** The recovery session id and last offset socket.io-client keeps (private fields). */
type RecoveryState = { _pid: string; _lastOffset: string }

/**
 * The client's next transport, while the server still holds its old, half-open one (a network
 * switch): a new connection carrying the recovery session id and offset the client kept (or
 * `offset`). `beforeConnect` sees the new socket first: replayed events arrive before `connect`.
 */
async function resumeOnNewTransport(t: Test, client: Client, url: string, { offset, beforeConnect }: { offset?: string; beforeConnect?: (successor: Client) => void } = {}): Promise<Client> {
  const kept = client as unknown as RecoveryState
  client.io.reconnection(false)
  const successor: Client = io(url, { transports: ['websocket'], forceNew: true, autoConnect: false, reconnection: false })
  t.teardown(() => {
    successor.disconnect()
  })
  Object.assign(successor, { _pid: kept._pid, _lastOffset: offset ?? kept._lastOffset })
  beforeConnect?.(successor)
  const connected = new Promise<void>((resolve) => successor.once('connect', () => resolve()))
  successor.connect()
  await connected
  return successor
}

/** What the load balancer does when an instance goes: the client's next connection lands elsewhere. */
function redirect(client: Client, url: string): void {
  ;(client.io as unknown as { uri: string }).uri = url
}

/** Two instances sharing Redis, with a 5 s grace window; undefined when Redis is unreachable. */
async function twoInstances(t: Test): Promise<[TestServer, TestServer] | undefined> {
  const redis = await useRedis(t)
  if (redis === undefined) return undefined
  const env = { ...redis.env, RECONNECT_GRACE_MS: '5000' }
  return [await buildServer(t, env), await buildServer(t, env)]
}

async function callOfTwo(server: TestServer, other: TestServer = server) {
  const alice = await server.connect()
  const bob = await other.connect(RECONNECTING)
  const roomId = await createRoom(alice, 'alice')
  // room-joined carries the member's first recovery offset; a real client has it before it drops.
  const joined = nextEvent(bob, 'room-joined')
  await joinRoom(bob, roomId, 'bob')
  await joined
  return { alice, bob, roomId, bobId: bob.id! }
}

t.test('back within the window: same id, same seat, missed signals delivered, nobody saw a user-left', async (t) => {
  const server = await buildServer(t, { RECONNECT_GRACE_MS: '5000' })
  const { alice, bob, bobId } = await callOfTwo(server)
  await request(bob, 'camera-mic-status', { camera: false, mic: true })
  const aliceSawLeft = collect(alice, 'user-left')

  const away = nextEvent(alice, 'user-away')
  const drop = dropTransport(bob)
  t.same(await away, { id: bobId }, 'the others are told the member is away')
  t.same(await request(alice, 'signal', { to: bobId, signal: { candidate: 'while-away' } }), { success: true, ok: true },
    'an away member can still be signalled')

  const missed = nextEvent(bob, 'signal')
  const back = nextEvent(alice, 'user-back')
  await drop.resume()
  t.equal(bob.id, bobId, 'same socket id')
  t.ok(bob.recovered, 'Socket.IO recovered the session')
  t.same(await back, { id: bobId })
  t.same(await missed, { from: alice.id, signal: { candidate: 'while-away' } }, 'the missed signal arrives')
  t.match(await request(bob, 'user-list'), {
    success: true,
    users: [{ id: alice.id }, { id: bobId, username: 'bob', camera: false, mic: true }]
  }, 'still in the room, with its username and camera/mic state')
  const reply = nextEvent(alice, 'signal')
  await request(bob, 'signal', { to: alice.id, signal: { candidate: 'after' } })
  t.same(await reply, { from: bobId, signal: { candidate: 'after' } })
  await sync(alice)
  t.same(aliceSawLeft, [], 'no user-left at the others')
})

t.test('in memory, Socket.IO\'s own buffer is not used: signals carry the packet log\'s offsets', async (t) => {
  const server = await buildServer(t, { RECONNECT_GRACE_MS: '5000' })
  t.notOk(server.app.io.of('/').adapter instanceof SessionAwareAdapter, 'not the adapter that keeps every packet as objects')
  const { alice, bob, bobId } = await callOfTwo(server)
  const received = nextEvent(bob, 'signal')
  await request(alice, 'signal', { to: bobId, signal: { candidate: 'kept' } })
  await received
  t.ok((bob as unknown as { _lastOffset?: string })._lastOffset, 'the signal carried an offset to resume from')
})

t.test('back before the server noticed the drop (a network switch): still the same id and seat', async (t) => {
  const server = await buildServer(t, { RECONNECT_GRACE_MS: '5000' })
  const { alice, bob, bobId } = await callOfTwo(server)
  const aliceSawLeft = collect(alice, 'user-left')
  // The old transport is half-open: the server still holds it. A new one arrives with the
  // recovery session id and offset the client kept.
  const successor = await resumeOnNewTransport(t, bob, server.url)
  t.equal(successor.id, bobId, 'same socket id')
  t.ok(successor.recovered)
  t.match(await request(alice, 'user-list'), { success: true, users: [{ id: alice.id }, { id: bobId }] }, 'one seat, not two')
  const signal = nextEvent(successor, 'signal')
  await request(alice, 'signal', { to: bobId, signal: { candidate: 'to the new transport' } })
  t.same(await signal, { from: alice.id, signal: { candidate: 'to the new transport' } })
  await sync(alice)
  t.same(aliceSawLeft, [])
})

t.test('with Redis: back through the other instance before the first noticed the drop', async (t) => {
  const pair = await twoInstances(t)
  if (pair === undefined) return
  const [a, b] = pair
  const { alice, bob, bobId } = await callOfTwo(a, b)
  const aliceSawLeft = collect(alice, 'user-left')
  // bob's old transport is still open on b; his new one arrives at a (a new network address).
  const successor = await resumeOnNewTransport(t, bob, a.url)
  t.equal(successor.id, bobId, 'same socket id')
  t.ok(successor.recovered)
  t.ok(a.app.io.of('/').sockets.has(bobId) && !b.app.io.of('/').sockets.has(bobId), 'moved to the other instance')
  t.match(await request(alice, 'user-list'), { success: true, users: [{ id: alice.id }, { id: bobId }] })
  await sync(alice)
  t.same(aliceSawLeft, [])
})

t.test('a lone creator recovers too (its last event was the bare room-id string)', async (t) => {
  const server = await buildServer(t, { RECONNECT_GRACE_MS: '5000' })
  const alice = await server.connect(RECONNECTING)
  const roomIdEvent = nextEvent(alice, 'room-id')
  await request(alice, 'create-room', { username: 'alice' })
  const roomId = await roomIdEvent
  const aliceId = alice.id
  const drop = dropTransport(alice)
  await drop.resume()
  t.equal(alice.id, aliceId)
  t.ok(alice.recovered)
  t.match(await request(alice, 'user-list', roomId), { success: true, users: [{ id: aliceId }] })
})

t.test('with Redis, keepalive: a quiet member gets them, a member receiving signals gets none', async (t) => {
  // The stream is trimmed by length, so each client's last offset must stay recent there.
  const redis = await useRedis(t)
  if (redis === undefined) return
  // An 8 s window: keepalives every 2 s, skipped for a socket that got something in the last 1 s.
  const server = await buildServer(t, { ...redis.env, RECONNECT_GRACE_MS: '8000' })
  const { alice, bob, bobId } = await callOfTwo(server)
  const aliceKept = nextEvent(alice, 'keepalive', 10_000)
  const bobKept = collect(bob, 'keepalive')
  // Alice only gets acks (no offset); Bob gets a signal, with an offset, every 50 ms or so, until
  // Alice has had her keepalive (both are looked at every 200 ms).
  let signalling = true
  const signals = (async () => {
    for (let sent = 0; signalling; sent++) {
      await request(alice, 'signal', { to: bobId, signal: { candidate: `c${sent}` } })
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  })()
  await aliceKept
  signalling = false
  await signals
  await sync(bob)
  t.pass('the quiet member got a keepalive')
  t.equal(bobKept.length, 0, 'the member receiving signals needed none')
})

/**
 * A 2 s grace window and pings every second, and how long the in-memory log keeps packets then. The
 * pong may take 5 s, as by default: with 1 s a busy machine dropped the other member mid-test.
 */
const SHORT_RETENTION = {
  env: { RECONNECT_GRACE_MS: '2000', PING_INTERVAL_MS: '1000', PING_TIMEOUT_MS: '5000' },
  ms: packetRetentionMs({ graceMs: 2000, pingIntervalMs: 1000, pingTimeoutMs: 5000 })
}

/** Until the in-memory packet log has pruned every packet sent up to `sentBy` (epoch ms). */
async function prunedUpTo(server: TestServer, sentBy: number): Promise<void> {
  const log = server.app.io.of('/').adapter as unknown as { oldestPacketAt: number | undefined }
  // Pruned once a second, once a packet is SHORT_RETENTION.ms old.
  await until(async () => (log.oldestPacketAt ?? Infinity) > sentBy, 'the packet log to prune its oldest packets', SHORT_RETENTION.ms + 10_000)
}

t.test('in memory, no keepalive: a member who received nothing for longer than the log keeps packets still recovers', async (t) => {
  // Its offset from joining is gone from the log by then; what it confirmed (its pongs) says it missed nothing.
  const server = await buildServer(t, SHORT_RETENTION.env)
  const { bob, bobId } = await callOfTwo(server)
  const keepalives = collect(bob, 'keepalive')
  await prunedUpTo(server, Date.now())
  const drop = dropTransport(bob)
  await drop.resume()
  t.equal(bob.id, bobId)
  t.ok(bob.recovered, 'recovered after its last offset was pruned')
  t.same(keepalives, [], 'and never needed a keepalive')
})

/** Pongs every second and a 60 s grace, so a retention of about 95 s: only confirmations end packets sooner. */
const CONFIRMING_ENV = { ...SHORT_RETENTION.env, RECONNECT_GRACE_MS: '60000' }

/** The in-memory packet log's figures and the adapter's own `addAll` (to join a socket by hand). */
function packetLogOf(server: TestServer) {
  return server.app.io.of('/').adapter as unknown as { packetsKept: number; offsetsHeld: number; addAll(id: string, rooms: Set<string>): void }
}

/** A call of two relays one signal; resolves once every packet the log kept for it died. */
async function signalUntilConfirmed(t: Test, server: TestServer): Promise<void> {
  const log = packetLogOf(server)
  const { alice, bob, bobId } = await callOfTwo(server)
  const received = nextEvent(bob, 'signal')
  await request(alice, 'signal', { to: bobId, signal: { candidate: 'confirmed' } })
  await received
  t.ok(log.packetsKept > 0, 'kept at first')
  await until(async () => log.packetsKept === 0, 'the confirmed packets to die', 10_000)
}

t.test('packets every recipient confirmed (their pongs) die at once, long before the retention', async (t) => {
  await signalUntilConfirmed(t, await buildServer(t, CONFIRMING_ENV))
  t.pass('every packet died once confirmed')
})

t.test('a room whose members confirmed its packets lets them go while another socket lags', async (t) => {
  // Carol never confirms anything after connecting (and once dropped, her saved session keeps
  // needing it): nothing dies for everyone at once, so only the room's own pongs end its packets.
  const server = await buildServer(t, CONFIRMING_ENV)
  stopReading(t, await server.connect())
  await signalUntilConfirmed(t, server)
  t.pass('every packet of the room died once its members confirmed it')
})

t.test('while a socket here has no receipts, the offsets before it stay resumable, however much the others confirm', async (t) => {
  // Joined by hand, as a socket still in Socket.IO's middlewares is: taken to have confirmed nothing.
  const server = await buildServer(t, CONFIRMING_ENV)
  packetLogOf(server).addAll('without-receipts', new Set(['without-receipts']))
  await signalUntilConfirmed(t, server)
  t.ok(packetLogOf(server).offsetsHeld > 0, 'their offsets are still held: a resume may start from any of them')
})

/** Stops the client reading from its transport, as a network that went away silently does. */
function stopReading(t: Test, client: Client): void {
  const transport = client.io.engine.transport as unknown as { ws?: { _socket?: { pause(): void; destroy(): void } } }
  const socket = transport.ws?._socket
  if (socket === undefined) throw new Error('socket.io-client internals changed: no ws socket under the transport')
  socket.pause()
  // Its close handshake can never be read: without this, closing it waits out ws's 30 s timeout.
  t.teardown(() => socket.destroy())
}

t.test('a half-open transport: what the client never read is replayed on its next one, even when its offset is older than the log keeps', async (t) => {
  const server = await buildServer(t, SHORT_RETENTION.env)
  const { alice, bob, bobId } = await callOfTwo(server)
  await prunedUpTo(server, Date.now())
  // The network goes away without a word: the server still writes to the old transport, unread.
  stopReading(t, bob)
  t.same(await request(alice, 'signal', { to: bobId, signal: { candidate: 'never read' } }), { success: true, ok: true })
  let replayed: Promise<unknown> | undefined
  const successor = await resumeOnNewTransport(t, bob, server.url, { beforeConnect: (next) => (replayed = nextEvent(next, 'signal')) })
  t.equal(successor.id, bobId, 'same socket id')
  t.ok(successor.recovered)
  t.same(await replayed, { from: alice.id, signal: { candidate: 'never read' } }, 'the signal it never read arrives')
})

t.test('recovered twice before reading what was replayed: replayed again', async (t) => {
  // 10 s pings: no pong confirms anything during the test.
  const server = await buildServer(t, { RECONNECT_GRACE_MS: '5000' })
  const { alice, bob, bobId } = await callOfTwo(server)
  const offset = (bob as unknown as RecoveryState)._lastOffset
  stopReading(t, bob)
  await request(alice, 'signal', { to: bobId, signal: { candidate: 'one' } })
  let first: Promise<unknown> | undefined
  const successor = await resumeOnNewTransport(t, bob, server.url, { beforeConnect: (next) => (first = nextEvent(next, 'signal')) })
  t.same(await first, { from: alice.id, signal: { candidate: 'one' } }, 'replayed once')
  // Its next transport comes with the same old offset, as if the replay had never been read.
  let again: Promise<unknown> | undefined
  const third = await resumeOnNewTransport(t, successor, server.url, { offset, beforeConnect: (next) => (again = nextEvent(next, 'signal')) })
  t.ok(third.recovered)
  t.same(await again, { from: alice.id, signal: { candidate: 'one' } }, 'and again: the replay was never confirmed')
})

t.test('away past the window: user-left, and the member must join again with a new id', async (t) => {
  const server = await buildServer(t, { RECONNECT_GRACE_MS: '300' })
  const { alice, bob, roomId, bobId } = await callOfTwo(server)
  const left = nextEvent(alice, 'user-left')
  const drop = dropTransport(bob)
  t.equal(await left, bobId, 'user-left once the window ends')
  t.match(await request(alice, 'user-list'), { success: true, users: [{ id: alice.id }] })
  await drop.resume()
  t.not(bob.id, bobId, 'a fresh id')
  t.notOk(bob.recovered)
  t.match(await request(bob, 'user-list'), { success: false, code: 'NOT_IN_ROOM' })
  t.match(await joinRoom(bob, roomId, 'bob'), { success: true }, 'it may join again')
})

t.test('past the window with the room gone: joining again gets a clear error', async (t) => {
  const server = await buildServer(t, { RECONNECT_GRACE_MS: '300' })
  const alice = await server.connect(RECONNECTING)
  const roomId = await createRoom(alice, 'alice')
  const aliceId = alice.id
  const drop = dropTransport(alice)
  await until(async () => (await server.app.rooms.members(roomId)) === undefined, 'the room to go when its grace ends')
  await drop.resume()
  t.not(alice.id, aliceId)
  t.match(await joinRoom(alice, roomId, 'alice'), { success: false, code: 'ROOM_NOT_FOUND', error: 'Room ID not found.' })
})

t.test('leave-room and a client\'s own disconnect() free the seat at once', async (t) => {
  const server = await buildServer(t, { RECONNECT_GRACE_MS: '60000' })
  const { alice, bob, roomId, bobId } = await callOfTwo(server)
  const carol = await server.connect()
  await joinRoom(carol, roomId, 'carol')
  const aliceSawAway = collect(alice, 'user-away')

  const left = nextEvent(alice, 'user-left')
  await request(bob, 'leave-room')
  t.equal(await left, bobId)
  const carolId = carol.id
  const leftAgain = nextEvent(alice, 'user-left')
  carol.disconnect()
  t.equal(await leftAgain, carolId, 'immediately, though the grace window is a minute')
  await sync(alice)
  t.same(aliceSawAway, [])
})

t.test('RECONNECT_GRACE_MS=0 turns it off: a dropped transport is a user-left', async (t) => {
  const server = await buildServer(t, { RECONNECT_GRACE_MS: '0' })
  const { alice, bob, bobId } = await callOfTwo(server)
  const left = nextEvent(alice, 'user-left')
  const drop = dropTransport(bob)
  t.equal(await left, bobId)
  await drop.resume()
  t.not(bob.id, bobId)
})

t.test('with Redis: drop on one instance, come back through the other, keep the seat', async (t) => {
  const pair = await twoInstances(t)
  if (pair === undefined) return
  const [a, b] = pair
  const { alice, bob, bobId } = await callOfTwo(a, b)
  const aliceSawLeft = collect(alice, 'user-left')
  const away = nextEvent(alice, 'user-away')
  const drop = dropTransport(bob)
  await away
  await request(alice, 'signal', { to: bobId, signal: { candidate: 'while-away' } })

  // The load balancer sends the reconnecting client to the other instance.
  redirect(bob, a.url)
  const missed = nextEvent(bob, 'signal')
  const back = nextEvent(alice, 'user-back')
  await drop.resume()
  t.equal(bob.id, bobId)
  t.ok(bob.recovered)
  t.ok(a.app.io.of('/').sockets.has(bobId), 'now served by the other instance')
  t.same(await back, { id: bobId })
  t.same(await missed, { from: alice.id, signal: { candidate: 'while-away' } })
  const reply = nextEvent(alice, 'signal')
  await request(bob, 'signal', { to: alice.id, signal: { candidate: 'after' } })
  t.same(await reply, { from: bobId, signal: { candidate: 'after' } })
  await sync(alice)
  t.same(aliceSawLeft, [])
})

t.test('with Redis: SIGTERM one of two instances; its members reappear on the other with the same ids', async (t) => {
  const redis = await useRedis(t)
  if (redis === undefined) return
  const env = { ...redis.env, RECONNECT_GRACE_MS: '20000', DRAIN_DELAY_MS: '200' }
  const survivor = await buildServer(t, env)
  const leaving = startServerProcess(env)
  t.teardown(() => {
    leaving.child.kill('SIGKILL')
  })
  const leavingUrl = await leaving.url
  const alice = await survivor.connect()
  const bob = await connectClient(t, leavingUrl, RECONNECTING)
  const carol = await connectClient(t, leavingUrl, RECONNECTING)
  const roomId = await createRoom(alice, 'alice')
  const seated = Promise.all([nextEvent(bob, 'room-joined'), nextEvent(carol, 'room-joined')])
  await joinRoom(bob, roomId, 'bob')
  await joinRoom(carol, roomId, 'carol')
  await seated
  const ids = [bob.id, carol.id]
  const aliceSawLeft = collect(alice, 'user-left')

  // The load balancer would send reconnecting clients to the instance still up.
  redirect(bob, survivor.url)
  redirect(carol, survivor.url)
  const reconnected = Promise.all([bob, carol].map((client) => new Promise((resolve) => client.once('connect', () => resolve(undefined)))))
  const exited = once(leaving.child, 'exit')
  leaving.child.kill('SIGTERM')
  await reconnected
  t.same(await exited, [0, null], 'the instance shut down cleanly')
  t.same([bob.id, carol.id], ids, 'same ids')
  t.ok(bob.recovered && carol.recovered)
  t.ok(survivor.app.io.of('/').sockets.has(bob.id!) && survivor.app.io.of('/').sockets.has(carol.id!))
  const signal = nextEvent(carol, 'signal')
  await request(bob, 'signal', { to: carol.id, signal: { candidate: 'still here' } })
  t.same(await signal, { from: ids[0], signal: { candidate: 'still here' } })
  t.match(await request(alice, 'user-list'), { success: true, users: [{ id: alice.id }, { id: ids[0] }, { id: ids[1] }] })
  await sync(alice)
  t.same(aliceSawLeft, [], 'nobody saw anyone leave')
})
