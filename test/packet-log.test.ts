/**
 * The packet log that stands in for Socket.IO's in-memory recovery buffer: what a resume gets
 * back, by Socket.IO's audience rule, and what pruning lets go of; and the adapter around it.
 * Resumes through real clients are in reconnect.test.ts.
 */
import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { Server, type Socket as ServerSocket } from 'socket.io'
import { io as ioClient, Manager } from 'socket.io-client'
import { createPacketLog, type PacketLogOptions } from '../src/recovery/packet-log.js'
import { createPacketLogAdapter } from '../src/recovery/packet-log-adapter.js'
import { createJsonOnlyParser, JsonReusingEncoder } from '../src/events/json-only-parser.js'
import type { Packet } from 'socket.io-parser'

/**
 * A log whose packets the tests name by their last element, the offset, as the adapter writes it:
 * the log itself numbers them, and the adapter's offsets spell those numbers (tested below).
 */
function labelledLog(options: PacketLogOptions) {
  const log = createPacketLog(options)
  const { add, since } = log
  const numbers = new Map<string, number>()
  return Object.assign(log, {
    /** The log's add, given the data rather than its JSON. */
    add(emittedAt: number, rooms: string[], except: string[], data: unknown[], live?: string[]): number {
      const number = add(emittedAt, rooms, except, JSON.stringify(data), live)
      numbers.set(String(data.at(-1)), number)
      return number
    },
    since(label: string, socketRooms: string[], from?: number): unknown[][] | undefined {
      const number = numbers.get(label)
      if (number === undefined) throw new Error(`no packet was named ${label}`)
      return since(number, socketRooms, from)
    },
    /** The log's own answer for a number. */
    sinceNumber: since
  })
}

function newLog(capacityBytes = 1 << 20) {
  return labelledLog({ capacityBytes })
}

function fourPackets() {
  const log = newLog()
  log.add(1000, ['alice'], [], ['signal', { from: 'bob', signal: { sdp: 'v=0\r\nline "two"\n' } }, 'a1'])
  log.add(2000, ['room-1'], ['alice'], ['user-joined', { id: 'carol' }, 'a2'])
  log.add(3000, ['room-1'], [], ['user-away', { id: 'dave' }, 'a3'])
  log.add(4000, ['bob'], [], ['keepalive', 'a4'])
  return log
}

t.test('a resume gets every later packet meant for it, unchanged, and nothing else', async (t) => {
  const log = fourPackets()
  t.same(log.since('a1', ['alice', 'room-1']), [['user-away', { id: 'dave' }, 'a3']],
    'not the one that excluded it, not one for another socket')
  t.same(log.since('a2', ['bob', 'room-1']), [['user-away', { id: 'dave' }, 'a3'], ['keepalive', 'a4']])
  t.same(log.since('a4', ['bob']), [], 'nothing after the newest')
  const everything = newLog()
  everything.add(1, ['x'], [], ['first', 'b1'])
  everything.add(2, [], [], ['to all', { text: 'new\nline' }, 'b2'])
  t.same(everything.since('b1', ['y']), [['to all', { text: 'new\nline' }, 'b2']], 'no rooms means every socket')
})

t.test('a packet that names the socket only in its data is not for it', async (t) => {
  const log = newLog()
  log.add(1, ['alice'], [], ['x', 'c1'])
  log.add(2, ['bob'], [], ['signal', { from: 'alice', to: 'bob' }, 'c2'])
  t.same(log.since('c1', ['alice']), [])
})

t.test('chunks are allocated as traffic needs them and reused: packets come back intact, multi-byte text included', async (t) => {
  let dropped = 0
  // Chunks of 200 bytes hold two of these packets (about 95 bytes each); 4 packets live at most.
  const log = labelledLog({ capacityBytes: 1200, chunkBytes: 200, onDropped: (n) => (dropped += n) })
  t.equal(log.heldBytes, 0, 'nothing is allocated before the first packet')
  const sent: unknown[][] = []
  for (let i = 0; i < 60; i++) {
    const data = ['signal', { from: 'bob', signal: { candidate: `é ${i} 🎥 ${'x'.repeat(i % 7)}` } }, `r${i}`]
    sent.push(data)
    log.add(i, ['alice'], [], data)
    log.prune(i - 2)
    if (i >= 2) t.same(log.since(`r${i - 2}`, ['alice']), sent.slice(i - 1), `after packet ${i}`)
  }
  t.equal(dropped, 0, 'pruned in time, nothing was dropped')
  t.ok(log.heldBytes <= 600, `6 kB went through ${log.heldBytes} bytes of chunks, reused`)
})

