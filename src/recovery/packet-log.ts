/** The size of a chunk of the log: what it allocates at a time, 1 MiB or an eighth of a smaller cap. */
const STANDARD_CHUNK_BYTES = 1 << 20
/** An emptied chunk kept for reuse goes after this long unused: steady traffic reuses its chunks. */
const SPARE_IDLE_MS = 10_000

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

/** A run of bytes holding packets back to back, in emission order. */
interface Chunk {
  bytes: Buffer
  used: number
  /** The index (in `times`…) of the chunk's first packet. */
  first: number
}

/**
 * Sent packets kept for resumes, as flat JSON bytes (each packet's audience, then its data with the
 * offset last, as Socket.IO puts it) in chunks allocated as traffic needs them and given back once
 * pruning has emptied them; per packet only numbers stay on the V8 heap. Why it is built so, and
 * what was measured, is in docs/recovery.md.
 */
export function createPacketLog({ capacityBytes, chunkBytes = Math.max(64, Math.min(STANDARD_CHUNK_BYTES, Math.floor(capacityBytes / 8))), onDropped = () => {}, now = Date.now }: PacketLogOptions) {
  /** The chunks holding packets, oldest first; the last one is written to. */
  const chunks: Chunk[] = []
  /** Emptied standard chunks, newest last, with when they were emptied. */
  const spares: Array<{ bytes: Buffer; since: number }> = []
  let heldBytes = 0
  // Per packet in emission order, from `head`: when it was sent, the chunk index it is in (as an
  // absolute count, so that it survives the chunk list shifting), where it starts in it, and its
  // audience's and data's lengths in bytes.
  const times: number[] = []
  const chunkOf: number[] = []
  const offsets: number[] = []
  const audienceLengths: number[] = []
  const dataLengths: number[] = []
  let head = 0
  /** The absolute number of chunks[0]. */
  let firstChunk = 0

  /** Forgets the packets before index `until`, compacting the arrays once a good share is dead. */
  function dropUntil(until: number): void {
    head = until
    if (head > 1024 && head * 2 > times.length) {
      for (const list of [times, chunkOf, offsets, audienceLengths, dataLengths]) list.splice(0, head)
      for (const chunk of chunks) chunk.first -= head
      head = 0
    }
  }

  /** Gives back the oldest chunk, whose packets are all gone. */
  function releaseOldest(): void {
    const chunk = chunks.shift()!
    firstChunk++
    if (chunk.bytes.length === chunkBytes) {
      spares.push({ bytes: chunk.bytes, since: now() })
    } else {
      heldBytes -= chunk.bytes.length
    }
  }

  /** Lets go of spares unused for SPARE_IDLE_MS: their pages go back to the system. */
  function trimSpares(): void {
    const stale = now() - SPARE_IDLE_MS
    while (spares.length > 0 && spares[0]!.since < stale) {
      spares.shift()
      heldBytes -= chunkBytes
    }
  }

  /** Makes room for a chunk of `size` bytes, dropping the oldest packets early if the cap says so. */
  function newChunk(size: number): Chunk {
    let bytes: Buffer | undefined
    if (size === chunkBytes && spares.length > 0) {
      bytes = spares.pop()!.bytes
    } else {
      while (heldBytes + size > capacityBytes && spares.length > 0) {
        spares.shift()
        heldBytes -= chunkBytes
      }
      while (heldBytes + size > capacityBytes && chunks.length > 0) {
        const oldest = chunks[0]!
        const next = chunks[1]?.first ?? times.length
        const dropped = Math.max(0, next - Math.max(head, oldest.first))
        dropUntil(Math.max(head, next))
        chunks.shift()
        firstChunk++
        heldBytes -= oldest.bytes.length
        if (dropped > 0) onDropped(dropped)
      }
      // Not zeroed: the system provides its pages as they are first written.
      bytes = Buffer.allocUnsafeSlow(size)
      heldBytes += size
    }
    const chunk = { bytes, used: 0, first: times.length }
    chunks.push(chunk)
    return chunk
  }

  function text(chunk: Chunk, start: number, length: number): string {
    return chunk.bytes.toString('utf8', start, start + length)
  }

  return {
    /** Packets kept. */
    get size(): number {
      return times.length - head
    },
    /** Bytes allocated: chunks holding packets, and spares kept for reuse. */
    get heldBytes(): number {
      return heldBytes
    },
    /** When the oldest packet kept was sent; undefined when none is. */
    get oldestAt(): number | undefined {
      return head < times.length ? times[head] : undefined
    },

    /** Packets arrive in emission order. `data` is JSON (no client event carries binary). */
    add(emittedAt: number, rooms: Iterable<string>, except: Iterable<string>, data: unknown[]): void {
      const audience = JSON.stringify([[...rooms], [...except]])
      const json = JSON.stringify(data)
      const audienceLength = Buffer.byteLength(audience)
      const dataLength = Buffer.byteLength(json)
      const length = audienceLength + dataLength
      if (length > capacityBytes) {
        // Kept, it would push out everything else and still not fit: a resume from here fails.
        onDropped(1)
        return
      }
      let chunk = chunks.at(-1)
      if (chunk === undefined || chunk.used + length > chunk.bytes.length) chunk = newChunk(Math.max(chunkBytes, length))
      const start = chunk.used
      chunk.bytes.write(audience, start)
      chunk.bytes.write(json, start + audienceLength)
      chunk.used += length
      times.push(emittedAt)
      chunkOf.push(firstChunk + chunks.length - 1)
      offsets.push(start)
      audienceLengths.push(audienceLength)
      dataLengths.push(dataLength)
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
      // Every chunk before the oldest packet's is empty (all of them when nothing is left).
      const keepFrom = head < times.length ? chunkOf[head]! : firstChunk + chunks.length
      while (firstChunk < keepFrom) releaseOldest()
      trimSpares()
    },

    /**
     * The data of the packets after `offset` that a socket in `socketRooms` would have received,
     * by Socket.IO's rule; undefined when the offset is no longer (or never was) here. Only the
     * packets it gets are parsed: a resume after a long drop at a high rate skips many.
     */
    since(offset: string, socketRooms: string[]): unknown[][] | undefined {
      const ending = Buffer.from(',' + JSON.stringify(offset) + ']')
      const chunkAt = (index: number): Chunk => chunks[chunkOf[index]! - firstChunk]!
      let index = times.length - 1
      for (; index >= head; index--) {
        const dataLength = dataLengths[index]!
        if (dataLength < ending.length) continue
        const end = offsets[index]! + audienceLengths[index]! + dataLength
        if (chunkAt(index).bytes.compare(ending, 0, ending.length, end - ending.length, end) === 0) break
      }
      if (index < head) return undefined
      const quoted = socketRooms.map((room) => JSON.stringify(room))
      const missed: unknown[][] = []
      for (let i = index + 1; i < times.length; i++) {
        const chunk = chunkAt(i)
        const audience = text(chunk, offsets[i]!, audienceLengths[i]!)
        // Cheap first: a packet for some rooms names one of this socket's, or it is not for it.
        if (!audience.startsWith('[[]') && !quoted.some((room) => audience.includes(room))) continue
        const [rooms, except] = JSON.parse(audience) as [string[], string[]]
        const included = rooms.length === 0 || socketRooms.some((room) => rooms.includes(room))
        const excluded = socketRooms.some((room) => except.includes(room))
        if (!included || excluded) continue
        missed.push(JSON.parse(text(chunk, offsets[i]! + audienceLengths[i]!, dataLengths[i]!)) as unknown[])
      }
      return missed
    }
  }
}

export type PacketLog = ReturnType<typeof createPacketLog>
