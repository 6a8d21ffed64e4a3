/** Whether `value` holds binary data, which JSON would not carry (Socket.IO sends it as attachments). */
function containsBinary(value: unknown, depth = 0): boolean {
  if (value === null || typeof value !== 'object' || depth > 32) return false
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return true
  for (const child of Array.isArray(value) ? value : Object.values(value)) if (containsBinary(child, depth + 1)) return true
  return false
}

export interface PacketLogOptions {
  /** Size of the one buffer holding the packets' bytes (see createPacketLog). */
  capacityBytes: number
  /** The unit the buffer is handed out in: 1 MiB, or an eighth of a smaller capacity. */
  chunkBytes?: number
  /** Told when every chunk held packets and the oldest had to go to make room for a new one. */
  onOverwrite?: () => void
}

/**
 * Sent packets kept for resumes. Each packet's audience and data, as flat JSON (what went on the
 * wire anyway), are copied into one buffer allocated at boot; per packet, only numbers stay on the
 * V8 heap (its emission time, where its bytes are, their lengths). Kept as strings on the heap, a
 * second of relayed signals (megabytes at thousands a second) was promoted by every scavenge, the
 * relay's p99 at our defaults (docs/performance.md); and buffers allocated as the traffic grew
 * made V8 run full GCs as its external memory grew. This one is counted once.
 *
 * The buffer is handed out in chunks, filled in order and given back once pruning has emptied
 * them. The lowest free chunk is taken first, so the pages touched (the log's share of RSS) stay
 * near the most bytes ever kept at once, not the capacity. Only when every chunk holds packets
 * does the oldest chunk's go early (`onOverwrite`): their offsets can no longer be resumed from,
 * as if pruned. Packets holding binary data, which JSON would mangle, or bigger than a chunk are
 * kept as they are, on the heap. Socket.IO puts a packet's offset last in its data, so that is
 * where a resume's offset is looked for.
 */
