/** The size of a chunk of the log: what it allocates at a time, 1 MiB or an eighth of a smaller cap. */
const STANDARD_CHUNK_BYTES = 1 << 20
/** An emptied chunk kept for reuse goes after this long unused: steady traffic reuses its chunks. */
const SPARE_IDLE_MS = 10_000
/** At most this many spares, and only within the cap: steady traffic needs one or two. */
const MAX_SPARES = 8
/** A chunk no longer written to whose live packets fill less than this share of it has them copied
 * out, and goes: copying at most as much as died keeps the cost of a byte kept bounded. */
const COMPACT_BELOW = 0.5

export interface PacketLogOptions {
  /** The most bytes the log may hold, packets and spare chunks together. */
  capacityBytes: number
  /** The unit it allocates in (see STANDARD_CHUNK_BYTES). */
  chunkBytes?: number
  /** Told of each packet dropped before its time because the log was at its cap. */
  onDropped?: (packets: number) => void
  /** The clock (epoch ms) for spares' idle time; tests pass their own. */
  now?: () => number
}

/** A run of bytes holding packets back to back. */
interface Chunk {
  bytes: Buffer
  used: number
  /** Bytes of its packets still alive: at 0 the chunk goes. */
  liveBytes: number
  /** The absolute indices of the packets written to it (some may have died since). */
  packets: number[]
}

/**
 * Sent packets kept for resumes, as flat JSON bytes (each packet's audience, then its data with the
 * offset last, as Socket.IO puts it) in chunks allocated as traffic needs them. A packet dies when
 * it is older than the retention (`prune`) or when every room it went to is gone for good
 * (`roomGone`); a chunk goes when its packets are dead, and a sparse one has its few live packets
 * copied out first. Per packet only numbers and its offset stay on the V8 heap. Why it is built so,
 * and what was measured, is in docs/recovery.md.
 */
