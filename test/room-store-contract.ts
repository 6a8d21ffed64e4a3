/**
 * What every RoomStore must do, whatever it is built on. Each implementation's test file calls
 * this with a factory for fresh, empty stores.
 */
import type { Test } from 'tap'
import { displayNames } from '../src/events/username.js'
import type { Member } from '../src/protocol.js'
import type { RoomStore, SeatRequest } from '../src/rooms/room-store.js'

export type StoreFactory = (t: Test, capacity: number) => Promise<RoomStore>

/** How the members list shows a member. */
export const member = (id: string, username = id): Member => ({ id, username, camera: true, mic: true })

/** A request for a seat: member `id` asking for `name`, on connection `conn-<id>`. */
export const seat = (id: string, name = id, subject?: string): SeatRequest => ({
  id,
  camera: true,
  mic: true,
  name,
  names: displayNames(name, 16),
  connectionId: `conn-${id}`,
  subject
})

export function roomStoreContract(t: Test, createStore: StoreFactory): void {
  t.test('create seats the owner in a room with a fresh id', async (t) => {
    const store = await createStore(t, 4)
    const a = await store.create(seat('a'))
    const b = await store.create(seat('b'))
    t.not(a.roomId, b.roomId)
    t.same(a.member, member('a'))
    t.same(await store.members(a.roomId), [member('a')])
    t.ok(await store.isMember(a.roomId, 'a'))
    t.notOk(await store.isMember(a.roomId, 'b'))
  })

  t.test('join seats members in order up to the capacity', async (t) => {
    const store = await createStore(t, 3)
    const { roomId } = await store.create(seat('a'))
    t.same(await store.join(roomId, seat('b')), { status: 'joined', members: [member('a'), member('b')], member: member('b') })
    t.same(await store.join(roomId, seat('c')), { status: 'joined', members: [member('a'), member('b'), member('c')], member: member('c') })
    t.same(await store.join(roomId, seat('d')), { status: 'full' })
    t.same(await store.join(roomId, seat('b')), { status: 'joined', members: [member('a'), member('b'), member('c')], member: member('b') },
      'a member already seated does not take a second seat, even when full')
    t.same(await store.join('nnn-nnnn-nnn', seat('e')), { status: 'not-found' })
  })

  t.test('concurrent joins never exceed the capacity', async (t) => {
    const store = await createStore(t, 4)
    const { roomId } = await store.create(seat('owner'))
    const outcomes = await Promise.all(Array.from({ length: 20 }, (_, i) => store.join(roomId, seat(`m${i}`))))
    t.equal(outcomes.filter((o) => o.status === 'joined').length, 3)
    t.equal((await store.members(roomId))?.length, 4)
  })

  t.test('no two members are shown under names that look alike: the later one gets "name (2)"', async (t) => {
    const store = await createStore(t, 4)
    const { roomId } = await store.create(seat('a', 'alice'))
    t.match(await store.join(roomId, seat('b', 'alice')), { member: member('b', 'alice (2)') }, 'the same name')
    t.match(await store.join(roomId, seat('c', 'ALICE')), { member: member('c', 'ALICE (3)') }, 'in other case')
    t.match(await store.join(roomId, seat('d', '\u0430lice')), { member: member('d', '\u0430lice (4)') }, 'with a Cyrillic а')
    t.same((await store.members(roomId))?.map((m) => m.username), ['alice', 'alice (2)', 'ALICE (3)', '\u0430lice (4)'])

    const other = await createStore(t, 4)
    const room = await other.create(seat('a', 'alice'))
    const joined = await Promise.all(['b', 'c', 'd'].map((id) => other.join(room.roomId, seat(id, 'bob'))))
    t.same(joined.map((o) => (o.status === 'joined' ? o.member.username : o.status)).sort(), ['bob', 'bob (2)', 'bob (3)'],
      'concurrent joiners of one name each get a name of their own')
  })

  t.test('rename gives a seated member the name, or "name (2)" when another member\'s looks the same', async (t) => {
    const store = await createStore(t, 4)
    const { roomId } = await store.create(seat('a', 'alice'))
    await store.join(roomId, seat('b', 'bob'))
    t.equal(await store.rename(roomId, 'b', 'Alice', displayNames('Alice', 4)), 'Alice (2)')
    t.equal(await store.rename(roomId, 'a', 'alice', displayNames('alice', 4)), 'alice', 'renaming to one\'s own name keeps it')
    t.equal(await store.rename(roomId, 'b', 'carol', displayNames('carol', 4)), 'carol')
    t.same(await store.members(roomId), [member('a', 'alice'), member('b', 'carol')])
    t.equal(await store.rename(roomId, 'zed', 'x', displayNames('x', 4)), undefined, 'not seated')
  })

  t.test('leave frees the seat and deletes the room when it empties', async (t) => {
    const store = await createStore(t, 2)
    const { roomId } = await store.create(seat('a'))
    await store.join(roomId, seat('b'))
    t.same(await store.leave(roomId, 'b'), { left: true, roomDeleted: false })
    t.same(await store.leave(roomId, 'b'), { left: false, roomDeleted: false }, 'leaving twice is harmless')
    t.same(await store.join(roomId, seat('c')), { status: 'joined', members: [member('a'), member('c')], member: member('c') })
    await store.leave(roomId, 'c')
    t.same(await store.leave(roomId, 'a'), { left: true, roomDeleted: true })
    t.equal(await store.members(roomId), undefined)
    t.same(await store.join(roomId, seat('a')), { status: 'not-found' })
    t.same(await store.leave('nnn-nnnn-nnn', 'a'), { left: false, roomDeleted: false })
  })

  t.test('update changes a seated member only', async (t) => {
    const store = await createStore(t, 4)
    const { roomId } = await store.create(seat('a'))
    t.ok(await store.update(roomId, 'a', { camera: false }))
    t.ok(await store.update(roomId, 'a', { mic: false }))
    t.same(await store.members(roomId), [{ id: 'a', username: 'a', camera: false, mic: false }])
    t.notOk(await store.update(roomId, 'zed', { camera: false }))
    t.notOk(await store.update('nnn-nnnn-nnn', 'a', { camera: false }))
  })

  t.test('members are copies: changing one does not change the store', async (t) => {
    const store = await createStore(t, 4)
    const { roomId } = await store.create(seat('a'))
    const [first] = (await store.members(roomId)) ?? []
    first!.username = 'mutated'
    t.equal((await store.members(roomId))?.[0]?.username, 'a')
  })

  t.test('an away member keeps its seat until its deadline, then expireAway frees it', async (t) => {
    const store = await createStore(t, 2)
    const { roomId } = await store.create(seat('a'))
    await store.join(roomId, seat('b'))
    t.ok(await store.markAway(roomId, 'b', 'conn-b', 1_000), 'marked away')
    t.ok(await store.isMember(roomId, 'b'), 'still seated')
    t.same(await store.join(roomId, seat('c')), { status: 'full' }, 'the seat still counts')
    t.same(await store.expireAway(999), [], 'not before the deadline')
    t.same(await store.expireAway(1_000), [{ roomId, memberId: 'b' }])
    t.notOk(await store.isMember(roomId, 'b'))
    t.same(await store.expireAway(5_000), [], 'freed once only')
  })

  t.test('a member back in time keeps its seat; a stale markAway changes nothing', async (t) => {
    const store = await createStore(t, 4)
    const { roomId } = await store.create(seat('a'))
    await store.join(roomId, seat('b'))
    t.ok(await store.markAway(roomId, 'b', 'conn-b', 1_000))
    t.ok(await store.markBack(roomId, 'b', 'conn-b2'), 'back on a new connection')
    t.same(await store.expireAway(10_000), [], 'no longer away')
    t.notOk(await store.markAway(roomId, 'b', 'conn-b', 20_000), 'the old connection cannot mark the new one away')
    t.same(await store.expireAway(30_000), [])
    t.same(await store.members(roomId), [member('a'), member('b')])
    t.notOk(await store.markBack(roomId, 'zed', 'conn-z'), 'no seat, no return')
    t.notOk(await store.markAway('nnn-nnnn-nnn', 'b', 'conn-b2', 1), 'no room, nothing to keep')
  })

  t.test('an away member who leaves is not expired again later', async (t) => {
    const store = await createStore(t, 4)
    const { roomId } = await store.create(seat('a'))
    await store.join(roomId, seat('b'))
    await store.markAway(roomId, 'b', 'conn-b', 1_000)
    t.same(await store.leave(roomId, 'b'), { left: true, roomDeleted: false })
    t.same(await store.expireAway(2_000), [])
  })

  t.test('a join takes over the same person\'s away seat at once, full room or not', async (t) => {
    const store = await createStore(t, 2)
    const { roomId } = await store.create(seat('a'))
    await store.join(roomId, seat('b', 'bob'))
    t.ok(await store.markAway(roomId, 'b', 'conn-b', 1_000))
    t.same(await store.join(roomId, seat('b2', 'bob')),
      { status: 'joined', members: [member('a'), member('b2', 'bob')], member: member('b2', 'bob'), replaced: 'b' },
      'the reloaded page gets the seat, and its name: the old one is named')
    t.notOk(await store.isMember(roomId, 'b'))
    t.notOk(await store.markBack(roomId, 'b', 'conn-b3'), 'the old connection cannot come back to it')
    t.same(await store.expireAway(5_000), [], 'the taken seat is not freed again when its grace ends')
    t.same(await store.members(roomId), [member('a'), member('b2', 'bob')])

    const spacious = await createStore(t, 4)
    const other = await spacious.create(seat('c', 'carol'))
    await spacious.markAway(other.roomId, 'c', 'conn-c', 1_000)
    t.same(await spacious.join(other.roomId, seat('c2', 'carol')),
      { status: 'joined', members: [member('c2', 'carol')], member: member('c2', 'carol'), replaced: 'c' },
      'with room to spare too, and even when the away seat was the only one')
  })

  t.test('nobody else\'s away seat, and no connected seat, is ever taken over', async (t) => {
    const store = await createStore(t, 2)
    const { roomId } = await store.create(seat('a', 'alice'))
    await store.join(roomId, seat('b', 'bob'))
    await store.markAway(roomId, 'b', 'conn-b', 1_000)
    t.same(await store.join(roomId, seat('m', 'mallory')), { status: 'full' }, 'another name')
    t.same(await store.join(roomId, seat('a2', 'alice')), { status: 'full' }, 'the same name as a connected member')
    t.same(await store.join(roomId, seat('v', 'BOB')), { status: 'full' }, 'a name only like it')
    t.same(await store.join(roomId, seat('s', 'bob', 'sub-s')), { status: 'full' },
      'a signed-in joiner never takes a seat held without sign-in, whatever its name')
    t.same(await store.members(roomId), [member('a', 'alice'), member('b', 'bob')])
  })

  t.test('with sign-in the same person is the same subject, not the same name', async (t) => {
    const store = await createStore(t, 2)
    const { roomId } = await store.create(seat('a', 'alice', 'sub-a'))
    await store.join(roomId, seat('b', 'bob', 'sub-b'))
    await store.markAway(roomId, 'b', 'conn-b', 1_000)
    t.same(await store.join(roomId, seat('x', 'bob', 'sub-x')), { status: 'full' }, 'same name, other subject')
    t.same(await store.join(roomId, seat('y', 'bob')), { status: 'full' }, 'same name, no subject')
    t.same(await store.join(roomId, seat('b2', 'Bob L.', 'sub-b')),
      { status: 'joined', members: [member('a', 'alice'), member('b2', 'Bob L.')], member: member('b2', 'Bob L.'), replaced: 'b' },
      'the same subject, renamed or not')
  })

  t.test('a reload whose name another member has taken meanwhile gets a name of its own', async (t) => {
    const store = await createStore(t, 3)
    const { roomId } = await store.create(seat('a', 'alice'))
    await store.join(roomId, seat('b', 'bob'))
    await store.markAway(roomId, 'b', 'conn-b', 1_000)
    t.equal(await store.rename(roomId, 'a', 'bob', displayNames('bob', 3)), 'bob (2)', 'while bob is away, his name is still his')
    t.match(await store.join(roomId, seat('b2', 'bob')), { member: member('b2', 'bob'), replaced: 'b' }, 'and he gets it back')
  })
}