t.test('what pruning empties is kept a while for reuse, up to what the traffic took lately, then let go', async (t) => {
  let clock = 0
  const log = labelledLog({ capacityBytes: 1 << 20, chunkBytes: 1024, now: () => clock })
  for (let i = 0; i < 100; i++) log.add(i, ['alice'], [], ['signal', { candidate: 'c'.repeat(100) }, `g${i}`])
  const busy = log.heldBytes
  t.ok(busy >= 10 * 1024, `${busy} bytes held for 100 packets`)
  log.prune(1000)
  t.equal(log.size, 0)
  t.equal(log.heldBytes, busy, 'every emptied chunk is kept as a spare: the traffic took that much a moment ago')
  for (let i = 0; i < 100; i++) log.add(1000 + i, ['alice'], [], ['signal', { candidate: 'c'.repeat(100) }, `h${i}`])
  t.equal(log.heldBytes, busy, 'and reused, with nothing new allocated')
  log.prune(2000)
  clock += 20_000
  log.prune(2000)
  t.equal(log.heldBytes, busy, 'spares unused for twenty seconds are still kept: a heartbeat\'s wave of confirmations is 15 s apart')
  clock += 10_001
  log.prune(2000)
  t.equal(log.heldBytes, 0, 'spares unused for thirty seconds are let go')
})

t.test('spares never take the log past what the traffic took lately: compaction copies count', async (t) => {
  let clock = 0
  const log = labelledLog({ capacityBytes: 1 << 20, chunkBytes: 1024, now: () => clock })
  // Twenty-odd chunks, each half packets of a room that ends and half of one that stays.
  for (let i = 0; i < 130; i++) log.add(i, [i % 2 === 0 ? 'ends' : 'stays'], [], ['signal', { candidate: 'c'.repeat(100) }, `p${i}`])
  const busy = log.heldBytes
  t.ok(busy >= 20 * 1024, `${busy} bytes held at the peak`)
  log.roomGone('ends')
  // Each half-dead chunk is copied into one of half its size and goes: kept as spares, every
  // original would hold as much again as the copies on top of the peak; only those that fit are.
  t.ok(log.heldBytes <= busy, `copies and spares together within the peak (${busy} → ${log.heldBytes})`)
  t.ok(log.heldBytes >= busy - 2048, `originals kept as spares up to it (${log.heldBytes})`)
  t.equal(log.since('p1', ['stays'])?.length, 64, "the staying room's packets all there")
  clock += 30_001
  log.prune(-Infinity)
  t.ok(log.heldBytes <= busy / 2 + 1024, `spares unused for thirty seconds go (${log.heldBytes})`)
})

t.test('the recent peak is the last 30 to 60 s: a surge lends its size to spares for a while, then no more', async (t) => {
  let clock = 0
  const candidate = 'c'.repeat(100)
  const surgeThenHalfDead = (log: ReturnType<typeof labelledLog>, at: number): number => {
    for (let i = 0; i < 130; i++) log.add(at, [i % 2 === 0 ? 'ends' : 'stays'], [], ['signal', { candidate }, `p${at}-${i}`])
    const busy = log.heldBytes
    log.roomGone('ends')
    return busy
  }
  const surge = (log: ReturnType<typeof labelledLog>): void => {
    for (let i = 0; i < 260; i++) log.add(0, ['surge'], [], ['signal', { candidate }, `s${i}`])
    log.roomGone('surge')
  }

  // A surge of 40-odd chunks, all dead at once; its spares go after 30 s unused, the period rolls.
  const soon = labelledLog({ capacityBytes: 1 << 20, chunkBytes: 1024, now: () => clock })
  surge(soon)
  clock = 31_000
  soon.prune(-Infinity)
  t.ok(soon.heldBytes <= 1024, 'the surge\'s spares went')
  clock = 35_000
  const busy = surgeThenHalfDead(soon, clock)
  t.ok(soon.heldBytes > busy, `the period before counts: compaction's originals kept as spares within the surge's size (${busy} → ${soon.heldBytes})`)

  // The same a minute later, with a prune every second meanwhile: the surge no longer counts.
  clock = 0
  const later = labelledLog({ capacityBytes: 1 << 20, chunkBytes: 1024, now: () => clock })
  surge(later)
  for (let second = 1; second <= 62; second++) {
    clock = second * 1000
    later.prune(-Infinity)
  }
  const busyLater = surgeThenHalfDead(later, clock)
  t.ok(later.heldBytes <= busyLater, `two periods on: spares only within the traffic's own recent peak (${busyLater} → ${later.heldBytes})`)
})

t.test('a clock that stepped back lets the spares go rather than keep them until it catches up', async (t) => {
  let clock = 3_600_000
  const log = labelledLog({ capacityBytes: 1 << 20, chunkBytes: 1024, now: () => clock })
  for (let i = 0; i < 100; i++) log.add(clock, ['alice'], [], ['signal', { candidate: 'c'.repeat(100) }, `g${i}`])
  log.roomGone('alice')
  log.prune(0)
  t.ok(log.heldBytes >= 10 * 1024, 'spares kept')
  clock = 0
  log.prune(0)
  t.equal(log.heldBytes, 0, 'gone at the next prune')
})

