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
  // The event maps are types only: `npm test` type-checks this file, which fails if they are not
  // exported (the import above) or lose these events.
  const events = ['join-room', 'room-joined'] satisfies Array<keyof ClientToServerEvents | keyof ServerToClientEvents>
  void events
})
