import { createPacketColumns, PacketField } from './packet-columns.js'

/** The size of a chunk of the log: what it allocates at a time, 1 MiB or an eighth of a smaller cap. */
const STANDARD_CHUNK_BYTES = 1 << 20
/**
 * An emptied chunk kept for reuse goes after this long unused. Confirmations empty chunks in waves,
 * once a heartbeat (10 s + 5 s by default), and the traffic until the next wave refills them: a
 * spare must outlive a wave, or the next one writes into fresh pages, at 10-40 µs a page
 * (docs/performance.md, ninth session). A heartbeat slower than about 25 s outlives it: spares then
 * go between waves, which costs those faults again and nothing else.
 */
const SPARE_IDLE_MS = 30_000
/** A chunk no longer written to whose live packets fill less than this share of it has them copied
 * out, and goes: copying at most three times as much as died keeps the cost of a byte kept bounded,
 * and a chunk no longer written to holds at most a third more than its live packets (docs/recovery.md). */
const COMPACT_BELOW = 0.75

export interface PacketLogOptions {
  /** The most bytes the log may hold, packets and spare chunks together. */
  capacityBytes: number
  /** The unit it allocates in (see STANDARD_CHUNK_BYTES). */
  chunkBytes?: number
  /** Told of each packet dropped before its time because the log was at its cap. */
  onDropped?: (packets: number) => void
  /** The clock (epoch ms) for spares' idle time; tests pass their own. */
  now?: () => number
  /** The first chunk's id (0): tests start near the wrap. */
  firstChunkId?: number
  /**
   * A chunk left sparse by confirmations (`releaseRooms`) is compacted only once its newest packet
   * is this old (0: at once): packets that die as their recipients confirm them die within a
   * heartbeat of being sent, and compacting their chunk before then would copy what is about to
   * die, into fresh pages, again and again. Rooms ending and age still compact at once.
   */
  compactAfterMs?: number
}

/** A run of bytes holding packets back to back. */
interface Chunk {
  bytes: Buffer
  used: number
  /** Bytes of its packets still alive: at 0 the chunk goes. */
  liveBytes: number
  /** Bytes of its packets that died otherwise than by confirmation (see compactAfterMs). */
  unconfirmedDeadBytes: number
  /** The packets written to it are among those numbered from `firstPacket` up to `endPacket` (some
   * of them elsewhere, or dead, since): writing is in order, and a compacted copy keeps the range. */
  firstPacket: number
  endPacket: number
}

const { Chunk: CHUNK, Start: START, AudienceLength: AUDIENCE_LENGTH, DataLength: DATA_LENGTH, RoomsLeft: ROOMS_LEFT } = PacketField
/** The chunk of a packet too large to keep: dead from the start, and a resume across it fails. */
const NOT_KEPT = -1
/** Chunk ids are Int32 in the columns: they wrap, skipping ids still in use (every compaction takes one). */
const MAX_CHUNK_ID = 0x7fffffff

/**
 * Sent packets kept for resumes, as flat JSON bytes (each packet's audience, then its data with the
 * offset last, as Socket.IO puts it) in chunks allocated as traffic needs them. Each packet gets a
 * number, its place in emission order, from which its sender derives its offset. A packet dies when
 * it is older than the retention (`prune`), or when none of the rooms it went to needs it any more:
 * gone for good (`roomGone`), or everyone who may still get it confirmed it (`releaseRooms`); a
 * chunk goes when its packets are dead, and a sparse one has its few live packets copied out first. Per packet only a few numbers are kept, in typed arrays (packet-columns.ts).
 * Why it is built so, and what was measured, is in docs/recovery.md.
 */
