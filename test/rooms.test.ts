import t from 'tap'
import { buildServer, collect, createRoom, joinRoom, nextEvent, request, sync } from './helper.js'

const ROOM_ID_SHAPE = /^[a-hjkmnp-z]{3}-[a-hjkmnp-z]{4}-[a-hjkmnp-z]{3}$/

t.test('register-username takes the object and the bare form, trims, and may be re-sent', async (t) => {
  const { connect } = await buildServer(t)
  const client = await connect()
  t.same(await request(client, 'register-username', { username: '  alice ' }), { success: true, ok: true, username: 'alice' })
  t.same(await request(client, 'register-username', 'bob'), { success: true, ok: true, username: 'bob' })
  const roomId = await createRoom(client, 'carol')
  t.same(await request(client, 'register-username', 'dave'), { success: true, ok: true, username: 'dave' })
  const list = await request(client, 'user-list', roomId)
  t.equal(list.success && list.users[0].username, 'dave', 'a rename shows in the room')
})

t.test('register-username refuses empty, too long, control characters and non-strings', async (t) => {
  const { connect } = await buildServer(t)
  const client = await connect()
  for (const bad of ['', '   ', 'x'.repeat(33), 'a\nb', 'tab\there', 'nul\u0000']) {
    const result = await request(client, 'register-username', bad)
    t.match(result, { success: false, code: 'INVALID_USERNAME' }, JSON.stringify(bad))
  }
  t.same(await request(client, 'register-username', '😀'.repeat(32)), { success: true, ok: true, username: '😀'.repeat(32) },
    'length counts characters, not UTF-16 units')
  for (const bad of [null, 42, [], { username: 7 }, { name: 'x' }]) {
    const result = await request(client, 'register-username', bad)
    t.match(result, { success: false, code: 'INVALID_PAYLOAD' }, JSON.stringify(bad))
  }
})

t.test('create-room seats the creator, answers room-id and room-joined, and acks the same', async (t) => {
  const { connect } = await buildServer(t)
  const client = await connect()
  await request(client, 'register-username', 'alice')
  const roomIdEvent = nextEvent(client, 'room-id')
  const joinedEvent = nextEvent(client, 'room-joined')
  const result = await request(client, 'create-room')
  t.ok(result.success)
  t.match(result.roomId, ROOM_ID_SHAPE, 'readable, unguessable id')
  t.equal(await roomIdEvent, result.roomId)
  const users = [{ id: client.id, username: 'alice', camera: true, mic: true }]
  t.same(await joinedEvent, { roomId: result.roomId, users, iceServers: [], iceServersExpireAt: null })
  t.same(result.users, users)
})

t.test('create-room needs a username and refuses while in a room', async (t) => {
  const { connect } = await buildServer(t)
  const client = await connect()
  t.match(await request(client, 'create-room'), { success: false, code: 'USERNAME_REQUIRED' })
  t.match(await request(client, 'create-room', { username: '' }), { success: false, code: 'INVALID_USERNAME' })
  await createRoom(client, 'alice')
  t.match(await request(client, 'create-room'), { success: false, code: 'ALREADY_IN_ROOM' })
})

t.test('join-room: room-joined to the joiner, user-joined to the others only', async (t) => {
  const { connect } = await buildServer(t)
  const [alice, bob] = [await connect(), await connect()]
  const roomId = await createRoom(alice, 'alice')
  await request(alice, 'camera-mic-status', { camera: false, mic: true })

  const aliceSees = collect(alice, 'user-joined')
  const bobSees = collect(bob, 'user-joined')
  const joined = nextEvent(bob, 'room-joined')
  await request(bob, 'register-username', 'bob')
  const result = await request(bob, 'join-room', roomId)
  const users = [
    { id: alice.id, username: 'alice', camera: false, mic: true },
    { id: bob.id, username: 'bob', camera: true, mic: true }
  ]
  t.same(result, { success: true, ok: true, roomId, users, iceServers: [], iceServersExpireAt: null }, 'late joiner learns everyone, with camera/mic state')
  t.same(await joined, { roomId, users, iceServers: [], iceServersExpireAt: null })
  await sync(alice)
  await sync(bob)
  t.same(aliceSees, [{ id: bob.id, username: 'bob', camera: true, mic: true }])
  t.same(bobSees, [], 'the joiner is not told about itself')
})

