export interface TokenBucket {
  /** Takes one token; false when the bucket is empty. */
  take(now?: number): boolean
}

/** Allows bursts of `capacity` events, refilled continuously at `perSecond`. */
export function createTokenBucket(capacity: number, perSecond: number, now = Date.now()): TokenBucket {
  let tokens = capacity
  let last = now
  const perMs = perSecond / 1000
  return {
    take(at = Date.now()): boolean {
      tokens = Math.min(capacity, tokens + (at - last) * perMs)
      last = at
      if (tokens < 1) return false
      tokens -= 1
      return true
    }
  }
}