export function createPacketLog({ capacityBytes, chunkBytes = Math.max(64, Math.min(STANDARD_CHUNK_BYTES, Math.floor(capacityBytes / 8))), onDropped = () => {}, now = Date.now, firstChunkId = 0, compactAfterMs = 0 }: PacketLogOptions) {
  /** Chunks by number; `writing` is the one packets are appended to. */
  const chunks = new Map<number, Chunk>()
  let nextChunk = firstChunkId
  const takeChunkId = (): number => {
    let id: number
    do {
      id = nextChunk
      nextChunk = nextChunk === MAX_CHUNK_ID ? 0 : nextChunk + 1
    } while (chunks.has(id))
    return id
  }
  let writing: number | undefined
  /** Emptied standard chunks, newest last, with when they were emptied. */
  const spares: Array<{ bytes: Buffer; since: number }> = []
  let heldBytes = 0
  /** The most bytes chunks holding packets (not spares) took, over this period of SPARE_IDLE_MS and
   * the one before: spares only fill the gap up to it, so that the log's standard chunks stay where
   * the traffic itself took them lately (a chunk for an oversized packet is allocated whatever
   * spares wait). */
  let peakNow = 0
  let peakBefore = 0
  let periodStart = now()
  const inUseBytes = (): number => heldBytes - spares.length * chunkBytes
  const notePeak = (): void => {
    peakNow = Math.max(peakNow, inUseBytes())
  }
  /** Per packet from the oldest a resume may start from: when it was sent, where its bytes are, and
   * how many of its rooms are left. */
  const packets = createPacketColumns()
  let alive = 0
  /** The numbers of the packets sent to each room, oldest first. */
  const packetsOf = new Map<string, number[]>()

  const isAlive = (n: number): boolean => n >= packets.first && n < packets.end && packets.get(n, ROOMS_LEFT) !== 0
  const lengthOf = (n: number): number => packets.get(n, AUDIENCE_LENGTH) + packets.get(n, DATA_LENGTH)

  /** Forgets the packets numbered before `until`: their offsets can no longer be resumed from.
   * Returns how many of them were still alive. */
  function dropUntil(until: number): number {
    const touched = new Set<number>()
    let killed = 0
    for (let n = packets.first; n < until; n++) {
      if (packets.get(n, ROOMS_LEFT) === 0) continue
      touched.add(markDead(n))
      killed++
    }
    packets.dropUntil(until)
    for (const id of touched) settle(id)
    return killed
  }

  /** Counts packet `n` out of its chunk's live bytes; returns the chunk. */
  function markDead(n: number, byConfirmation = false): number {
    packets.set(n, ROOMS_LEFT, 0)
    alive--
    const id = packets.get(n, CHUNK)
    const chunk = chunks.get(id)!
    const length = lengthOf(n)
    chunk.liveBytes -= length
    if (!byConfirmation) chunk.unconfirmedDeadBytes += length
    return id
  }

  /**
   * A chunk not written to goes when its packets are dead, or shrinks when few are left: at once
   * when rooms ending or age left it so, else once it is compactAfterMs old (prune looks again).
   */
  function settle(id: number, at?: number): void {
    const chunk = chunks.get(id)
    if (chunk === undefined || id === writing) return
    if (chunk.liveBytes === 0) release(id)
    else if (chunk.liveBytes < chunk.bytes.length * COMPACT_BELOW && mayCompact(chunk, at)) compact(id)
  }

  const mayCompact = (chunk: Chunk, at?: number): boolean =>
    compactAfterMs === 0 || chunk.unconfirmedDeadBytes >= chunk.bytes.length * (1 - COMPACT_BELOW) || newestAt(chunk) <= (at ?? now()) - compactAfterMs

  /** When the newest packet written to a chunk was sent (its packets are still held: it is alive). */
  const newestAt = (chunk: Chunk): number => (chunk.endPacket > packets.first ? packets.time(chunk.endPacket - 1) : -Infinity)

  function release(id: number): void {
    const chunk = chunks.get(id)!
    chunks.delete(id)
    // heldBytes still counts this chunk: kept, chunks and spares stay within the recent peak.
    if (chunk.bytes.length === chunkBytes && heldBytes <= Math.max(peakNow, peakBefore) && heldBytes <= capacityBytes) {
      spares.push({ bytes: chunk.bytes, since: now() })
    } else {
      heldBytes -= chunk.bytes.length
    }
  }

  /** Copies a sparse chunk's live packets into one of their exact size, and lets the chunk go. */
  function compact(id: number): void {
    const chunk = chunks.get(id)!
    const copy: Chunk = { bytes: Buffer.allocUnsafeSlow(chunk.liveBytes), used: 0, liveBytes: chunk.liveBytes, unconfirmedDeadBytes: 0, firstPacket: chunk.firstPacket, endPacket: chunk.endPacket }
    const copyId = takeChunkId()
    for (let n = Math.max(chunk.firstPacket, packets.first); n < chunk.endPacket; n++) {
      if (!isAlive(n) || packets.get(n, CHUNK) !== id) continue
      const length = lengthOf(n)
      const start = packets.get(n, START)
      chunk.bytes.copy(copy.bytes, copy.used, start, start + length)
      packets.set(n, CHUNK, copyId)
      packets.set(n, START, copy.used)
      copy.used += length
    }
    chunks.set(copyId, copy)
    heldBytes += copy.bytes.length
    chunk.liveBytes = 0
    release(id)
    // After the original went: the two together for a moment are no peak of the traffic's.
    notePeak()
  }

  /** Lets go of spares unused for SPARE_IDLE_MS: their pages go back to the system. A spare kept
   * within the peak of a period goes, unused, before that period stops counting. A clock that
   * stepped back restarts the period and lets the spares go, rather than keep them until it
   * catches up. */
  function trimSpares(): void {
    const at = now()
    if (at - periodStart >= SPARE_IDLE_MS || at < periodStart) {
      peakBefore = peakNow
      peakNow = inUseBytes()
      periodStart = at
    }
    const stale = at - SPARE_IDLE_MS
    while (spares.length > 0 && (spares[0]!.since < stale || spares[0]!.since > at)) {
      spares.shift()
      heldBytes -= chunkBytes
    }
  }

  /** Stops writing to the current chunk, which goes at once if all of its packets died meanwhile. */
  function closeWriting(): void {
    const id = writing
    writing = undefined
    if (id !== undefined) settle(id)
  }

  /** Lets spares go until `size` more bytes fit under the cap, or none is left; whether they fit. */
  function fitBySpares(size: number): boolean {
    while (heldBytes + size > capacityBytes && spares.length > 0) {
      spares.shift()
      heldBytes -= chunkBytes
    }
    return heldBytes + size <= capacityBytes
  }

  /** A chunk of `size` bytes to write to, dropping the oldest packets early if the cap says so. */
  function newChunk(size: number): Chunk {
    closeWriting()
    let bytes: Buffer | undefined
    if (size === chunkBytes && spares.length > 0) {
      bytes = spares.pop()!.bytes
    } else {
      let dropped = 0
      // The oldest live packet's chunk at a time: dropping the packets up to it lets that chunk go
      // (or shrink); what that emptied may have been a standard chunk, now a spare, which goes too.
      while (!fitBySpares(size) && packets.first < packets.end) {
        let until = packets.first
        while (until < packets.end && packets.get(until, ROOMS_LEFT) === 0) until++
        const oldest = until < packets.end ? chunks.get(packets.get(until, CHUNK)) : undefined
        until = oldest === undefined ? packets.end : Math.max(until + 1, Math.min(oldest.endPacket, packets.end))
        dropped += dropUntil(until)
      }
      if (dropped > 0) onDropped(dropped)
      // Not zeroed: the system provides its pages as they are first written.
      bytes = Buffer.allocUnsafeSlow(size)
      heldBytes += size
    }
    const chunk: Chunk = { bytes, used: 0, liveBytes: 0, unconfirmedDeadBytes: 0, firstPacket: packets.end, endPacket: packets.end }
    writing = takeChunkId()
    chunks.set(writing, chunk)
    notePeak()
    return chunk
  }

  /** `room` no longer needs its packets numbered below `below` (all of them at Infinity), because
   * everyone in it confirmed them or the room is gone. */
  function releaseRoom(room: string, below: number, byConfirmation: boolean, list = packetsOf.get(room)): void {
    if (list === undefined) return
    let released = 0
    while (released < list.length && list[released]! < below) released++
    if (released === 0) return
    if (released === list.length) packetsOf.delete(room)
    // Settled once each, after all died: settling per packet would copy a chunk again and again.
    const touched = new Set<number>()
    for (let i = 0; i < released; i++) {
      const n = list[i]!
      if (n < packets.first) continue
      const left = packets.get(n, ROOMS_LEFT)
      if (left <= 0) continue
      if (left === 1) touched.add(markDead(n, byConfirmation))
      else packets.set(n, ROOMS_LEFT, left - 1)
    }
    if (released < list.length) list.splice(0, released)
    for (const id of touched) settle(id)
  }

  function text(chunk: Chunk, start: number, length: number): string {
    return chunk.bytes.toString('utf8', start, start + length)
  }

  return {
    /** Packets kept. */
    get size(): number {
      return alive
    },
    /** Packets whose offsets a resume may still start from, kept or dead (each costs a few numbers). */
    get offsetsHeld(): number {
      return packets.end - packets.first
    },
    /** The number the next packet added gets: its sender derives its offset from it. */
    get nextNumber(): number {
      return packets.end
    },
    /** Bytes allocated: chunks holding packets, and spares kept for reuse. */
    get heldBytes(): number {
      return heldBytes
    },
    /** When the oldest packet a resume could still start from was sent; undefined when none is. */
    get oldestAt(): number | undefined {
      return packets.first < packets.end ? packets.time(packets.first) : undefined
    },

    /**
     * Packets arrive in emission order, each numbered `nextNumber` (returned); `json` is the text of
     * the packet's data (no client event carries binary), which its sender makes once for this and
     * the wire. `live`: those of `rooms` that someone is in or may come back to (all of them unless
     * told), the ones whose end can end the packet.
     */
    add(emittedAt: number, rooms: Iterable<string>, except: Iterable<string>, json: string, live?: string[]): number {
      const roomList = [...rooms]
      const liveRooms = live ?? roomList
      const exceptList = [...except]
      // A signal's audience is one room and no exception: its text without building arrays for it.
      const audience = roomList.length === 1 && exceptList.length === 0 ? `[[${JSON.stringify(roomList[0])}],[]]` : JSON.stringify([roomList, exceptList])
      let chunk = writing === undefined ? undefined : chunks.get(writing)
      let audienceLength: number
      let dataLength: number
      // A UTF-16 unit takes at most 3 bytes in UTF-8: where that much fits, the write itself says
      // how long the packet is, and the text is walked once, not twice.
      if (chunk !== undefined && chunk.used + (audience.length + json.length) * 3 <= chunk.bytes.length) {
        audienceLength = chunk.bytes.write(audience, chunk.used)
        dataLength = chunk.bytes.write(json, chunk.used + audienceLength)
      } else {
        audienceLength = Buffer.byteLength(audience)
        dataLength = Buffer.byteLength(json)
        if (audienceLength + dataLength > capacityBytes) {
          // Kept, it would push out everything else and still not fit. It takes its number all the
          // same (its offset was sent), dead, so that a resume from before it fails.
          onDropped(1)
          return packets.push(emittedAt, NOT_KEPT, 0, 0, 0, 0)
        }
        if (chunk === undefined || chunk.used + audienceLength + dataLength > chunk.bytes.length) chunk = newChunk(Math.max(chunkBytes, audienceLength + dataLength))
        chunk.bytes.write(audience, chunk.used)
        chunk.bytes.write(json, chunk.used + audienceLength)
      }
      const length = audienceLength + dataLength
      const start = chunk.used
      chunk.used += length
      chunk.liveBytes += length
      const n = packets.push(emittedAt, writing!, start, audienceLength, dataLength, roomList.length === 0 ? -1 : liveRooms.length)
      chunk.endPacket = n + 1
      alive++
      // Those that time or confirmations took go in prune and releaseRooms, once a second.
      for (const room of liveRooms) {
        const list = packetsOf.get(room)
        if (list === undefined) packetsOf.set(room, [n])
        else list.push(n)
      }
      return n
    },

    /**
     * Drops the packets emitted before `threshold`, and those numbered before `firstNeeded` (no
     * resume can start before it: see the adapter), and gives back the chunks that emptied.
     */
    prune(threshold: number, firstNeeded = -Infinity): void {
      let low = packets.first
      let high = packets.end
      while (low < high) {
        const middle = Math.floor((low + high) / 2)
        if (packets.time(middle) < threshold) low = middle + 1
        else high = middle
      }
      low = Math.max(low, Math.min(firstNeeded, packets.end))
      if (low > packets.first) dropUntil(low)
      // Sparse chunks too young to compact when their packets died (compactAfterMs).
      if (compactAfterMs > 0) {
        const at = now()
        for (const id of [...chunks.keys()]) settle(id, at)
      }
      // The chunk being written to goes too once nothing in it lives: it then ages as a spare.
      if (writing !== undefined && chunks.get(writing)!.liveBytes === 0) closeWriting()
      // Each room's packets that time took.
      const first = packets.first
      for (const [room, list] of packetsOf) {
        if (list.length === 0 || list.at(-1)! < first) {
          packetsOf.delete(room)
          continue
        }
        let stale = 0
        while (list[stale]! < first) stale++
        if (stale > 0) list.splice(0, stale)
      }
      trimSpares()
    },

    /**
     * Nobody is in `room` any more, nor can come back to it: a packet sent to it is dead once all
     * of its rooms are. Its offset stays, so a socket that received it can still resume from it.
     */
    roomGone(room: string): void {
      releaseRoom(room, Infinity, false)
    },

    /**
     * Each room with packets kept for it no longer needs those numbered below `neededFrom(room)`
     * (everyone who may still get them confirmed them, or left the room): a packet dies once no
     * room needs it. Called once a second by the adapter, with what its sockets confirmed, and
     * with the rooms whose need may have changed since (`changed`; every room when not given).
     */
    releaseRooms(neededFrom: (room: string) => number, changed?: Iterable<string>): void {
      const release = (room: string, list: number[]): void => {
        const from = neededFrom(room)
        if (from > packets.first) releaseRoom(room, from, from !== Infinity, list)
      }
      if (changed === undefined) {
        for (const [room, list] of packetsOf) release(room, list)
        return
      }
      for (const room of changed) {
        const list = packetsOf.get(room)
        if (list !== undefined) release(room, list)
      }
    },

    /**
     * The data of the packets after packet `number` that a socket in `socketRooms` would have
     * received, by Socket.IO's rule, starting no earlier than `from` (what the socket had not yet
     * confirmed receiving: the adapter knows); undefined when `number` was never issued here, or
     * when some of those packets are no longer held. Only the packets it gets are parsed: a resume
     * after a long drop at a high rate skips many.
     */
    since(number: number, socketRooms: string[], from = -Infinity): unknown[][] | undefined {
      if (!Number.isInteger(number) || number < 0 || number >= packets.end) return undefined
      const start = Math.max(number + 1, from)
      if (start < packets.first) return undefined
      const quoted = socketRooms.map((room) => JSON.stringify(room))
      const missed: unknown[][] = []
      for (let n = start; n < packets.end; n++) {
        const chunkId = packets.get(n, CHUNK)
        // A packet too large to keep may have been this socket's: nothing replays it.
        if (chunkId === NOT_KEPT) return undefined
        if (packets.get(n, ROOMS_LEFT) === 0) continue
        const chunk = chunks.get(chunkId)!
        const start = packets.get(n, START)
        const audienceLength = packets.get(n, AUDIENCE_LENGTH)
        const audience = text(chunk, start, audienceLength)
        // Cheap first: a packet for some rooms names one of this socket's, or it is not for it.
        if (!audience.startsWith('[[]') && !quoted.some((room) => audience.includes(room))) continue
        const [rooms, except] = JSON.parse(audience) as [string[], string[]]
        const included = rooms.length === 0 || socketRooms.some((room) => rooms.includes(room))
        const excluded = socketRooms.some((room) => except.includes(room))
        if (!included || excluded) continue
        missed.push(JSON.parse(text(chunk, start + audienceLength, packets.get(n, DATA_LENGTH))) as unknown[])
      }
      return missed
    }
  }
}
