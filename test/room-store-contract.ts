/**
 * What every RoomStore must do, whatever it is built on. Each implementation's test file calls
 * this with a factory for fresh, empty stores.
 */
import type { Test } from 'tap'
import type { Member } from '../src/protocol.js'
import type { RoomStore } from '../src/rooms/room-store.js'

export type StoreFactory = (t: Test, capacity: number) => Promise<RoomStore>

const member = (id: string, username = id): Member => ({ id, username, camera: true, mic: true })

export function roomStoreContract(t: Test, createStore: StoreFactory): void {
  t.test('create seats the owner in a room with a fresh id', async (t) => {
    const store = await createStore(t, 4)
    const a = await store.create(member('a'), 'conn-a')
    const b = await store.create(member('b'), 'conn-b')
    t.not(a, b)
    t.same(await store.members(a), [member('a')])
    t.ok(await store.isMember(a, 'a'))
    t.notOk(await store.isMember(a, 'b'))
  })

  t.test('join seats members in order up to the capacity', async (t) => {
    const store = await createStore(t, 3)
    const roomId = await store.create(member('a'), 'conn-a')
    t.same(await store.join(roomId, member('b'), 'conn-b'), { status: 'joined', members: [member('a'), member('b')] })
    t.same(await store.join(roomId, member('c'), 'conn-c'), { status: 'joined', members: [member('a'), member('b'), member('c')] })
    t.same(await store.join(roomId, member('d'), 'conn-d'), { status: 'full' })
    t.same(await store.join(roomId, member('b'), 'conn-b'), { status: 'joined', members: [member('a'), member('b'), member('c')] },
      'a member already seated does not take a second seat, even when full')
    t.same(await store.join('nnn-nnnn-nnn', member('e'), 'conn-e'), { status: 'not-found' })
  })

  t.test('concurrent joins never exceed the capacity', async (t) => {
    const store = await createStore(t, 4)
    const roomId = await store.create(member('owner'), 'conn-owner')
    const outcomes = await Promise.all(Array.from({ length: 20 }, (_, i) => store.join(roomId, member(`m${i}`), `conn-${i}`)))
    t.equal(outcomes.filter((o) => o.status === 'joined').length, 3)
    t.equal((await store.members(roomId))?.length, 4)
  })

  t.test('leave frees the seat and deletes the room when it empties', async (t) => {
    const store = await createStore(t, 2)
    const roomId = await store.create(member('a'), 'conn-a')
    await store.join(roomId, member('b'), 'conn-b')
    t.same(await store.leave(roomId, 'b'), { left: true, roomDeleted: false })
    t.same(await store.leave(roomId, 'b'), { left: false, roomDeleted: false }, 'leaving twice is harmless')
    t.same(await store.join(roomId, member('c'), 'conn-c'), { status: 'joined', members: [member('a'), member('c')] })
    await store.leave(roomId, 'c')
    t.same(await store.leave(roomId, 'a'), { left: true, roomDeleted: true })
    t.equal(await store.members(roomId), undefined)
    t.same(await store.join(roomId, member('a'), 'conn-a'), { status: 'not-found' })
    t.same(await store.leave('nnn-nnnn-nnn', 'a'), { left: false, roomDeleted: false })
  })

  t.test('update changes a seated member only', async (t) => {
    const store = await createStore(t, 4)
    const roomId = await store.create(member('a'), 'conn-a')
    t.ok(await store.update(roomId, 'a', { camera: false }))
    t.ok(await store.update(roomId, 'a', { username: 'alice', mic: false }))
    t.same(await store.members(roomId), [{ id: 'a', username: 'alice', camera: false, mic: false }])
    t.notOk(await store.update(roomId, 'zed', { camera: false }))
    t.notOk(await store.update('nnn-nnnn-nnn', 'a', { camera: false }))
  })

  t.test('members are copies: changing one does not change the store', async (t) => {
    const store = await createStore(t, 4)
    const roomId = await store.create(member('a'), 'conn-a')
    const [first] = (await store.members(roomId)) ?? []
    first!.username = 'mutated'
    t.equal((await store.members(roomId))?.[0]?.username, 'a')
  })

  t.test('an away member keeps its seat until its deadline, then expireAway frees it', async (t) => {
    const store = await createStore(t, 2)
    const roomId = await store.create(member('a'), 'conn-a')
    await store.join(roomId, member('b'), 'conn-b1')
    t.ok(await store.markAway(roomId, 'b', 'conn-b1', 1_000), 'marked away')
    t.ok(await store.isMember(roomId, 'b'), 'still seated')
    t.same(await store.join(roomId, member('c'), 'conn-c'), { status: 'full' }, 'the seat still counts')
    t.same(await store.expireAway(999), [], 'not before the deadline')
    t.same(await store.expireAway(1_000), [{ roomId, memberId: 'b' }])
    t.notOk(await store.isMember(roomId, 'b'))
    t.same(await store.expireAway(5_000), [], 'freed once only')
  })

  t.test('a member back in time keeps its seat; a stale markAway changes nothing', async (t) => {
    const store = await createStore(t, 4)
    const roomId = await store.create(member('a'), 'conn-a')
    await store.join(roomId, member('b'), 'conn-b1')
    t.ok(await store.markAway(roomId, 'b', 'conn-b1', 1_000))
    t.ok(await store.markBack(roomId, 'b', 'conn-b2'), 'back on a new connection')
    t.same(await store.expireAway(10_000), [], 'no longer away')
    t.notOk(await store.markAway(roomId, 'b', 'conn-b1', 20_000), 'the old connection cannot mark the new one away')
    t.same(await store.expireAway(30_000), [])
    t.same(await store.members(roomId), [member('a'), member('b')])
    t.notOk(await store.markBack(roomId, 'zed', 'conn-z'), 'no seat, no return')
    t.notOk(await store.markAway('nnn-nnnn-nnn', 'b', 'conn-b2', 1), 'no room, nothing to keep')
  })

  t.test('an away member who leaves is not expired again later', async (t) => {
    const store = await createStore(t, 4)
    const roomId = await store.create(member('a'), 'conn-a')
    await store.join(roomId, member('b'), 'conn-b')
    await store.markAway(roomId, 'b', 'conn-b', 1_000)
    t.same(await store.leave(roomId, 'b'), { left: true, roomDeleted: false })
    t.same(await store.expireAway(2_000), [])
  })

  t.test('a join takes over the same person\'s away seat at once, full room or not', async (t) => {
    const store = await createStore(t, 2)
    const roomId = await store.create(member('a'), 'conn-a')
    await store.join(roomId, member('b', 'bob'), 'conn-b')
    t.ok(await store.markAway(roomId, 'b', 'conn-b', 1_000))
    t.same(await store.join(roomId, member('b2', 'bob'), 'conn-b2'), { status: 'joined', members: [member('a'), member('b2', 'bob')], replaced: 'b' },
      'the reloaded page gets the seat; the old one is named')
    t.notOk(await store.isMember(roomId, 'b'))
    t.notOk(await store.markBack(roomId, 'b', 'conn-b3'), 'the old connection cannot come back to it')
    t.same(await store.expireAway(5_000), [], 'the taken seat is not freed again when its grace ends')
    t.same(await store.members(roomId), [member('a'), member('b2', 'bob')])

    const spacious = await createStore(t, 4)
    const other = await spacious.create(member('c', 'carol'), 'conn-c')
    await spacious.markAway(other, 'c', 'conn-c', 1_000)
    t.same(await spacious.join(other, member('c2', 'carol'), 'conn-c2'), { status: 'joined', members: [member('c2', 'carol')], replaced: 'c' },
      'with room to spare too, and even when the away seat was the only one')
  })

  t.test('nobody else\'s away seat, and no connected seat, is ever taken over', async (t) => {
    const store = await createStore(t, 2)
    const roomId = await store.create(member('a', 'alice'), 'conn-a')
    await store.join(roomId, member('b', 'bob'), 'conn-b')
    await store.markAway(roomId, 'b', 'conn-b', 1_000)
    t.same(await store.join(roomId, member('m', 'mallory'), 'conn-m'), { status: 'full' }, 'another name')
    t.same(await store.join(roomId, member('a2', 'alice'), 'conn-a2'), { status: 'full' }, 'the same name as a connected member')
    t.same(await store.join(roomId, member('s', 'bob'), 'conn-s', 'sub-s'), { status: 'full' },
      'a signed-in joiner never takes a seat held without sign-in, whatever its name')
    t.same(await store.members(roomId), [member('a', 'alice'), member('b', 'bob')])
  })

  t.test('with sign-in the same person is the same subject, not the same name', async (t) => {
    const store = await createStore(t, 2)
    const roomId = await store.create(member('a', 'alice'), 'conn-a', 'sub-a')
    await store.join(roomId, member('b', 'bob'), 'conn-b', 'sub-b')
    await store.markAway(roomId, 'b', 'conn-b', 1_000)
    t.same(await store.join(roomId, member('x', 'bob'), 'conn-x', 'sub-x'), { status: 'full' }, 'same name, other subject')
    t.same(await store.join(roomId, member('y', 'bob'), 'conn-y'), { status: 'full' }, 'same name, no subject')
    t.same(await store.join(roomId, member('b2', 'Bob L.'), 'conn-b2', 'sub-b'), { status: 'joined', members: [member('a', 'alice'), member('b2', 'Bob L.')], replaced: 'b' },
      'the same subject, renamed or not')
  })
}