t.test('at its cap the log drops its oldest packets early, and counts them', async (t) => {
  let dropped = 0
  // About 32 bytes a packet, one to a 40-byte chunk (too full to be compacted); at most four chunks.
  const log = labelledLog({ capacityBytes: 160, chunkBytes: 40, onDropped: (n) => (dropped += n) })
  for (let i = 0; i < 20; i++) log.add(i, ['alice'], [], ['keepalive', `o${i}`])
  t.equal(dropped, 16, 'each dropped packet counted')
  t.equal(log.size, 4)
  t.ok(log.heldBytes <= 160, `never more than the cap held (${log.heldBytes})`)
  t.equal(log.since('o14', ['alice']), undefined, 'an offset with dropped packets after it cannot be resumed from')
  t.same(log.since('o15', ['alice']), [['keepalive', 'o16'], ['keepalive', 'o17'], ['keepalive', 'o18'], ['keepalive', 'o19']],
    'the newest dropped one can: its socket had it, and everything after it is here')
  t.same(log.since('o18', ['alice']), [['keepalive', 'o19']], 'and the newest')
  const before = dropped
  log.add(20, ['alice'], [], ['signal', { sdp: 'v'.repeat(500) }, 'o20'])
  t.equal(dropped, before + 1, 'a packet bigger than the whole cap is not kept')
  t.equal(log.size, 4, 'and the rest stays')
  log.add(21, ['alice'], [], ['keepalive', 'o21'])
  t.equal(log.since('o18', ['alice']), undefined, 'a resume from before it fails: it may have been for that socket')
  t.same(log.since('o20', ['alice']), [['keepalive', 'o21']], 'a resume from its own offset (so it arrived) gets what came after')

  const roomy = labelledLog({ capacityBytes: 400, chunkBytes: 50 })
  const big = ['signal', { sdp: 'v'.repeat(120) }, 'b2']
  roomy.add(1, ['alice'], [], ['keepalive', 'b1'])
  roomy.add(2, ['alice'], [], big)
  roomy.add(3, ['alice'], [], ['keepalive', 'b3'])
  t.same(roomy.since('b1', ['alice']), [big, ['keepalive', 'b3']], 'a packet bigger than a chunk gets a chunk of its own')
  t.ok(roomy.heldBytes > 150 && roomy.heldBytes <= 400, `counted against the cap too (${roomy.heldBytes})`)
})

t.test("at its cap the log drops the oldest chunk's packets, not more, and its numbers grow past the ring's first size", async (t) => {
  let dropped = 0
  // About 100 bytes a packet, ten to a 1000-byte chunk, four chunks under the cap.
  const log = labelledLog({ capacityBytes: 4000, chunkBytes: 1000, onDropped: (n) => (dropped += n) })
  const packet = (i: number) => ['signal', { candidate: 'c'.repeat(50) }, `d${String(i).padStart(5, '0')}`]
  let perChunk = 0
  for (let i = 0; log.heldBytes <= 1000; i++, perChunk++) log.add(i, ['alice'], [], packet(i))
  perChunk--
  t.ok(perChunk >= 8, `${perChunk} packets to a chunk`)
  const counts: number[] = []
  for (let i = perChunk + 1; i < 3000; i++) {
    const before = dropped
    log.add(i, ['alice'], [], packet(i))
    if (dropped > before) counts.push(dropped - before)
  }
  t.ok(counts.length > 100, `${counts.length} early drops`)
  t.same([...new Set(counts)], [perChunk], "each drops one chunk's packets, no more and no fewer")
  t.ok(log.heldBytes <= 4000)
  t.ok(log.offsetsHeld < 4 * perChunk + 1, 'the offsets of dropped packets go with them')
  t.same(log.since('d02998', ['alice']), [packet(2999)], '3,000 numbers in, resumes still find their packet')
  t.equal(log.since('d00100', ['alice']), undefined, 'and not a dropped one')
})

t.test('chunk ids wrap where the columns would overflow them', async (t) => {
  // Every compaction takes an id; a long-lived log passes 2^31 of them.
  const log = labelledLog({ capacityBytes: 1 << 20, chunkBytes: 200, firstChunkId: 0x7fffffff - 2 })
  const sent: unknown[][] = []
  for (let i = 0; i < 40; i++) {
    const data = ['signal', { n: i }, `w${i}`]
    log.add(i, [i % 4 === 0 ? 'stays' : `ends-${i}`], [], data)
    if (i % 4 === 0) sent.push(data)
  }
  for (let i = 0; i < 40; i++) if (i % 4 !== 0) log.roomGone(`ends-${i}`)
  t.same(log.since('w0', ['stays']), sent.slice(1), 'packets in chunks numbered past the wrap, and in their compacted copies, come back')
})

t.test('a surge of traffic takes more chunks; nothing is dropped while the cap holds it', async (t) => {
  let dropped = 0
  const log = labelledLog({ capacityBytes: 64 * 1024, chunkBytes: 4096, onDropped: (n) => (dropped += n) })
  const packet = (i: number) => ['signal', { from: 'bob', signal: { candidate: 'c'.repeat(60) } }, `s${i}`]
  let sent = 0
  // One packet a tick, 50 ticks kept; then eight a tick, then quiet.
  for (let tick = 0; tick < 600; tick++) {
    const burst = tick < 200 ? 1 : tick < 300 ? 8 : 0
    for (let n = 0; n < burst; n++) log.add(tick, ['alice'], [], packet(sent++))
    log.prune(tick - 50)
    if (tick === 299) {
      t.equal(log.size, 8 * 51, 'the whole surge is kept')
      t.equal(log.since(`s${sent - 8 * 51}`, ['alice'])!.length, 8 * 51 - 1, 'and its oldest offset resumes')
    }
  }
  t.equal(dropped, 0)
  t.equal(log.size, 0, 'all pruned once quiet')
})