t.test('join-room normalises the id: case, dashes, spaces, and takes a username along', async (t) => {
  const { connect } = await buildServer(t)
  const [alice, bob, carol] = [await connect(), await connect(), await connect()]
  const roomId = await createRoom(alice, 'alice')
  const typed = ` ${roomId.replace(/-/g, '').toUpperCase()} `
  t.match(await joinRoom(bob, typed, 'bob'), { success: true, roomId })
  t.match(await joinRoom(carol, roomId.replace(/-/g, ' - '), 'carol'), { success: true, roomId })
})

t.test('join-room errors: not found, full, already in a room, username required', async (t) => {
  const { connect } = await buildServer(t, { MAX_USERS_PER_ROOM: '2' })
  const [alice, bob, carol] = [await connect(), await connect(), await connect()]
  const roomId = await createRoom(alice, 'alice')
  t.match(await request(carol, 'join-room', roomId), { success: false, code: 'USERNAME_REQUIRED' })
  t.match(await joinRoom(carol, 'abc-defg-hjk', 'carol'), { success: false, code: 'ROOM_NOT_FOUND' })
  t.match(await joinRoom(carol, 'not a room id', 'carol'), { success: false, code: 'ROOM_NOT_FOUND' })
  t.match(await joinRoom(bob, roomId, 'bob'), { success: true })
  t.match(await joinRoom(carol, roomId, 'carol'), {
    success: false,
    code: 'ROOM_FULL',
    error: 'Room is full.'
  })
  t.match(await joinRoom(bob, roomId, 'bob'), { success: false, code: 'ALREADY_IN_ROOM' })
  t.match(await request(alice, 'join-room', { roomId: 5 }), { success: false, code: 'INVALID_PAYLOAD' })
})

t.test('leave-room and LeaveRoom free the seat, tell the others, and delete an empty room', async (t) => {
  const { connect } = await buildServer(t)
  const [alice, bob, carol] = [await connect(), await connect(), await connect()]
  const roomId = await createRoom(alice, 'alice')
  await joinRoom(bob, roomId, 'bob')

  const left = nextEvent(alice, 'user-left')
  t.same(await request(bob, 'leave-room', { roomId }), { success: true, ok: true, roomId })
  t.equal(await left, bob.id)
  t.same(await request(bob, 'leave-room'), { success: true, ok: true, roomId: null }, 'leaving again is harmless')

  await joinRoom(bob, roomId, 'bob')
  const leftAgain = nextEvent(bob, 'user-left')
  t.same(await request(alice, 'LeaveRoom', roomId), { success: true, ok: true, roomId }, 'the old spelling works')
  t.equal(await leftAgain, alice.id)
  t.same(await request(bob, 'leave-room', roomId), { success: true, ok: true, roomId })
  t.match(await joinRoom(carol, roomId, 'carol'), { success: false, code: 'ROOM_NOT_FOUND' },
    'the empty room is gone')
})

t.test('leave-room naming another room is refused and the seat is kept', async (t) => {
  const { connect } = await buildServer(t)
  const [alice, bob] = [await connect(), await connect()]
  const roomId = await createRoom(alice, 'alice')
  const otherRoom = await createRoom(bob, 'bob')
  t.match(await request(alice, 'leave-room', otherRoom), { success: false, code: 'NOT_IN_ROOM' })
  t.match(await request(alice, 'user-list', roomId), { success: true, users: [{ id: alice.id }] }, 'still seated in her own room')
})

t.test('disconnect frees the seat like leaving does', async (t) => {
  const { connect } = await buildServer(t, { MAX_USERS_PER_ROOM: '2' })
  const [alice, bob, carol] = [await connect(), await connect(), await connect()]
  const roomId = await createRoom(alice, 'alice')
  await joinRoom(bob, roomId, 'bob')
  const left = nextEvent(alice, 'user-left')
  const bobId = bob.id
  bob.disconnect()
  t.equal(await left, bobId)
  t.match(await joinRoom(carol, roomId, 'carol'), { success: true }, 'the seat is free again')
  t.same((await request(alice, 'user-list')).users.map((u: { username: string }) => u.username), ['alice', 'carol'])
})

t.test('many simultaneous joiners never exceed the cap', async (t) => {
  const { connect } = await buildServer(t)
  const owner = await connect()
  const roomId = await createRoom(owner, 'owner')
  const joiners = await Promise.all(Array.from({ length: 12 }, () => connect()))
  const results = await Promise.all(joiners.map((client, i) => joinRoom(client, roomId, `user${i}`)))
  t.equal(results.filter((r) => r.success).length, 3, 'exactly three more seats')
  t.equal(results.filter((r) => !r.success && r.code === 'ROOM_FULL').length, 9)
  t.equal((await request(owner, 'user-list')).users.length, 4)
})
