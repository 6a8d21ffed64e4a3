import { totalmem } from 'node:os'

/** The packet log's cap where memory is plentiful. */
export const DEFAULT_LOG_BYTES = 256 << 20
/** Its share of a memory limit: the rest is V8's heap, the sockets and Node itself. */
const LOG_SHARE_OF_LIMIT = 4
/** The least the cap becomes however small the limit (RECOVERY_LOG_BYTES's own minimum). */
const MIN_LOG_BYTES = 1 << 20

/**
 * The packet log's cap when RECOVERY_LOG_BYTES is unset: 256 MiB, or a quarter of the memory the
 * process may use when that is less (a container's limit, as `process.constrainedMemory()` reads
 * it from the cgroup): a full log in a 512 MiB container would otherwise leave too little for the
 * rest (docs/performance.md, sixth session). No limit reads as 0 or as more than the machine has.
 */
export function defaultLogBytes(limit: number = process.constrainedMemory?.() ?? 0, machine: number = totalmem()): number {
  if (!(limit > 0) || limit >= machine) return DEFAULT_LOG_BYTES
  return Math.max(MIN_LOG_BYTES, Math.min(DEFAULT_LOG_BYTES, Math.floor(limit / LOG_SHARE_OF_LIMIT)))
}
