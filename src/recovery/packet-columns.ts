/** The fewest slots the table keeps: it never shrinks below this. */
const MIN_SLOTS = 1024
/** Int32 fields per packet (see PacketField). */
const INT_FIELDS = 5

/** The numbers kept per packet beside its time, by their place among its Int32 fields. */
export const PacketField = {
  /** The chunk holding its bytes. */
  Chunk: 0,
  /** Where in that chunk they start. */
  Start: 1,
  AudienceLength: 2,
  DataLength: 3,
  /** How many of its rooms are still there: 0 dead; -1 it went to every socket, so only time ends it. */
  RoomsLeft: 4
} as const
export type PacketField = (typeof PacketField)[keyof typeof PacketField]

/**
 * The packet log's per-packet numbers, for the packets numbered `first` up to `end` (a packet's
 * number is its place in emission order, and never reused): a ring of typed arrays that doubles
 * when full and shrinks when under a quarter full, so it costs 28 bytes a packet outside V8's heap
 * and follows the traffic. Plain arrays of numbers cost 56 on the heap, more with their slack, and a
 * collection had to walk them (docs/performance.md, sixth session).
 */
export function createPacketColumns(firstNumber = 0) {
  let slots = MIN_SLOTS
  let mask = slots - 1
  let times = new Float64Array(slots)
  let ints = new Int32Array(slots * INT_FIELDS)
  // A long-lived log numbers past 2^32: `n & mask` still takes the low bits of any safe integer.
  let first = firstNumber
  let end = firstNumber

  function resize(to: number): void {
    const nextTimes = new Float64Array(to)
    const nextInts = new Int32Array(to * INT_FIELDS)
    const nextMask = to - 1
    // Copied in runs that are contiguous in both rings (at most three): a packet at a time took
    // 60 ms for a million of them, a pause in the surge that made the ring grow.
    for (let n = first; n < end; ) {
      const from = n & mask
      const into = n & nextMask
      const run = Math.min(end - n, slots - from, to - into)
      nextTimes.set(times.subarray(from, from + run), into)
      nextInts.set(ints.subarray(from * INT_FIELDS, (from + run) * INT_FIELDS), into * INT_FIELDS)
      n += run
    }
    times = nextTimes
    ints = nextInts
    slots = to
    mask = nextMask
  }

  return {
    /** The oldest packet still held. */
    get first(): number {
      return first
    },
    /** The number the next packet gets. */
    get end(): number {
      return end
    },
    /** Slots allocated (for tests of the shrinking). */
    get slots(): number {
      return slots
    },

    /** Adds the next packet; returns its number. */
    push(time: number, chunk: number, start: number, audienceLength: number, dataLength: number, roomsLeft: number): number {
      if (end - first === slots) resize(slots * 2)
      const slot = end & mask
      times[slot] = time
      const at = slot * INT_FIELDS
      ints[at + PacketField.Chunk] = chunk
      ints[at + PacketField.Start] = start
      ints[at + PacketField.AudienceLength] = audienceLength
      ints[at + PacketField.DataLength] = dataLength
      ints[at + PacketField.RoomsLeft] = roomsLeft
      return end++
    },

    /** Forgets the packets numbered before `until`. */
    dropUntil(until: number): void {
      first = Math.min(Math.max(first, until), end)
      let to = slots
      while (to > MIN_SLOTS && (end - first) * 4 <= to) to /= 2
      if (to !== slots) resize(to)
    },

    time(n: number): number {
      return times[n & mask]!
    },
    get(n: number, field: PacketField): number {
      return ints[(n & mask) * INT_FIELDS + field]!
    },
    set(n: number, field: PacketField, value: number): void {
      ints[(n & mask) * INT_FIELDS + field] = value
    }
  }
}