t.test('a packet number it does not hold: no resume', async (t) => {
  const log = fourPackets()
  t.same(log.sinceNumber(3, ['bob']), [], 'the newest, for contrast')
  for (const number of [4, -1, 1.5, NaN, Infinity]) t.equal(log.sinceNumber(number, ['alice']), undefined, `not ${number}`)
  t.equal(newLog().sinceNumber(0, ['alice']), undefined, 'nothing in an empty log')
})

t.test('pruning drops exactly the packets older than the threshold', async (t) => {
  const log = fourPackets()
  log.prune(1000)
  t.equal(log.size, 4, 'none is older than 1000')
  log.prune(2500)
  t.equal(log.size, 2)
  t.equal(log.since('a1', ['bob']), undefined, 'an offset with pruned packets after it cannot be resumed from')
  t.same(log.since('a2', ['bob']), [['keepalive', 'a4']], 'the newest pruned one can: what came after it is all here')
  t.same(log.since('a3', ['bob']), [['keepalive', 'a4']], 'the kept ones too')
  log.prune(Number.MAX_SAFE_INTEGER)
  t.equal(log.size, 0)
})

t.test('a packet dies once none of its rooms needs it: each room gives up the packets below what its sockets confirmed', async (t) => {
  const log = newLog()
  log.add(1, ['room-a'], [], ['signal', { n: 0 }, 'c0'])
  log.add(2, ['room-a'], [], ['signal', { n: 1 }, 'c1'])
  log.add(3, ['room-a', 'room-b'], [], ['user-joined', { id: 'x' }, 'c2'])
  log.add(4, ['room-a'], [], ['signal', { n: 3 }, 'c3'])
  log.add(5, ['room-b'], [], ['signal', { n: 4 }, 'c4'])
  const asked: string[] = []
  log.releaseRooms((room) => {
    asked.push(room)
    return room === 'room-a' ? 3 : -Infinity
  })
  t.same(asked.sort(), ['room-a', 'room-b'], 'every room with packets kept is asked')
  t.equal(log.size, 3, 'room-a no longer needs c0 to c2: c0 and c1 die, c2 lives on for room-b')
  t.same(log.since('c0', ['room-b']), [['user-joined', { id: 'x' }, 'c2'], ['signal', { n: 4 }, 'c4']], 'what room-b still needs is intact')
  log.releaseRooms((room) => (room === 'room-a' ? 3 : -Infinity))
  t.equal(log.size, 3, 'giving up the same packets again changes nothing')
  log.releaseRooms((room) => (room === 'room-b' ? 4 : 3))
  t.equal(log.size, 2, 'c2 dies once room-b gives it up too')
  log.releaseRooms(() => Infinity)
  t.equal(log.size, 0, 'a room that needs nothing more: the rest die')
})

t.test('told which rooms changed, only those with packets kept are asked', async (t) => {
  const log = newLog()
  log.add(1, ['room-a'], [], ['signal', { n: 0 }, 'f0'])
  log.add(2, ['room-b'], [], ['signal', { n: 1 }, 'f1'])
  const asked: string[] = []
  const needNothing = (room: string) => {
    asked.push(room)
    return Infinity
  }
  log.releaseRooms(needNothing, ['room-b', 'room-without-packets'])
  t.same(asked, ['room-b'], 'neither an unchanged room nor one without packets')
  t.equal(log.size, 1, 'room-a keeps its packet')
  log.releaseRooms(needNothing, [])
  t.equal(log.size, 1, 'nothing changed: nothing asked, nothing released')
  log.releaseRooms(needNothing, ['room-a'])
  t.equal(log.size, 0)
})

t.test('a resume starts at the later of its offset and what the socket had confirmed, and only if all of that is still here', async (t) => {
  const log = newLog()
  for (let i = 0; i < 6; i++) log.add(i, ['alice'], [], ['signal', { n: i }, `d${i}`])
  const numbers = (packets: unknown[][] | undefined) => packets?.map((packet) => packet[2])
  t.same(numbers(log.sinceNumber(1, ['alice'], 4)), ['d4', 'd5'], 'confirmed up to d4: from there')
  t.same(numbers(log.sinceNumber(4, ['alice'], 2)), ['d5'], 'an offset later than that: from the offset')
  log.prune(-Infinity, 3)
  t.equal(log.size, 3, 'the packets before the first any socket needs are dropped')
  t.same(numbers(log.sinceNumber(1, ['alice'], 4)), ['d4', 'd5'], 'an old offset still resumes when what came after what it confirmed is here')
  t.equal(log.sinceNumber(1, ['alice']), undefined, 'without that, packets it may not have had are gone: no resume')
  t.equal(log.sinceNumber(6, ['alice'], 4), undefined, 'an offset not issued yet: no resume')
})

