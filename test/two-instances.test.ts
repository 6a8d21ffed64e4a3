/**
 * Two app instances sharing one Redis behave, to every client, like one instance.
 */
import t, { type Test } from 'tap'
import { buildServer, collect, createRoom, joinRoom, nextEvent, raw, request, sync, type TestServer, until } from './helper.js'
import { monitorCommands, useRedis } from './redis-helper.js'

async function twoInstances(t: Test, env: Record<string, string> = {}): Promise<[TestServer, TestServer] | undefined> {
  const redis = await useRedis(t)
  if (redis === undefined) return undefined
  return [await buildServer(t, { ...redis.env, ...env }), await buildServer(t, { ...redis.env, ...env })]
}

/** alice on instance a, with a room of her own, and bob connected to instance b; undefined without Redis. */
async function aliceHereBobThere(t: Test, env: Record<string, string> = {}) {
  const servers = await twoInstances(t, env)
  if (!servers) return undefined
  const [a, b] = servers
  const alice = await a.connect()
  const bob = await b.connect()
  return { a, b, alice, bob, roomId: await createRoom(alice, 'alice') }
}

t.test('join, relay both ways, status, list and leave across instances', async (t) => {
  const call = await aliceHereBobThere(t)
  if (!call) return
  const { alice, bob, roomId } = call

  const aliceSeesBob = nextEvent(alice, 'user-joined')
  t.match(await joinRoom(bob, roomId, 'bob'), { success: true, users: [{ id: alice.id }, { id: bob.id }] })
  t.match(await aliceSeesBob, { id: bob.id, username: 'bob' })

  const offer = nextEvent(bob, 'signal')
  t.same(await request(alice, 'signal', { to: bob.id, signal: { type: 'offer', sdp: 'v=0' } }), { success: true, ok: true })
  t.same(await offer, { from: alice.id, signal: { type: 'offer', sdp: 'v=0' } })
  const answer = nextEvent(alice, 'signal')
  await request(bob, 'signal', { to: alice.id, signal: { type: 'answer', sdp: 'v=0' } })
  t.same(await answer, { from: bob.id, signal: { type: 'answer', sdp: 'v=0' } })

  const status = nextEvent(alice, 'camera-mic-status')
  await request(bob, 'camera-mic-status', { camera: false, mic: true })
  t.same(await status, { id: bob.id, camera: false, mic: true })
  t.match(await request(alice, 'user-list'), { success: true, users: [{ id: alice.id }, { id: bob.id, camera: false }] })

  const left = nextEvent(alice, 'user-left')
  await request(bob, 'leave-room')
  t.equal(await left, bob.id)
})

t.test('a disconnect on one instance is a user-left on the other', async (t) => {
  const call = await aliceHereBobThere(t)
  if (!call) return
  const { alice, bob, roomId } = call
  await joinRoom(bob, roomId, 'bob')
  const left = nextEvent(alice, 'user-left')
  const bobId = bob.id
  bob.disconnect()
  t.equal(await left, bobId)
  t.match(await request(alice, 'user-list'), { success: true, users: [{ id: alice.id }] })
})

t.test('a non-member on the other instance cannot signal into the room', async (t) => {
  const servers = await twoInstances(t)
  if (!servers) return
  const [a, b] = servers
  const alice = await a.connect()
  const bob = await a.connect()
  const mallory = await b.connect()
  const roomId = await createRoom(alice, 'alice')
  await joinRoom(bob, roomId, 'bob')
  await createRoom(mallory, 'mallory')
  const bobSees = collect(bob, 'signal')
  t.match(await request(mallory, 'signal', { to: bob.id, signal: { sdp: 'x' } }), { success: false, code: 'PEER_NOT_FOUND' })
  t.match(await request(mallory, 'user-list', roomId), { success: false, code: 'NOT_IN_ROOM' })
  // A legitimate signal sent afterwards arrives; had mallory's got through, it would have come first.
  const legit = nextEvent(bob, 'signal')
  await request(alice, 'signal', { to: bob.id, signal: { sdp: 'ok' } })
  await legit
  await sync(bob)
  t.same(bobSees, [{ from: alice.id, signal: { sdp: 'ok' } }])
})

t.test('twelve joiners through two instances at the same instant: exactly three get in, every round', async (t) => {
  // The owner makes a room a round, over the per-connection cap that this test is not about.
  const servers = await twoInstances(t, { ROOMS_PER_MINUTE: '100' })
  if (!servers) return
  const [a, b] = servers
  const clients = await Promise.all(Array.from({ length: 13 }, (_, i) => (i % 2 === 0 ? a : b).connect()))
  const [owner, ...joiners] = clients as [typeof clients[0], ...typeof clients]
  for (const client of joiners) await request(client, 'register-username', 'joiner')
  const ROUNDS = 25
  let exact = 0
  for (let round = 0; round < ROUNDS; round++) {
    const roomId = await createRoom(owner, 'owner')
    const results = await Promise.all(joiners.map((client) => request(client, 'join-room', roomId)))
    const seated = results.filter((r) => r.success).length
    const full = results.filter((r) => !r.success && r.code === 'ROOM_FULL').length
    const members = await request(owner, 'user-list')
    if (seated === 3 && full === 9 && members.users.length === 4) exact++
    await Promise.all([owner, ...joiners].map((client) => request(client, 'leave-room')))
  }
  t.equal(exact, ROUNDS, `${ROUNDS} rounds, each exactly three seated and nine refused`)
})

