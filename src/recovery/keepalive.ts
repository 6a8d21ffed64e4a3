import type { SignalingServer, SignalingSocket } from '../events/event-router.js'

/** How often a slice of the seated sockets gets its recovery-offset keepalive. */
const KEEPALIVE_TICK_MS = 100

/** Each seated socket is visited once per this window. */
function keepaliveWindowMs(graceMs: number): number {
  return Math.max(KEEPALIVE_TICK_MS, graceMs / 4)
}

/**
 * The oldest a seated socket's last offset gets while its transport is up: a keepalive is due once
 * it is half a window old, and the socket is visited once a window.
 */
function offsetMaxAgeMs(graceMs: number): number {
  return keepaliveWindowMs(graceMs) * 1.5
}

/** Kept past the computed need: under load the keepalive's 100 ms ticks run late. */
const RETENTION_SLACK_MS = 5000

/**
 * How long the Redis stream must hold an entry for a resume to still find the client's last
 * offset: up to offsetMaxAgeMs old when the network dropped, the drop seen up to a ping interval
 * and timeout later, and the session kept for the grace window after that; plus slack. The
 * in-memory packet log, which needs no keepalive, keeps it as a cap (docs/recovery.md).
 */
export function packetRetentionMs({ graceMs, pingIntervalMs, pingTimeoutMs }: { graceMs: number; pingIntervalMs: number; pingTimeoutMs: number }): number {
  return graceMs + offsetMaxAgeMs(graceMs) + pingIntervalMs + pingTimeoutMs + RETENTION_SLACK_MS
}

export interface RecoveryKeepalive {
  /** A packet with a recovery offset went to this local socket: it needs no keepalive for a while. */
  readonly noteOffset: (socketId: string) => void
  /** Sends keepalives through `send` to the seated sockets of `io` that need one, until stopped. */
  start(io: SignalingServer, send: (socketIds: string[]) => void): void
  stop(): void
}

/**
 * With Redis: every seated socket that got no offset-bearing packet for grace/8 gets a tiny
 * `keepalive` once per grace/4, spread over small ticks, so that its last offset is still in the
 * stream when it resumes. Why, and what was measured: docs/recovery.md, "Retention and the keepalive".
 */
export function createRecoveryKeepalive(graceMs: number): RecoveryKeepalive {
  const windowMs = keepaliveWindowMs(graceMs)
  /** Keepalive clock (advanced each tick) when each local socket last got an offset. */
  const offsetAt = new WeakMap<SignalingSocket, number>()
  let clock = Date.now()
  let sockets: Map<string, SignalingSocket> | undefined
  let timer: NodeJS.Timeout | undefined

  return {
    noteOffset(socketId) {
      const socket = sockets?.get(socketId)
      if (socket !== undefined) offsetAt.set(socket, clock)
    },

    start(io, send) {
      const nsp = io.of('/')
      sockets = nsp.sockets
      let cursor = nsp.sockets.values()
      timer = setInterval(() => {
        clock = Date.now()
        const quota = Math.ceil((nsp.sockets.size * KEEPALIVE_TICK_MS) / windowMs)
        const due: string[] = []
        for (let visited = 0; visited < quota; visited++) {
          let next = cursor.next()
          if (next.done) {
            cursor = nsp.sockets.values()
            next = cursor.next()
            if (next.done) break
          }
          const socket = next.value
          if (socket.data.roomId === undefined) continue
          if (clock - (offsetAt.get(socket) ?? -Infinity) >= windowMs / 2) due.push(socket.id)
        }
        if (due.length > 0) send(due)
      }, KEEPALIVE_TICK_MS)
      timer.unref()
    },

    stop() {
      clearInterval(timer)
    }
  }
}
