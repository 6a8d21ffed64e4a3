export interface TokenBucket {
  /** Takes one token; false when the bucket is empty. */
  take(now?: number): boolean
}

/** Allows bursts of `capacity` events, refilled continuously at `perSecond`. */
export function createTokenBucket(capacity: number, perSecond: number, now = Date.now()): TokenBucket {
  return new RefillingTokenBucket(capacity, perSecond / 1000, now)
}

/** A class, not a closure: every socket has one or two (docs/performance.md, seventh session). */
class RefillingTokenBucket implements TokenBucket {
  private tokens: number

  constructor(
    private readonly capacity: number,
    private readonly perMs: number,
    private last: number
  ) {
    this.tokens = capacity
  }

  take(at = Date.now()): boolean {
    this.tokens = Math.min(this.capacity, this.tokens + (at - this.last) * this.perMs)
    this.last = at
    if (this.tokens < 1) return false
    this.tokens -= 1
    return true
  }
}