t.test('a chunk left sparse by confirmations is compacted only once its newest packet is compactAfterMs old; by rooms ending, at once', async (t) => {
  let clock = 0
  const sparse = (compactAfterMs: number) => {
    const log = labelledLog({ capacityBytes: 1 << 20, chunkBytes: 200, now: () => clock, compactAfterMs })
    for (let i = 0; i < 16; i++) log.add(clock, [i % 4 === 0 ? 'stays' : 'confirmed'], [], ['signal', { n: i }, `e${i}`])
    return log
  }
  const log = sparse(1000)
  const busy = log.heldBytes
  log.releaseRooms((room) => (room === 'confirmed' ? Number.MAX_SAFE_INTEGER : -Infinity))
  t.equal(log.size, 4)
  clock += 999
  log.prune(-Infinity)
  t.equal(log.heldBytes, busy, 'too young: packets confirmed so early are about to be followed by the rest, so nothing is copied yet')
  clock += 1
  log.prune(-Infinity)
  // The emptied chunks wait as spares for thirty seconds (see above), then go.
  clock += 30_001
  log.prune(-Infinity)
  t.ok(log.heldBytes < busy / 2, `old enough: the live packets copied into less (${busy} → ${log.heldBytes})`)
  t.same(log.since('e0', ['stays'])?.map((packet) => packet[2]), ['e4', 'e8', 'e12'], 'intact')

  // Thirty seconds is young for this one: only the room ending can have compacted it.
  const ended = sparse(60_000)
  ended.roomGone('confirmed')
  clock += 30_001
  ended.prune(-Infinity)
  t.ok(ended.heldBytes < busy / 2, `a room that ended: compacted at once, young as it is (${busy} → ${ended.heldBytes})`)
})

t.test('the adapter: sessions saved on disconnect, restored within the window, by offset', async (t) => {
  const graceMs = 200
  let clock = 1_000_000
  const adapterClass = createPacketLogAdapter({ graceMs, retentionMs: 60_000, logBytes: 1 << 20, now: () => clock })
  const io = new Server({ adapter: adapterClass, connectionStateRecovery: {} })
  const adapter = io.of('/').adapter
  // Not attached to an HTTP server, so only the adapter has something (its sweep) to stop.
  t.teardown(() => adapter.close())
  const none = null as unknown
  t.equal(await adapter.restoreSession('nobody', 'x'), none, 'no such session')

  // bob is connected, in his own room and room-1.
  adapter.addAll('bob', new Set(['bob', 'room-1']))
  const packet = { type: 2, data: ['signal', { from: 'alice' }] as unknown[], nsp: '/' }
  adapter.broadcast(packet, { rooms: new Set(['bob']), except: new Set() })
  const offset = packet.data.at(-1) as string
  t.type(offset, 'string', 'the offset is appended to the data, as Socket.IO does')
  // His connection drops: Socket.IO saves his session, then he leaves his rooms.
  adapter.persistSession({ sid: 'bob', pid: 'pid-bob', rooms: ['bob', 'room-1'], data: { roomId: 'room-1' } })
  adapter.delAll('bob')
  const later = { type: 2, data: ['user-away', { id: 'carol' }] as unknown[], nsp: '/' }
  adapter.broadcast(later, { rooms: new Set(['room-1']), except: new Set() })
  adapter.broadcast({ type: 2, id: 7, data: ['with-ack'], nsp: '/' }, { rooms: new Set(['bob']), except: new Set() })
  adapter.broadcast({ type: 2, data: ['volatile'], nsp: '/' }, { rooms: new Set(['bob']), except: new Set(), flags: { volatile: true } })
  const lost = { type: 2, data: ['signal', { from: 'alice' }] as unknown[], nsp: '/' }
  adapter.broadcast(lost, { rooms: new Set(['dave']), except: new Set() })
  t.equal(lost.data.length, 2, 'a packet for a socket neither here nor coming back is not kept (no offset)')

  t.equal(await adapter.restoreSession('pid-bob', 'unknown-offset'), none, 'an offset it never gave')
  // Its offsets are a prefix of its own and the packet's number in base 36: the first packet's is 0.
  t.equal(offset.at(-1), '0')
  const prefix = offset.slice(0, -1)
  for (const [text, why] of [[prefix, 'the prefix alone'], ['0', 'the number alone'], [`${prefix}00`, 'the number spelt otherwise'], [`${offset} `, 'with more after it'], [`${prefix}2`, 'a number not given yet'], [`${prefix}-1`, 'a negative one']]) {
    t.equal(await adapter.restoreSession('pid-bob', text!), none, `not ${why} (${JSON.stringify(text)})`)
  }
  const other = new Server({ adapter: adapterClass, connectionStateRecovery: {} }).of('/').adapter
  t.teardown(() => other.close())
  const elsewhere = { type: 2, data: ['signal', {}] as unknown[], nsp: '/' }
  other.broadcast(elsewhere, { rooms: new Set(), except: new Set() })
  t.not(elsewhere.data.at(-1), offset, "another adapter's first packet has an offset of its own")
  t.equal(await adapter.restoreSession('pid-bob', elsewhere.data.at(-1) as string), none, 'which does not resume here')
  t.match(await adapter.restoreSession('pid-bob', offset), {
    sid: 'bob',
    rooms: ['bob', 'room-1'],
    data: { roomId: 'room-1' },
    missedPackets: [['user-away', { id: 'carol' }, later.data.at(-1)]]
  }, 'the later packet for its rooms; none with an ack, none volatile')
  clock += graceMs + 1
  t.equal(await adapter.restoreSession('pid-bob', offset), none, 'past the grace window')
})