t.test('two instances keep one protocol: same errors for the same mistakes', async (t) => {
  const call = await aliceHereBobThere(t, { MAX_USERS_PER_ROOM: '2' })
  if (!call) return
  const { a, bob, roomId } = call
  const carol = await a.connect()
  t.match(await joinRoom(carol, 'nnn-nnnn-nnn', 'carol'), { success: false, code: 'ROOM_NOT_FOUND' })
  t.match(await joinRoom(bob, roomId.toUpperCase(), 'bob'), { success: true })
  t.match(await joinRoom(carol, roomId, 'carol'), { success: false, code: 'ROOM_FULL' })
  t.match(await request(bob, 'create-room'), { success: false, code: 'ALREADY_IN_ROOM' })
})

t.test('with the remote store, one socket\'s events still take effect in the order sent', async (t) => {
  const servers = await twoInstances(t)
  if (!servers) return
  const [a, b] = servers
  const alice = await a.connect()
  const bob = await b.connect()
  const joined = nextEvent(alice, 'room-joined')
  raw(alice).emit('register-username', 'alice')
  raw(alice).emit('create-room')
  const roomId = (await joined).roomId
  const offer = nextEvent(alice, 'signal')
  // join then signal at once, without waiting for the join's answer
  raw(bob).emit('join-room', { roomId, username: 'bob' })
  raw(bob).emit('signal', { to: alice.id, signal: { type: 'offer', sdp: 'v=0' } })
  t.same(await offer, { from: bob.id, signal: { type: 'offer', sdp: 'v=0' } })
})

t.test('a signal to a member on the other instance asks Redis nothing: the instances know who sits where', async (t) => {
  const redis = await useRedis(t)
  if (redis === undefined) return
  const [a, b] = [await buildServer(t, redis.env), await buildServer(t, redis.env)]
  // Store commands on this test's keys (other tests share this Redis), but the adapter's stream.
  const storeCommands: string[] = []
  await monitorCommands(t, redis.url, ({ args }) => {
    if (args.some((arg) => arg.startsWith(`${redis.prefix}room:`))) storeCommands.push(args[0]!.toLowerCase())
  })
  const alice = await a.connect()
  const bob = await b.connect()
  const roomId = await createRoom(alice, 'alice')
  const aliceSeesBob = nextEvent(alice, 'user-joined')
  await joinRoom(bob, roomId, 'bob')
  await aliceSeesBob
  const carol = await a.connect()
  const bobSeesCarol = nextEvent(bob, 'user-joined')
  await joinRoom(carol, roomId, 'carol')
  await bobSeesCarol
  await sync(alice)
  await sync(bob)
  const before = storeCommands.length
  t.ok(before > 0, 'the monitor saw the joins reach the store, so it would see a signal that did')
  for (let i = 0; i < 20; i++) {
    const toBob = nextEvent(bob, 'signal')
    const toAlice = nextEvent(alice, 'signal')
    t.match(await request(alice, 'signal', { to: bob.id, signal: { candidate: `a${i}` } }), { success: true })
    t.match(await request(bob, 'signal', { to: alice.id, signal: { candidate: `b${i}` } }), { success: true })
    t.match(await request(bob, 'signal', { to: carol.id, signal: { candidate: `c${i}` } }), { success: true })
    await Promise.all([toBob, toAlice])
  }
  // Every signal was acked and delivered: a store command it had needed would be in by now.
  t.same(storeCommands.slice(before), [], '60 signals across instances, no store command')

  // Once bob has left, nothing reaches him: a signal goes to his seat's room, which he left with his
  // seat. The instances hear of it a moment later, and then refuse such signals outright.
  const aliceSeesLeft = nextEvent(alice, 'user-left')
  await request(bob, 'leave-room')
  await aliceSeesLeft
  const bobSaw = collect(bob, 'signal')
  await request(alice, 'signal', { to: bob.id, signal: { candidate: 'late' } })
  await sync(bob)
  t.same(bobSaw, [], 'not delivered')
  await until(async () => (await request(alice, 'signal', { to: bob.id, signal: { candidate: 'later' } })).code === 'PEER_NOT_FOUND',
    'the instances to hear that bob left')
  t.pass('then refused with PEER_NOT_FOUND')
})

t.test('a member who left through one instance and sat down in another room there gets no signal from the first', async (t) => {
  const call = await aliceHereBobThere(t)
  if (!call) return
  const { alice, bob, roomId } = call
  await joinRoom(bob, roomId, 'bob')
  const mallory = await call.b.connect()
  const otherRoom = await createRoom(mallory, 'mallory')
  const bobSaw = collect(bob, 'signal')
  await request(bob, 'leave-room')
  await joinRoom(bob, otherRoom, 'bob')
  // The moment before alice's instance hears that he left: it still counts him in her room.
  call.a.app.roster.seed(roomId, [alice.id!, bob.id!])
  t.match(await request(alice, 'signal', { to: bob.id, signal: { sdp: 'for the old room' } }), { success: true },
    'answered on what alice\'s instance believed')
  const legit = nextEvent(bob, 'signal')
  await request(mallory, 'signal', { to: bob.id, signal: { sdp: 'from his new room' } })
  await legit
  await sync(bob)
  t.same(bobSaw, [{ from: mallory.id, signal: { sdp: 'from his new room' } }], 'only what his new room sent')
})
