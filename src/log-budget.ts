import type { FastifyBaseLogger } from 'fastify'

type Level = 'error' | 'warn' | 'info' | 'debug'

/** pino's level numbers, to skip the budget for lines the level would drop anyway. */
const LEVEL_VALUES: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 }

/** Lines one socket may cause per window; the first line of each message in a window always passes within it. */
const LINES_PER_SOCKET = 5
/** Lines all sockets together may cause per second. */
const LINES_PER_SECOND = 100

export interface LogBudgetOptions {
  log: FastifyBaseLogger
  windowMs: number
  /** Told of each line dropped for being over budget (for a metric). */
  onSuppressed?: () => void
}

/** Logs lines that clients cause, within a budget (see createLogBudget). */
export interface LogBudget {
  /** Logs a line caused by `socketId` (or by a handshake, with no socket yet) if the budget allows. */
  log(socketId: string | undefined, level: Level, details: object, message: string): void
  /** The socket is gone: forget its count. */
  forget(socketId: string): void
}

/**
 * What a client makes the server log must not be a lever: a hostile client once made one 64 KB
 * request write 7,499 lines. Each socket may cause a few lines per window, each message once per
 * window, and all sockets together a bounded number per second; the rest is counted, not written.
 */
export function createLogBudget({ log, windowMs, onSuppressed = () => {} }: LogBudgetOptions): LogBudget {
  const bySocket = new Map<string, { since: number; lines: number; messages: Set<string> }>()
  let second = 0
  let linesThisSecond = 0

  function allowed(socketId: string | undefined, message: string, now: number): boolean {
    const thisSecond = Math.floor(now / 1000)
    if (thisSecond !== second) {
      second = thisSecond
      linesThisSecond = 0
    }
    if (linesThisSecond >= LINES_PER_SECOND) return false
    if (socketId !== undefined) {
      let entry = bySocket.get(socketId)
      if (entry === undefined || now - entry.since >= windowMs) {
        entry = { since: now, lines: 0, messages: new Set() }
        bySocket.set(socketId, entry)
      }
      if (entry.lines >= LINES_PER_SOCKET || entry.messages.has(message)) return false
      entry.lines++
      entry.messages.add(message)
    }
    linesThisSecond++
    return true
  }

  return {
    log(socketId, level, details, message) {
      if (LEVEL_VALUES[level]! < (LEVEL_VALUES[log.level] ?? Infinity)) return
      if (allowed(socketId, message, Date.now())) log[level](details, message)
      else onSuppressed()
    },
    forget(socketId) {
      bySocket.delete(socketId)
    }
  }
}