t.test('the adapter: a packet too large for the log still takes an offset of its own, and a resume across it fails', async (t) => {
  const adapterClass = createPacketLogAdapter({ graceMs: 10_000, retentionMs: 60_000, logBytes: 4096 })
  const adapter = new Server({ adapter: adapterClass, connectionStateRecovery: {} }).of('/').adapter
  t.teardown(() => adapter.close())
  adapter.addAll('bob', new Set(['bob']))
  const send = (data: unknown[]) => {
    const packet = { type: 2, data, nsp: '/' }
    adapter.broadcast(packet, { rooms: new Set(['bob']), except: new Set() })
    return packet.data.at(-1) as string
  }
  const before = send(['keepalive'])
  const large = send(['signal', { sdp: 'v'.repeat(5000) }])
  const after = send(['keepalive'])
  t.not(large, after, 'the next packet does not reuse its offset')
  adapter.persistSession({ sid: 'bob', pid: 'pid-bob', rooms: ['bob'], data: {} })
  adapter.delAll('bob')
  t.equal(await adapter.restoreSession('pid-bob', before), null as unknown, 'from before it: it cannot be replayed, so no resume')
  t.match(await adapter.restoreSession('pid-bob', large), { missedPackets: [['keepalive', after]] }, 'from it: what came after')
})

t.test('the adapter hands the JSON it logged to our encoder, for that packet only, and the log replays the same text', async (t) => {
  const made: RecordingEncoder[] = []
  /** Our encoder, recording what it is handed and what it writes. */
  class RecordingEncoder extends JsonReusingEncoder {
    readonly handed: string[] = []
    readonly written: unknown[] = []
    constructor() {
      super()
      made.push(this)
    }
    override reuse(packet: Packet, json: string): void {
      this.handed.push(json)
      super.reuse(packet, json)
    }
    override encode(packet: Packet): ReturnType<JsonReusingEncoder['encode']> {
      const encoded = super.encode(packet)
      this.written.push(...encoded)
      return encoded
    }
  }
  const parser = { ...createJsonOnlyParser({ maxMessageBytes: 1024 }), Encoder: RecordingEncoder }
  const adapterClass = createPacketLogAdapter({ graceMs: 10_000, retentionMs: 60_000, logBytes: 1 << 20 })
  const io = new Server({ adapter: adapterClass, connectionStateRecovery: {}, parser })
  const adapter = io.of('/').adapter
  t.teardown(() => adapter.close())
  const [encoder] = made
  if (encoder === undefined || encoder !== (io.encoder as unknown)) throw new Error('Socket.IO did not take the parser given')
  adapter.addAll('bob', new Set(['bob']))
  const signal = { from: 'alice', signal: { sdp: 'v=0\r\no=- "quoted"' } }
  io.to('bob').emit('signal', signal)
  t.equal(encoder.handed.length, 1, 'the logged broadcast handed its text over')
  const [json] = encoder.handed
  t.same(encoder.written, [`2${json}`], 'and the wire got exactly that text')
  const [, , offset] = JSON.parse(json!) as unknown[]
  t.same(JSON.parse(json!), ['signal', signal, offset], 'which is the event, its data and its offset')
  io.to('bob').volatile.emit('signal', signal)
  t.equal(encoder.handed.length, 1, 'a volatile event (never logged) is not handed over')
  t.equal(encoder.written.length, 2, 'but written all the same')
  t.same(encoder.written[1], `2${JSON.stringify(['signal', signal])}`, 'from its own data, so nothing was left pending')
  adapter.persistSession({ sid: 'bob', pid: 'pid-bob', rooms: ['bob'], data: {} })
  adapter.delAll('bob')
  io.to('bob').emit('keepalive')
  const resumed = await adapter.restoreSession('pid-bob', offset as string)
  t.same(resumed?.missedPackets, [JSON.parse(encoder.handed[1]!)], 'the log replays what it was handed')
})

