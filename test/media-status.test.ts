import t from 'tap'
import { buildServer, collect, createRoom, joinRoom, nextEvent, request, sync } from './helper.js'

t.test('camera-mic-status goes to the others with the sender\'s real id, and is remembered', async (t) => {
  const { connect } = await buildServer(t)
  const [alice, bob, carol] = [await connect(), await connect(), await connect()]
  const roomId = await createRoom(alice, 'alice')
  await joinRoom(bob, roomId, 'bob')
  const aliceSees = collect(alice, 'camera-mic-status')
  const bobSees = nextEvent(bob, 'camera-mic-status')

  const result = await request(alice, 'camera-mic-status', { id: bob.id, roomId, camera: false, mic: false })
  t.same(result, { success: true, ok: true, id: alice.id, camera: false, mic: false }, 'a spoofed id is ignored')
  t.same(await bobSees, { id: alice.id, camera: false, mic: false })
  await sync(alice)
  t.same(aliceSees, [], 'the sender is not echoed')

  const joined = await joinRoom(carol, roomId, 'carol')
  t.match(joined, { success: true, users: [{ id: alice.id, camera: false, mic: false }, { id: bob.id, camera: true, mic: true }] },
    'a late joiner sees the current state')
})

t.test('camera-mic-status outside one\'s own room is refused', async (t) => {
  const { connect } = await buildServer(t)
  const [alice, bob, loner] = [await connect(), await connect(), await connect()]
  const roomId = await createRoom(alice, 'alice')
  const otherRoom = await createRoom(bob, 'bob')
  const aliceSees = collect(alice, 'camera-mic-status')
  t.match(await request(bob, 'camera-mic-status', { roomId, camera: true, mic: false }), { success: false, code: 'NOT_IN_ROOM' })
  t.match(await request(loner, 'camera-mic-status', { roomId, camera: true, mic: false }), { success: false, code: 'NOT_IN_ROOM' })
  t.match(await request(alice, 'camera-mic-status', { camera: 'yes', mic: false }), { success: false, code: 'INVALID_PAYLOAD' })
  t.match(await request(alice, 'camera-mic-status', 'muted'), { success: false, code: 'INVALID_PAYLOAD' })
  await sync(alice)
  t.same(aliceSees, [])
  t.match(await request(bob, 'camera-mic-status', { roomId: otherRoom, camera: true, mic: false }), { success: true },
    'while his own room takes it')
})
