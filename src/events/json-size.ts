/**
 * Whether `value` serialises to at most `maxBytes` of JSON and nests at most `maxDepth` deep,
 * walking it once and stopping as soon as either bound is passed. Cheaper than JSON.stringify on
 * the relay path, and safe on hostile nesting that would overflow a recursive serialiser.
 * String lengths count UTF-16 units, close enough to bytes for a cap.
 */
export function fitsJson(value: unknown, maxBytes: number, maxDepth = 16): boolean {
  let budget = maxBytes
  // Two parallel stacks, not a [value, depth] pair per node: this runs on every relayed signal,
  // and a pair is an allocation per node (a small saving, not separately measured).
  const items: unknown[] = [value]
  const depths: number[] = [0]
  while (items.length > 0) {
    const item = items.pop()
    const depth = depths.pop() as number
    if (typeof item === 'string') budget -= item.length + 2
    else if (item === null || typeof item !== 'object') budget -= 8
    else {
      if (depth >= maxDepth) return false
      budget -= 2
      if (Array.isArray(item)) {
        for (const child of item) {
          items.push(child)
          depths.push(depth + 1)
        }
      } else {
        for (const key of Object.keys(item)) {
          budget -= key.length + 3
          items.push((item as Record<string, unknown>)[key])
          depths.push(depth + 1)
        }
      }
    }
    if (budget < 0) return false
  }
  return true
}
