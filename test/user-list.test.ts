import t from 'tap'
import { buildServer, createRoom, joinRoom, nextEvent, request } from './helper.js'

t.test('user-list answers the caller\'s own room, in every form', async (t) => {
  const { connect } = await buildServer(t)
  const [alice, bob] = [await connect(), await connect()]
  const roomId = await createRoom(alice, 'alice')
  await joinRoom(bob, roomId, 'bob')
  const users = [
    { id: alice.id, username: 'alice', camera: true, mic: true },
    { id: bob.id, username: 'bob', camera: true, mic: true }
  ]
  for (const payload of [[], [roomId], [{ roomId }], [{}]]) {
    const event = nextEvent(bob, 'user-list')
    t.same(await request(bob, 'user-list', ...payload), { success: true, ok: true, users }, JSON.stringify(payload))
    t.same(await event, users)
  }
})

t.test('user-list never lists a room the caller is not in', async (t) => {
  const { connect } = await buildServer(t)
  const [alice, bob, loner] = [await connect(), await connect(), await connect()]
  const roomId = await createRoom(alice, 'alice')
  await createRoom(bob, 'bob')
  t.match(await request(bob, 'user-list', roomId), { success: false, code: 'NOT_IN_ROOM' })
  t.match(await request(loner, 'user-list', roomId), { success: false, code: 'NOT_IN_ROOM' })
  t.match(await request(loner, 'user-list'), { success: false, code: 'NOT_IN_ROOM' })
  t.match(await request(alice, 'user-list', 7), { success: false, code: 'INVALID_PAYLOAD' })
})
