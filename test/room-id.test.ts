import t from 'tap'
import { createRoomId, normaliseRoomId, ROOM_ID_ALPHABET, ROOM_ID_LETTERS } from '../src/rooms/room-id.js'

t.test('ids read as abc-defg-hjk from an alphabet without look-alikes, and carry 45 bits', async (t) => {
  t.notMatch(ROOM_ID_ALPHABET, /[ilo0-9]/)
  t.ok(ROOM_ID_LETTERS * Math.log2(ROOM_ID_ALPHABET.length) > 45)
  const ids = Array.from({ length: 2000 }, createRoomId)
  const malformed = ids.filter((id) => !/^[a-hjkmnp-z]{3}-[a-hjkmnp-z]{4}-[a-hjkmnp-z]{3}$/.test(id))
  t.same(malformed, [], 'every id has the readable shape')
  const seen = new Set(ids)
  t.equal(seen.size, 2000, 'no repeats in 2000 draws')
  const letterCounts = new Map<string, number>()
  for (const id of seen) for (const c of id.replace(/-/g, '')) letterCounts.set(c, (letterCounts.get(c) ?? 0) + 1)
  t.equal(letterCounts.size, ROOM_ID_ALPHABET.length, 'every letter is used')
})

t.test('normalising accepts what a person types and rejects the rest', async (t) => {
  t.equal(normaliseRoomId('abc-defg-hjk'), 'abc-defg-hjk')
  t.equal(normaliseRoomId(' ABCDEFGHJK '), 'abc-defg-hjk')
  t.equal(normaliseRoomId('abc defg hjk'), 'abc-defg-hjk')
  t.equal(normaliseRoomId('a-b-c-d-e-f-g-h-j-k'), 'abc-defg-hjk')
  for (const bad of ['', 'abc-defg-hj', 'abc-defg-hjkm', 'abc-defg-hji', 'a1b2c3', 'ab9-defg-hjk', 'abc_defg_hjk']) {
    t.equal(normaliseRoomId(bad), undefined, JSON.stringify(bad))
  }
})