export function createPacketLog({
  capacityBytes,
  chunkBytes = Math.max(1, Math.min(1 << 20, Math.floor(capacityBytes / 8))),
  onOverwrite = () => {}
}: PacketLogOptions) {
  const chunkCount = Math.max(1, Math.floor(capacityBytes / chunkBytes))
  // Not zeroed: the OS provides pages as they are first written.
  const bytes = Buffer.allocUnsafeSlow(chunkCount * chunkBytes)
  const isFree = new Uint8Array(chunkCount).fill(1)
  /** The chunks in use, oldest first: the one numbered `firstChunk + i` is buffer chunk `inUse[i]`. */
  const inUse: number[] = []
  let firstChunk = 0
  /** Bytes used in the newest chunk (a full one before the first packet). */
  let tailUsed = chunkBytes
  /** The end of the highest chunk ever handed out: the pages touched. */
  let touched = 0
  // Per packet in emission order, from `head`: when it was sent, where its record starts (its
  // chunk's number times the chunk size, plus its offset in the chunk), its audience's length and
  // its data's. A packet kept as it is takes one byte, so that starts stay unique, and is in
  // `held` by its start; its lengths are -1.
  const times: number[] = []
  const starts: number[] = []
  const audienceLengths: number[] = []
  const dataLengths: number[] = []
  const held = new Map<number, { audience: string; data: unknown[] }>()
  let head = 0

  /** Forgets the packets before index `until`, compacting the arrays once a good share is dead. */
  function dropUntil(until: number): void {
    for (let i = head; i < until; i++) if (dataLengths[i] === -1) held.delete(starts[i]!)
    head = until
    if (head > 1024 && head * 2 > times.length) {
      times.splice(0, head)
      starts.splice(0, head)
      audienceLengths.splice(0, head)
      dataLengths.splice(0, head)
      head = 0
    }
  }

  function releaseOldestChunk(): void {
    isFree[inUse.shift()!] = 1
    firstChunk++
  }

  /** Starts a new chunk, overwriting the oldest when none is free. */
  function takeChunk(): void {
    let chunk = isFree.indexOf(1)
    if (chunk === -1) {
      const end = (firstChunk + 1) * chunkBytes
      let until = head
      while (until < starts.length && starts[until]! < end) until++
      const dropped = until > head
      dropUntil(until)
      releaseOldestChunk()
      if (dropped) onOverwrite()
      chunk = isFree.indexOf(1)
    }
    isFree[chunk] = 0
    inUse.push(chunk)
    tailUsed = 0
    touched = Math.max(touched, (chunk + 1) * chunkBytes)
  }

  /** Where a record of `length` bytes (at most a chunk) goes. */
  function place(length: number): number {
    if (tailUsed + length > chunkBytes) takeChunk()
    const start = (firstChunk + inUse.length - 1) * chunkBytes + tailUsed
    tailUsed += length
    return start
  }

  /** The buffer index of a record's start. */
  function at(start: number): number {
    return inUse[Math.floor(start / chunkBytes) - firstChunk]! * chunkBytes + (start % chunkBytes)
  }

  function text(index: number, length: number): string {
    return bytes.toString('utf8', index, index + length)
  }

  return {
    /** When the oldest packet kept was sent; undefined when none is. */
    get oldestAt(): number | undefined {
      return head < times.length ? times[head] : undefined
    },
    get size(): number {
      return times.length - head
    },
    /** How much of the buffer has ever been handed out: the pages it may have touched. */
    get touchedBytes(): number {
      return touched
    },
    /** Packets arrive in emission order. */
    add(emittedAt: number, rooms: Iterable<string>, except: Iterable<string>, data: unknown[]): void {
      const audience = JSON.stringify([[...rooms], [...except]])
      const json = containsBinary(data) ? undefined : JSON.stringify(data)
      let audienceLength = Buffer.byteLength(audience)
      let dataLength = json === undefined ? -1 : Buffer.byteLength(json)
      let start: number
      if (dataLength >= 0 && audienceLength + dataLength <= chunkBytes) {
        start = place(audienceLength + dataLength)
        const index = at(start)
        bytes.write(audience, index)
        bytes.write(json!, index + audienceLength)
      } else {
        start = place(1)
        held.set(start, { audience, data })
        audienceLength = dataLength = -1
      }
      times.push(emittedAt)
      starts.push(start)
      audienceLengths.push(audienceLength)
      dataLengths.push(dataLength)
    },
    /** Drops the packets emitted before `threshold`. */
    prune(threshold: number): void {
      let low = head
      let high = times.length
      while (low < high) {
        const middle = (low + high) >>> 1
        if (times[middle]! < threshold) low = middle + 1
        else high = middle
      }
      if (low > head) dropUntil(low)
      // Chunks older than the oldest packet's are empty now; the newest is kept to write on.
      const oldest = head < starts.length ? Math.floor(starts[head]! / chunkBytes) : firstChunk + inUse.length - 1
      while (firstChunk < oldest) releaseOldestChunk()
    },
    /**
     * The data of the packets after `offset` that a socket in `socketRooms` would have received,
     * by Socket.IO's rule; undefined when the offset is no longer (or never was) here. Only the
     * packets it gets are parsed: a resume after a long drop at a high rate skips many.
     */
    since(offset: string, socketRooms: string[]): unknown[][] | undefined {
      const ending = Buffer.from(',' + JSON.stringify(offset) + ']')
      let index = times.length - 1
      for (; index >= head; index--) {
        const dataLength = dataLengths[index]!
        if (dataLength === -1) {
          const { data } = held.get(starts[index]!)!
          if (data[data.length - 1] === offset) break
        } else if (dataLength >= ending.length) {
          const end = at(starts[index]!) + audienceLengths[index]! + dataLength
          if (bytes.compare(ending, 0, ending.length, end - ending.length, end) === 0) break
        }
      }
      if (index < head) return undefined
      const quoted = socketRooms.map((room) => JSON.stringify(room))
      const missed: unknown[][] = []
      for (let i = index + 1; i < times.length; i++) {
        const dataLength = dataLengths[i]!
        const audience = dataLength === -1 ? held.get(starts[i]!)!.audience : text(at(starts[i]!), audienceLengths[i]!)
        // Cheap first: a packet for some rooms names one of this socket's, or it is not for it.
        if (!audience.startsWith('[[]') && !quoted.some((room) => audience.includes(room))) continue
        const [rooms, except] = JSON.parse(audience) as [string[], string[]]
        const included = rooms.length === 0 || socketRooms.some((room) => rooms.includes(room))
        const excluded = socketRooms.some((room) => except.includes(room))
        if (!included || excluded) continue
        missed.push(
          dataLength === -1
            ? held.get(starts[i]!)!.data
            : (JSON.parse(text(at(starts[i]!) + audienceLengths[i]!, dataLength)) as unknown[])
        )
      }
      return missed
    }
  }
}
