/**
 * The packet log's per-packet numbers: a ring of typed arrays that grows with the packets held
 * and shrinks once they go, keeping every packet's numbers in place across both.
 */
import t from 'tap'
import { createPacketColumns, PacketField } from '../src/recovery/packet-columns.js'

/** Each packet's numbers derived from its number, so any packet can be checked. */
function push(columns: ReturnType<typeof createPacketColumns>, n: number): number {
  return columns.push(n * 10, n % 7, n % 1000, n % 13, n % 17, n % 3)
}
function holds(columns: ReturnType<typeof createPacketColumns>, n: number): boolean {
  return columns.time(n) === n * 10 && columns.get(n, PacketField.Chunk) === n % 7 && columns.get(n, PacketField.Start) === n % 1000 &&
    columns.get(n, PacketField.AudienceLength) === n % 13 && columns.get(n, PacketField.DataLength) === n % 17 && columns.get(n, PacketField.RoomsLeft) === n % 3
}
function allHeld(columns: ReturnType<typeof createPacketColumns>): boolean {
  for (let n = columns.first; n < columns.end; n++) if (!holds(columns, n)) return false
  return true
}

t.test('packets are numbered in order; the ring wraps, doubles and shrinks with every packet intact', async (t) => {
  const columns = createPacketColumns()
  t.equal(columns.slots, 1024)
  // Dropping as it goes, so that the ring wraps several times before it has to grow.
  const misnumbered: number[] = []
  for (let n = 0; n < 5000; n++) {
    if (push(columns, n) !== n) misnumbered.push(n)
    if (n >= 600) columns.dropUntil(n - 600)
  }
  t.same(misnumbered, [], 'each packet numbered by its place')
  t.equal(columns.slots, 1024, 'a steady 600 held fit the smallest ring')
  t.ok(allHeld(columns), 'wrapped around five times, every packet held intact')
  for (let n = 5000; n < 15_000; n++) push(columns, n)
  t.equal(columns.end - columns.first, 10_601)
  t.equal(columns.slots, 16_384, 'grown by doubling to hold them')
  t.ok(allHeld(columns), 'intact after growing from a wrapped ring')
  columns.set(14_999, PacketField.RoomsLeft, 0)
  t.equal(columns.get(14_999, PacketField.RoomsLeft), 0, 'a field can be changed')
  columns.set(14_999, PacketField.RoomsLeft, 14_999 % 3)
  columns.dropUntil(14_000)
  t.equal(columns.slots, 2048, 'shrunk, halving while a quarter would still hold them')
  t.ok(allHeld(columns), 'intact after shrinking')
  columns.dropUntil(20_000)
  t.equal(columns.first, 15_000, 'dropping past the newest drops them all')
  t.equal(columns.slots, 1024, 'and it is back at its smallest')
  t.equal(push(columns, 15_000), 15_000, 'numbering goes on')
})

t.test('numbers past 2^32 keep their slots', async (t) => {
  const start = 2 ** 32 - 700
  const columns = createPacketColumns(start)
  for (let n = start; n < start + 3000; n++) push(columns, n)
  t.equal(columns.slots, 4096)
  t.ok(allHeld(columns), 'across 2^31 and 2^32, and after growing')
  columns.dropUntil(start + 2900)
  t.ok(allHeld(columns), 'and after shrinking')
})
