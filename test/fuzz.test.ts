/**
 * Property: whatever a client throws at any event, in any order, the server answers with a known
 * outcome and a call in another room keeps working.
 */
import fc from 'fast-check'
import t from 'tap'
import { ERROR_MESSAGES } from '../src/protocol.js'
import { buildServer, createRoom, joinRoom, nextEvent, raw, request, sync } from './helper.js'

const EVENTS = ['register-username', 'create-room', 'join-room', 'leave-room', 'LeaveRoom', 'signal', 'camera-mic-status', 'user-list']

t.test('random payloads at every event never disturb another room', async (t) => {
  const { connect } = await buildServer(t, { RATE_LIMIT_BURST: '100000', MAX_FAILED_JOINS: '100000' })
  const [alice, bob, fuzzer] = [await connect(), await connect(), await connect()]
  const roomId = await createRoom(alice, 'alice')
  await joinRoom(bob, roomId, 'bob')
  // The fuzzer knows alice's and bob's socket ids (as an eavesdropper might), not their room id.

  const payload = fc.oneof(
    fc.anything({ withObjectString: true, withNullPrototype: true, maxDepth: 6 }),
    fc.record({
      username: fc.oneof(fc.string(), fc.anything()),
      roomId: fc.oneof(fc.string(), fc.anything()),
      to: fc.oneof(fc.constant(alice.id), fc.constant(bob.id), fc.string()),
      signal: fc.anything({ maxDepth: 4 }),
      camera: fc.oneof(fc.boolean(), fc.anything()),
      mic: fc.oneof(fc.boolean(), fc.anything())
    }, { requiredKeys: [] }),
    fc.string()
  )
  // With an ack (answers checked) or without (the seed clients' way: failures come as `error`).
  const step = fc.tuple(fc.constantFrom(...EVENTS), payload, fc.boolean())

  await fc.assert(
    fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 8 }), async (steps) => {
      for (const [event, value, withAck] of steps) {
        if (!withAck) {
          raw(fuzzer).emit(event, value)
          continue
        }
        const result = await request(fuzzer, event, value)
        if (!result.success && !(result.code in ERROR_MESSAGES)) return false
      }
      await sync(fuzzer)
      if (!fuzzer.connected) return false
      // Whatever happened, the fuzzer never got into alice and bob's full call…
      const members = await request(alice, 'user-list')
      if (!members.success || members.users.length !== 2) return false
      // …and their call still relays.
      const received = nextEvent(bob, 'signal')
      const sent = await request(alice, 'signal', { to: bob.id, signal: { candidate: 'c' } })
      const got = await received
      await request(fuzzer, 'leave-room')
      return sent.success === true && got.from === alice.id
    }),
    { numRuns: 150 }
  )
  t.pass('150 random runs of up to 8 events')
})
