/**
 * A frontend types its socket with the package's exported event maps: the package must resolve by
 * its name to the built files (npm test builds them first).
 */
import t from 'tap'
import type { ClientToServerEvents, ServerToClientEvents } from 'signaling-server'

t.test('the package exports the protocol and the app', async (t) => {
  const exported = await import('signaling-server')
  t.equal(exported.ERROR_MESSAGES.ROOM_FULL, 'Room is full.')
  t.equal(typeof exported.app, 'function')
  t.ok(exported.JoinRoomPayload, 'payload schemas too')
  // Compile-time check (npm test type-checks the tests): the maps are usable as Socket.IO generics.
  const events: Array<keyof ClientToServerEvents | keyof ServerToClientEvents> = ['join-room', 'room-joined']
  t.same(events, ['join-room', 'room-joined'])
})