t.test('packets to rooms gone for good die before their time; their offsets still resume', async (t) => {
  // About 45 bytes a packet, four to a 200-byte chunk.
  let clock = 0
  const log = labelledLog({ capacityBytes: 1 << 20, chunkBytes: 200, now: () => clock })
  const packet = (room: string, i: number) => ['signal', { n: i }, `${room}-${i}`]
  // Two rooms interleaved, then a chunk of room-2's only.
  for (let i = 0; i < 16; i++) log.add(i, [i % 2 === 0 ? 'room-1' : 'room-2'], [], packet(i % 2 === 0 ? 'room-1' : 'room-2', i))
  for (let i = 16; i < 20; i++) log.add(i, ['room-2'], [], packet('room-2', i))
  log.add(20, ['room-1', 'room-3'], [], packet('both', 20))
  log.add(21, ['room-3'], [], packet('room-3', 21))
  const busy = log.heldBytes
  t.equal(log.size, 22)
  log.roomGone('room-2')
  t.equal(log.size, 10, "room-2's twelve packets are dead")
  t.same(log.since('room-2-1', ['room-1'])?.map((p) => p[2]), ['room-1-2', 'room-1-4', 'room-1-6', 'room-1-8', 'room-1-10', 'room-1-12', 'room-1-14', 'both-20'],
    'a socket whose last packet went to the gone room resumes from it, and gets the live ones after it')
  // Emptied chunks wait thirty seconds as spares (see above) before they go.
  clock += 30_001
  log.prune(0)
  t.equal(log.size, 10, 'pruning before the oldest packet takes none')
  t.ok(log.heldBytes <= busy / 2, `the chunk of room-2's only was given back, the half-dead ones copied into less (${busy} → ${log.heldBytes})`)
  log.roomGone('room-1')
  t.equal(log.size, 2, 'a packet to two rooms lives while one of them does')
  t.same(log.since('room-1-0', ['room-3'])?.map((p) => p[2]), ['both-20', 'room-3-21'])
  log.roomGone('room-3')
  t.equal(log.size, 0)
  log.roomGone('room-3')
  log.roomGone('never-there')
  t.equal(log.size, 0, 'a room gone twice, or never there, changes nothing')
  log.prune(0)
  t.same(log.since('room-1-0', ['room-3']), [], 'the offsets are kept for the retention')
  log.prune(100)
  t.equal(log.since('room-1-0', ['room-3']), undefined, 'and go with it')
})

t.test('a chunk left sparse has its live packets copied out, intact, and goes', async (t) => {
  let clock = 0
  const log = labelledLog({ capacityBytes: 1 << 20, chunkBytes: 1024, now: () => clock })
  // Fifteen rooms that end and one that stays, interleaved over many chunks.
  const sent: unknown[][] = []
  for (let i = 0; i < 320; i++) {
    const room = i % 16 === 0 ? 'stays' : `ends-${i % 16}`
    const data = ['signal', { candidate: `é ${i} 🎥` }, `k${i}`]
    if (room === 'stays') sent.push(data)
    log.add(i, [room], [], data)
  }
  const busy = log.heldBytes
  for (let r = 1; r < 16; r++) log.roomGone(`ends-${r}`)
  t.equal(log.size, 20)
  clock += 30_001
  log.prune(0)
  t.ok(log.heldBytes * 4 < busy, `what the ended rooms held is given back (${busy} → ${log.heldBytes} bytes)`)
  t.same(log.since('k1', ['stays']), sent.slice(1), "the staying room's packets come back as they were sent")
  log.prune(1000)
  t.equal(log.size, 0)
  t.ok(log.heldBytes <= 1024, 'all pruned: at most a spare is left')
})

t.test('the adapter lets packets die with their rooms: at once when the last socket leaves, after the grace for a saved session', async (t) => {
  const graceMs = 200
  let clock = 1_000_000
  const adapterClass = createPacketLogAdapter({ graceMs, retentionMs: 60_000, logBytes: 1 << 20, now: () => clock })
  const io = new Server({ adapter: adapterClass, connectionStateRecovery: {} })
  const adapter = io.of('/').adapter as InstanceType<typeof adapterClass> & { packetsKept: number }
  t.teardown(() => adapter.close())
  const send = (room: string) => adapter.broadcast({ type: 2, data: ['signal', { to: room }], nsp: '/' }, { rooms: new Set([room]), except: new Set() })

  adapter.addAll('ann', new Set(['ann', 'call-1']))
  adapter.addAll('ben', new Set(['ben', 'call-1']))
  send('call-1')
  send('ann')
  send('ben')
  t.equal(adapter.packetsKept, 3)
  adapter.delAll('ann')
  t.equal(adapter.packetsKept, 2, "ann left for good (no session saved): the packet to her own room dies, the room's lives on with ben in it")
  // ben's connection drops: his session is saved, so his packets must wait for him.
  adapter.persistSession({ sid: 'ben', pid: 'pid-ben', rooms: ['ben', 'call-1'], data: {} })
  adapter.delAll('ben')
  send('call-1')
  t.equal(adapter.packetsKept, 3, 'kept while he may come back, and what is sent to his rooms meanwhile too')
  clock += graceMs + 1
  // The sweep runs every second on the real clock; its work is what restoreSession does at once.
  t.equal(await adapter.restoreSession('pid-ben', 'any'), null as unknown, 'his grace is over')
  t.equal(adapter.packetsKept, 0, 'with his session, the packets only he could get died')

  // A packet to two sockets, one of them gone for good already: it dies with the other.
  adapter.addAll('cy', new Set(['cy']))
  adapter.broadcast({ type: 2, data: ['keepalive'], nsp: '/' }, { rooms: new Set(['cy', 'ann']), except: new Set() })
  t.equal(adapter.packetsKept, 1)
  adapter.delAll('cy')
  t.equal(adapter.packetsKept, 0, 'a room already gone when it was sent does not keep it alive')
})

