import t, { type Test } from 'tap'
import { buildServer, collect, createRoom, joinRoom, nextEvent, request, sync } from './helper.js'

const OFFER = { type: 'offer', sdp: 'v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n' + 'a=x\r\n'.repeat(1000) }
const CANDIDATE = { candidate: 'candidate:1 1 udp 2122260223 192.0.2.7 54400 typ host', sdpMid: '0', sdpMLineIndex: 0 }

async function twoInARoom(t: Test, env: Record<string, string> = {}) {
  const server = await buildServer(t, env)
  const [alice, bob] = [await server.connect(), await server.connect()]
  const roomId = await createRoom(alice, 'alice')
  await joinRoom(bob, roomId, 'bob')
  return { ...server, alice, bob, roomId }
}

t.test('a signal reaches the named member of the same room, unchanged, stamped with the sender', async (t) => {
  const { alice, bob } = await twoInARoom(t)
  for (const signal of [OFFER, CANDIDATE, 'a string signal, as some libraries send']) {
    const received = nextEvent(bob, 'signal')
    t.same(await request(alice, 'signal', { to: bob.id, signal }), { success: true, ok: true })
    t.same(await received, { from: alice.id, signal })
  }
  const back = nextEvent(alice, 'signal')
  await request(bob, 'signal', { to: alice.id, signal: { type: 'answer', sdp: 'v=0' } })
  t.same(await back, { from: bob.id, signal: { type: 'answer', sdp: 'v=0' } })
})

t.test('a signal never leaves the sender\'s room', async (t) => {
  const { alice, bob, connect } = await twoInARoom(t)
  const [mallory, loner] = [await connect(), await connect()]
  await createRoom(mallory, 'mallory')
  const bobSees = collect(bob, 'signal')

  t.match(await request(mallory, 'signal', { to: bob.id, signal: OFFER }), { success: false, code: 'PEER_NOT_FOUND' },
    'a member of another room cannot reach in')
  t.match(await request(loner, 'signal', { to: bob.id, signal: OFFER }), { success: false, code: 'NOT_IN_ROOM' },
    'a socket in no room cannot signal at all')
  t.match(await request(alice, 'signal', { to: mallory.id, signal: OFFER }), { success: false, code: 'PEER_NOT_FOUND' },
    'a member cannot reach out either')
  t.match(await request(alice, 'signal', { to: alice.id, signal: OFFER }), { success: false, code: 'PEER_NOT_FOUND' })
  await sync(bob)
  t.same(bobSees, [])
})

t.test('a member who left for another room gets no signal from the first, and may be signalled in the new one', async (t) => {
  // He left the first room's seat room with it: nothing from there reaches him, even acked wrongly.
  const { alice, bob, connect } = await twoInARoom(t)
  const carol = await connect()
  t.match(await request(bob, 'leave-room'), { success: true })
  const elsewhere = await createRoom(bob, 'bob')
  await joinRoom(carol, elsewhere, 'carol')
  const bobSees = collect(bob, 'signal')
  t.match(await request(alice, 'signal', { to: bob.id, signal: OFFER }), { success: false, code: 'PEER_NOT_FOUND' })
  t.same(await request(carol, 'signal', { to: bob.id, signal: CANDIDATE }), { success: true, ok: true })
  await sync(bob)
  t.same(bobSees, [{ from: carol.id, signal: CANDIDATE }], 'only the signal from his new room')
})

t.test('naming the room instead of a socket id does not broadcast to the room', async (t) => {
  const { alice, bob, roomId } = await twoInARoom(t)
  const bobSees = collect(bob, 'signal')
  t.match(await request(alice, 'signal', { to: roomId, signal: OFFER }), { success: false, code: 'PEER_NOT_FOUND' })
  await sync(bob)
  t.same(bobSees, [])
})

t.test('bad signals are refused: missing fields, null, oversized, too deep', async (t) => {
  const { alice, bob } = await twoInARoom(t, { MAX_SIGNAL_BYTES: '4096' })
  for (const bad of [null, undefined, 'offer', { to: bob.id }, { to: bob.id, signal: null }, { signal: OFFER }, [bob.id, OFFER]]) {
    t.match(await request(alice, 'signal', bad), { success: false, code: 'INVALID_PAYLOAD' }, JSON.stringify(bad) ?? 'undefined')
  }
  t.match(await request(alice, 'signal', { to: bob.id, signal: OFFER }), { success: false, code: 'PAYLOAD_TOO_LARGE' })
  let deep: unknown = { end: true }
  for (let i = 0; i < 100; i++) deep = { deep }
  t.match(await request(alice, 'signal', { to: bob.id, signal: deep }), { success: false, code: 'PAYLOAD_TOO_LARGE' })
  t.same(await request(alice, 'signal', { to: bob.id, signal: CANDIDATE }), { success: true, ok: true }, 'the call goes on')
})
