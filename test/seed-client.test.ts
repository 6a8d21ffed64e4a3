/**
 * A client written for the seed server: bare-value payloads, `LeaveRoom`, no acks, errors read as
 * plain strings from the `error` event. It must work unchanged.
 */
import t from 'tap'
import { buildServer, collect, nextEvent, raw, request, sync } from './helper.js'

t.test('a seed client runs a whole call without acks', async (t) => {
  const { connect } = await buildServer(t)
  const [alice, bob] = [await connect(), await connect()]

  raw(alice).emit('register-username', 'alice')
  const roomIdEvent = nextEvent(alice, 'room-id')
  raw(alice).emit('create-room')
  const roomId = await roomIdEvent

  const bobJoined = nextEvent(bob, 'room-joined')
  const aliceSeesBob = nextEvent(alice, 'user-joined')
  raw(bob).emit('register-username', 'bob')
  raw(bob).emit('join-room', roomId)
  t.match(await bobJoined, { roomId, users: [{ id: alice.id, username: 'alice' }, { id: bob.id, username: 'bob' }] })
  t.match(await aliceSeesBob, { id: bob.id, username: 'bob' })

  const offer = nextEvent(bob, 'signal')
  raw(alice).emit('signal', { to: bob.id, signal: { type: 'offer', sdp: 'v=0' } })
  t.same(await offer, { from: alice.id, signal: { type: 'offer', sdp: 'v=0' } })

  const status = nextEvent(alice, 'camera-mic-status')
  raw(bob).emit('camera-mic-status', { id: bob.id, roomId, camera: false, mic: true })
  t.same(await status, { id: bob.id, camera: false, mic: true })

  const list = nextEvent(bob, 'user-list')
  raw(bob).emit('user-list', roomId)
  t.equal((await list).length, 2)

  const left = nextEvent(alice, 'user-left')
  raw(bob).emit('LeaveRoom', roomId)
  t.equal(await left, bob.id)
})

t.test('a failure without an ack arrives once, as the seed\'s plain error string', async (t) => {
  const { connect } = await buildServer(t, { MAX_USERS_PER_ROOM: '2' })
  const [alice, bob, carol] = [await connect(), await connect(), await connect()]
  const carolErrors = collect(carol, 'error')

  raw(carol).emit('create-room')
  raw(carol).emit('register-username', 'carol')
  raw(carol).emit('join-room', 'abc-defg-hjk')
  await sync(carol)
  t.same(carolErrors, ['Please register a username first.', 'Room ID not found.'])

  raw(alice).emit('register-username', 'alice')
  const roomIdEvent = nextEvent(alice, 'room-id')
  raw(alice).emit('create-room')
  const roomId = await roomIdEvent
  await request(bob, 'join-room', { roomId, username: 'bob' })
  raw(carol).emit('join-room', roomId)
  await sync(carol)
  t.equal(carolErrors.at(-1), 'Room is full.')

  const count = carolErrors.length
  t.match(await request(carol, 'join-room', roomId), { success: false, code: 'ROOM_FULL' })
  await sync(carol)
  t.equal(carolErrors.length, count, 'with an ack, no error event as well')
})