t.test('rooms ending never take the log past its cap: compaction copies count, spares give way', async (t) => {
  const cap = 64 * 1024
  const log = labelledLog({ capacityBytes: cap, chunkBytes: 4096 })
  // Sixteen calls interleaved until the log is nearly full, then half of them end, then most.
  for (let i = 0; log.heldBytes < cap - 8192; i++) log.add(i, [`call-${i % 16}`], [], ['signal', { sdp: 'v'.repeat(200) }, `f${i}`])
  let most = log.heldBytes
  for (let r = 0; r < 12; r++) {
    log.roomGone(`call-${r}`)
    most = Math.max(most, log.heldBytes)
  }
  t.ok(most <= cap, `at most the cap held while calls ended (${most} of ${cap})`)
  t.ok(log.size > 0, 'the calls still going are kept')
})

/** A listening Socket.IO server with the packet log's adapter, and a client's URL for it. */
async function listeningServer(t: Test): Promise<{ io: Server; url: string }> {
  const httpServer = createServer()
  const adapter = createPacketLogAdapter({ graceMs: 60_000, retentionMs: 60_000, logBytes: 1 << 20 })
  // Middlewares run for a recovered socket too, as when sign-in is on (recovery-plugin.ts).
  const io = new Server(httpServer, { adapter, connectionStateRecovery: { maxDisconnectionDuration: 60_000, skipMiddlewares: false } })
  httpServer.listen(0, '127.0.0.1')
  await once(httpServer, 'listening')
  t.teardown(() => io.close())
  return { io, url: `http://127.0.0.1:${(httpServer.address() as AddressInfo).port}` }
}

/** Resolves with the first of an event from a client's socket (not a Node emitter). */
function nextOf(socket: { once(event: string, listener: (...args: any[]) => void): unknown }, event: string): Promise<unknown[]> {
  return new Promise((resolve) => socket.once(event, (...args: unknown[]) => resolve(args)))
}

t.test("the adapter: what went to a restored socket's rooms while its middlewares ran follows its replay, in order", async (t) => {
  const { io, url } = await listeningServer(t)
  // A recovering socket is held in the middlewares (in its rooms, not yet connected) until released.
  let release: (() => void) | undefined
  let held = (): void => {}
  io.use((socket, next) => {
    if (!socket.recovered || release !== undefined) return next()
    release = next
    held()
  })
  let served: ServerSocket | undefined
  io.on('connection', (socket) => {
    served = socket
    void socket.join('room-1')
  })
  const client = ioClient(url, { transports: ['websocket'], reconnectionDelay: 0, reconnectionDelayMax: 0 })
  t.teardown(() => client.close())
  const got: unknown[] = []
  client.on('n', (n: unknown) => void got.push(n))
  await nextOf(client, 'connect')

  const arrival = nextOf(client, 'n')
  io.to('room-1').emit('n', 1)
  await arrival
  const inMiddleware = new Promise<void>((resolve) => (held = resolve))
  // Dropped by the server, which so has saved the session before the client comes back.
  served!.conn.close()
  await inMiddleware
  io.to('room-1').emit('n', 2)
  const reconnected = nextOf(client, 'connect')
  release!()
  await reconnected
  t.ok(client.recovered, 'recovered')
  io.to('room-1').emit('n', 3)
  // The one sent while it was held comes first, if at all; the later one after it.
  while (!got.includes(3)) await nextOf(client, 'n')
  t.same(got, [1, 2, 3], 'the packet sent while it was held arrives, before the later one')
})

t.test('the adapter: a namespace connected again and again on one connection leaves no listener behind', async (t) => {
  const { io, url } = await listeningServer(t)
  io.of('/keep')
  const serverSockets: ServerSocket[] = []
  io.on('connection', (socket) => void serverSockets.push(socket))
  const manager = new Manager(url, { transports: ['websocket'], reconnection: false })
  const keep = manager.socket('/keep')
  t.teardown(() => {
    keep.close()
    manager.engine?.close()
  })
  await nextOf(keep, 'connect')
  const main = manager.socket('/')
  const listeners: number[] = []
  for (let i = 0; i < 4; i++) {
    const connected = nextOf(main, 'connect')
    main.connect()
    await connected
    const conn = serverSockets.at(-1)!.conn
    listeners.push(conn.listenerCount('packetCreate') + conn.listenerCount('heartbeat'))
    const gone = nextOf(main, 'disconnect')
    serverSockets.at(-1)!.disconnect()
    await gone
  }
  t.equal(new Set(serverSockets.map((socket) => socket.conn)).size, 1, 'one engine.io connection throughout')
  t.same(listeners, [listeners[0], listeners[0], listeners[0], listeners[0]], 'as many listeners on it each time')
})
