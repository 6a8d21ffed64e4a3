import type { FastifyInstance } from 'fastify'
import type { SignalingSocket } from '../events/event-router.js'

/** How often a slice of the seated sockets gets its recovery-offset keepalive. */
const KEEPALIVE_TICK_MS = 100

export interface RecoveryKeepaliveOptions {
  graceMs: number
  /** A cluster adapter (Redis): its local-only broadcasts carry no offset. */
  betweenInstances: boolean
}

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
 * How long the in-memory packet log must keep a packet for a resume to still find the client's
 * last offset: up to offsetMaxAgeMs old when the network dropped, the drop seen up to a ping
 * interval and timeout later, and the session kept for the grace window after that; plus slack.
 */
export function packetRetentionMs({ graceMs, pingIntervalMs, pingTimeoutMs }: { graceMs: number; pingIntervalMs: number; pingTimeoutMs: number }): number {
  return graceMs + offsetMaxAgeMs(graceMs) + pingIntervalMs + pingTimeoutMs + RETENTION_SLACK_MS
}

/**
 * Recovery needs the client's last offset to still be in the packet log (in memory, kept for a
 * bounded time, socket.ts) or the Redis stream. A member of a quiet call may have received nothing
 * for an hour, so every seated socket gets a tiny `keepalive` through the adapter once per grace/4,
 * unless it got an offset-bearing packet in the last grace/8 anyway (in a busy call every member
 * does, and skipping them saved a third to a half of these writes, docs/performance.md). Either
 * way its offset is at most 3/8 of the window old (`offsetMaxAgeMs`), which the in-memory log's
 * retention allows for (`packetRetentionMs`). A socket just recovered gets one at once: the offsets replayed to it may be
 * nearly as old as that retention, and it may drop again before its turn. Spread over small
 * ticks: one broadcast to 10,000 sockets at once stalls the event loop for ~100 ms (measured,
 * docs/performance.md). Needs `fastify.io`; stops at `preClose`.
 */
export function startRecoveryKeepalive(fastify: FastifyInstance, { graceMs, betweenInstances }: RecoveryKeepaliveOptions): void {
  const windowMs = keepaliveWindowMs(graceMs)
  const nsp = fastify.io.of('/')
  /** Keepalive clock (advanced each tick) when each local socket last got an offset. */
  const offsetAt = new WeakMap<SignalingSocket, number>()
  let clock = Date.now()

  const broadcast = nsp.adapter.broadcast.bind(nsp.adapter)
  nsp.adapter.broadcast = (packet, opts) => {
    // The packets that get an offset: events without an ack, not volatile (and, between instances,
    // not local-only). Only broadcasts to socket ids with no exceptions (every relayed signal) are
    // noted: cheap, and a socket missed here just gets its keepalive. Packets from other instances
    // are not seen here.
    const offset = packet.type === 2 && packet.id === undefined && !opts.flags?.volatile && !(betweenInstances && opts.flags?.local)
    if (offset && !opts.except?.size) {
      for (const room of opts.rooms) {
        const socket = nsp.sockets.get(room)
        if (socket !== undefined) offsetAt.set(socket, clock)
      }
    }
    return broadcast(packet, opts)
  }

  fastify.io.on('connection', (socket) => {
    if (socket.recovered) fastify.io.to(socket.id).emit('keepalive')
  })

  let cursor = nsp.sockets.values()
  const keepalive = setInterval(() => {
    clock = Date.now()
    const sockets = nsp.sockets
    const quota = Math.ceil((sockets.size * KEEPALIVE_TICK_MS) / windowMs)
    const ids: string[] = []
    for (let visited = 0; visited < quota; visited++) {
      let next = cursor.next()
      if (next.done) {
        cursor = sockets.values()
        next = cursor.next()
        if (next.done) break
      }
      const socket = next.value
      if (socket.data.roomId === undefined) continue
      if (clock - (offsetAt.get(socket) ?? -Infinity) >= windowMs / 2) ids.push(socket.id)
    }
    if (ids.length > 0) fastify.io.to(ids).emit('keepalive')
  }, KEEPALIVE_TICK_MS)
  keepalive.unref()
  fastify.addHook('preClose', async () => clearInterval(keepalive))
}