export function createPacketLog({ capacityBytes, chunkBytes = Math.max(64, Math.min(STANDARD_CHUNK_BYTES, Math.floor(capacityBytes / 8))), onDropped = () => {}, now = Date.now }: PacketLogOptions) {
  /** Chunks by number; `writing` is the one packets are appended to. */
  const chunks = new Map<number, Chunk>()
  let nextChunk = 0
  let writing: number | undefined
  /** Emptied standard chunks, newest last, with when they were emptied. */
  const spares: Array<{ bytes: Buffer; since: number }> = []
  let heldBytes = 0
  // Per packet in emission order, from `head` (an index into these arrays; `base` is how many were
  // spliced off their front, so that absolute index = base + local index): when it was sent, its
  // offset, the chunk it is in and where, its audience's and data's lengths, and how many of its
  // rooms are still there (0: dead; -1: it went to every socket, so only time ends it).
  const times: number[] = []
  const offsetTexts: string[] = []
  const chunkOf: number[] = []
  const starts: number[] = []
  const audienceLengths: number[] = []
  const dataLengths: number[] = []
  const roomsLeft: number[] = []
  const columns = [times, offsetTexts, chunkOf, starts, audienceLengths, dataLengths, roomsLeft]
  let head = 0
  let base = 0
  let alive = 0
  /** The absolute indices of the packets sent to each room, oldest first. */
  const packetsOf = new Map<string, number[]>()

  const local = (absolute: number): number => absolute - base
  const isAlive = (i: number): boolean => i >= head && roomsLeft[i] !== 0

  /** Forgets the packets before index `until`, compacting the arrays once a good share is dead. */
  function dropUntil(until: number): void {
    const touched = new Set<number>()
    for (let i = head; i < until; i++) if (roomsLeft[i] !== 0) touched.add(markDead(i))
    head = until
    for (const id of touched) settle(id)
    if (head === times.length) {
      // All gone: fresh arrays, since a spliced one keeps its backing store as large as it grew.
      for (const column of columns) column.length = 0
      base += head
      head = 0
    } else if (head > 1024 && head * 2 > times.length) {
      for (const column of columns) column.splice(0, head)
      base += head
      head = 0
    }
  }

  /** Counts packet `i` out of its chunk's live bytes; returns the chunk. */
  function markDead(i: number): number {
    roomsLeft[i] = 0
    alive--
    const id = chunkOf[i]!
    chunks.get(id)!.liveBytes -= audienceLengths[i]! + dataLengths[i]!
    return id
  }

  /** A chunk not written to goes when its packets are dead, or shrinks when few are left. */
  function settle(id: number): void {
    const chunk = chunks.get(id)
    if (chunk === undefined || id === writing) return
    if (chunk.liveBytes === 0) release(id)
    else if (chunk.liveBytes < chunk.bytes.length * COMPACT_BELOW) compact(id)
  }

  function release(id: number): void {
    const chunk = chunks.get(id)!
    chunks.delete(id)
    if (chunk.bytes.length === chunkBytes && spares.length < MAX_SPARES && heldBytes <= capacityBytes) {
      spares.push({ bytes: chunk.bytes, since: now() })
    } else {
      heldBytes -= chunk.bytes.length
    }
  }

  /** Copies a sparse chunk's live packets into one of their exact size, and lets the chunk go. */
  function compact(id: number): void {
    const chunk = chunks.get(id)!
    const copy: Chunk = { bytes: Buffer.allocUnsafeSlow(chunk.liveBytes), used: 0, liveBytes: chunk.liveBytes, packets: [] }
    const copyId = nextChunk++
    for (const absolute of chunk.packets) {
      const i = local(absolute)
      if (i < 0 || !isAlive(i) || chunkOf[i] !== id) continue
      const length = audienceLengths[i]! + dataLengths[i]!
      chunk.bytes.copy(copy.bytes, copy.used, starts[i], starts[i]! + length)
      chunkOf[i] = copyId
      starts[i] = copy.used
      copy.used += length
      copy.packets.push(absolute)
    }
    chunks.set(copyId, copy)
    heldBytes += copy.bytes.length
    chunk.liveBytes = 0
    release(id)
  }

  /** Lets go of spares unused for SPARE_IDLE_MS: their pages go back to the system. */
  function trimSpares(): void {
    const stale = now() - SPARE_IDLE_MS
    while (spares.length > 0 && spares[0]!.since < stale) {
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

  /** A chunk of `size` bytes to write to, dropping the oldest packets early if the cap says so. */
  function newChunk(size: number): Chunk {
    closeWriting()
    let bytes: Buffer | undefined
    if (size === chunkBytes && spares.length > 0) {
      bytes = spares.pop()!.bytes
    } else {
      while (heldBytes + size > capacityBytes && spares.length > 0) {
        spares.shift()
        heldBytes -= chunkBytes
      }
      let dropped = 0
      while (heldBytes + size > capacityBytes && head < times.length) {
        if (roomsLeft[head] !== 0) dropped++
        dropUntil(head + 1)
        // What the drops emptied may have been standard chunks, now spares: those go too.
        while (heldBytes + size > capacityBytes && spares.length > 0) {
          spares.shift()
          heldBytes -= chunkBytes
        }
      }
      if (dropped > 0) onDropped(dropped)
      // Not zeroed: the system provides its pages as they are first written.
      bytes = Buffer.allocUnsafeSlow(size)
      heldBytes += size
    }
    const chunk: Chunk = { bytes, used: 0, liveBytes: 0, packets: [] }
    writing = nextChunk++
    chunks.set(writing, chunk)
    return chunk
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
      return times.length - head
    },
    /** Bytes allocated: chunks holding packets, and spares kept for reuse. */
    get heldBytes(): number {
      return heldBytes
    },
    /** When the oldest packet a resume could still start from was sent; undefined when none is. */
    get oldestAt(): number | undefined {
      return head < times.length ? times[head] : undefined
    },

    /**
     * Packets arrive in emission order; the offset is the last of `data`, JSON (no client event
     * carries binary). `live`: those of `rooms` that someone is in or may come back to (all of them
     * unless told), the ones whose end can end the packet.
     */
    add(emittedAt: number, rooms: Iterable<string>, except: Iterable<string>, data: unknown[], live?: string[]): void {
      const roomList = [...rooms]
      const liveRooms = live ?? roomList
      const audience = JSON.stringify([roomList, [...except]])
      const json = JSON.stringify(data)
      const audienceLength = Buffer.byteLength(audience)
      const dataLength = Buffer.byteLength(json)
      const length = audienceLength + dataLength
      if (length > capacityBytes) {
        // Kept, it would push out everything else and still not fit: a resume from here fails.
        onDropped(1)
        return
      }
      let chunk = writing === undefined ? undefined : chunks.get(writing)
      if (chunk === undefined || chunk.used + length > chunk.bytes.length) chunk = newChunk(Math.max(chunkBytes, length))
      const start = chunk.used
      chunk.bytes.write(audience, start)
      chunk.bytes.write(json, start + audienceLength)
      chunk.used += length
      chunk.liveBytes += length
      const absolute = base + times.length
      chunk.packets.push(absolute)
      times.push(emittedAt)
      offsetTexts.push(String(data.at(-1)))
      chunkOf.push(writing!)
      starts.push(start)
      audienceLengths.push(audienceLength)
      dataLengths.push(dataLength)
      roomsLeft.push(roomList.length === 0 ? -1 : liveRooms.length)
      alive++
      for (const room of liveRooms) {
        const list = packetsOf.get(room)
        if (list === undefined) {
          packetsOf.set(room, [absolute])
          continue
        }
        // The room's packets that time already took: forget them as it goes.
        let stale = 0
        while (stale < list.length && local(list[stale]!) < head) stale++
        if (stale > 0) list.splice(0, stale)
        list.push(absolute)
      }
    },

    /** Drops the packets emitted before `threshold`, and gives back the chunks that emptied. */
    prune(threshold: number): void {
      let low = head
      let high = times.length
      while (low < high) {
        const middle = (low + high) >>> 1
        if (times[middle]! < threshold) low = middle + 1
        else high = middle
      }
      if (low > head) dropUntil(low)
      // The chunk being written to goes too once nothing in it lives: it then ages as a spare.
      if (writing !== undefined && chunks.get(writing)!.liveBytes === 0) closeWriting()
      for (const [room, list] of packetsOf) if (list.length === 0 || local(list.at(-1)!) < head) packetsOf.delete(room)
      trimSpares()
    },

    /**
     * Nobody is in `room` any more, nor can come back to it: a packet sent to it is dead once all
     * of its rooms are. Its offset stays, so a socket that received it can still resume from it.
     */
    roomGone(room: string): void {
      const list = packetsOf.get(room)
      if (list === undefined) return
      packetsOf.delete(room)
      // Settled once each, after all died: settling per packet would copy a chunk again and again.
      const touched = new Set<number>()
      for (const absolute of list) {
        const i = local(absolute)
        if (i < head || roomsLeft[i]! <= 0) continue
        if (--roomsLeft[i]! === 0) touched.add(markDead(i))
      }
      for (const id of touched) settle(id)
    },

    /**
     * The data of the packets after `offset` that a socket in `socketRooms` would have received,
     * by Socket.IO's rule; undefined when the offset is no longer (or never was) here. Only the
     * packets it gets are parsed: a resume after a long drop at a high rate skips many.
     */
    since(offset: string, socketRooms: string[]): unknown[][] | undefined {
      const index = offsetTexts.lastIndexOf(offset)
      if (index < head) return undefined
      const quoted = socketRooms.map((room) => JSON.stringify(room))
      const missed: unknown[][] = []
      for (let i = index + 1; i < times.length; i++) {
        if (roomsLeft[i] === 0) continue
        const chunk = chunks.get(chunkOf[i]!)!
        const audience = text(chunk, starts[i]!, audienceLengths[i]!)
        // Cheap first: a packet for some rooms names one of this socket's, or it is not for it.
        if (!audience.startsWith('[[]') && !quoted.some((room) => audience.includes(room))) continue
        const [rooms, except] = JSON.parse(audience) as [string[], string[]]
        const included = rooms.length === 0 || socketRooms.some((room) => rooms.includes(room))
        const excluded = socketRooms.some((room) => except.includes(room))
        if (!included || excluded) continue
        missed.push(JSON.parse(text(chunk, starts[i]! + audienceLengths[i]!, dataLengths[i]!)) as unknown[])
      }
      return missed
    }
  }
}
