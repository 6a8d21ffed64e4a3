import fp from 'fastify-plugin'
import type { ServerOptions } from 'socket.io'
import { createRecoveryKeepalive, packetRetentionMs } from './keepalive.js'
import { defaultLogBytes } from './log-cap.js'
import { createPacketLogAdapter } from './packet-log-adapter.js'
import { createSessionRelease } from './session-release.js'

/** A full recovery log is reported at most this often. */
const FULL_LOG_WARNING_INTERVAL_MS = 60_000

/**
 * The disconnect reasons Socket.IO keeps a recovery session for (`RECOVERABLE_DISCONNECT_REASONS`
 * in socket.io's socket.js): the network or the server went away, the client did not choose to
 * leave. Only these keep the seat.
 */
const RECOVERABLE_REASONS = new Set([
  'transport error',
  'transport close',
  'forced close',
  'ping timeout',
  'server shutting down',
  'forced server close'
])

export interface Recovery {
  /** RECONNECT_GRACE_MS > 0: a dropped member keeps its seat and id for the grace window. */
  readonly enabled: boolean
  /** What Socket.IO needs for it: its adapter (the instances' own when shared) and connection state recovery. */
  readonly socketOptions: Pick<Partial<ServerOptions>, 'adapter' | 'connectionStateRecovery'>
  /** Whether a socket disconnected for this reason keeps its seat for the grace window. */
  keepsSeat(reason: string): boolean
  /** A packet with a recovery offset went to this socket (see keepalive.ts). */
  readonly noteOffset: (socketId: string) => void
  /** Bytes the in-memory packet log holds (0 with Redis, whose stream holds them, or without recovery). */
  readonly logBytes: () => number
  /** Offsets it holds, within the retention: the packets a resume may start from (0 likewise). */
  readonly logPackets: () => number
}

/** How far the log must have shrunk since the last collection before one is worth it. */
const GIVE_BACK_BYTES = 32 << 20
const GIVE_BACK_CHECK_MS = 5000
/**
 * V8's collection that also gives back the heap pages it pools for reuse: Node 24's V8 keeps them
 * resident after a plain `gc()`, 84 MB after the churn soak (docs/performance.md, eleventh session).
 */
export const MEMORY_REDUCING_GC = { type: 'major', execution: 'sync', flavor: 'last-resort' } as const

/**
 * Chunks the log let go of are freed only when V8 collects their Buffers, and an instance that went
 * quiet may not collect for minutes: with `--expose-gc` (npm start and the image pass it), one full
 * collection once the log shrank by GIVE_BACK_BYTES, or emptied, gives that memory back (docs/performance.md).
 * Once it emptied, no room has sent anything for the retention and more: a longer pause that also
 * gives back V8's pooled pages then delays at most a ping or a join.
 */
function startGivingBack(logBytes: () => number, offsetsHeld: () => number): NodeJS.Timeout {
  const collect = (globalThis as { gc?: (options?: typeof MEMORY_REDUCING_GC) => void }).gc
  let highest = 0
  let emptied = true
  return setInterval(() => {
    const held = logBytes()
    highest = Math.max(highest, held)
    // Once it shrank enough, and once it emptied (the instance went quiet): not at every wobble.
    const empty = held === 0 && offsetsHeld() === 0
    const justEmptied = empty && !emptied
    emptied = empty
    if (collect === undefined || (highest - held < GIVE_BACK_BYTES && !justEmptied)) return
    highest = held
    collect()
    // Node 20's V8 takes any argument as the legacy gc(true), a minor collection that gives back
    // nothing: hence the plain full one first, which every version makes.
    if (justEmptied) collect(MEMORY_REDUCING_GC)
  }, GIVE_BACK_CHECK_MS).unref()
}

declare module 'fastify' {
  interface FastifyInstance {
    recovery: Recovery
  }
}

/**
 * Connection state recovery, in one place: a member whose connection drops keeps its socket id,
 * rooms, data and seat for RECONNECT_GRACE_MS and gets what it missed. Without Redis the packets
 * are kept in the packet log (packet-log.ts, its adapter); with Redis the streams adapter keeps
 * them. Restores first release a half-open session (session-release.ts); with Redis, seated sockets
 * get keepalives so that their offset is never too old to resume from (keepalive.ts). The seats are
 * kept and given back by the seat-grace event group (seat-grace.ts). docs/recovery.md explains.
 */
export default fp(
  async function recoveryPlugin(fastify) {
    const { config, cluster } = fastify
    const graceMs = config.RECONNECT_GRACE_MS
    if (graceMs === 0) {
      fastify.decorate('recovery', { enabled: false, socketOptions: { adapter: cluster.adapter }, keepsSeat: () => false, noteOffset: () => {}, logBytes: () => 0, logPackets: () => 0 })
      return
    }

    const logBytes = config.RECOVERY_LOG_BYTES ?? defaultLogBytes()
    let warnedAt = -Infinity
    const onDropped = (packets: number): void => {
      fastify.metrics.recoveryPacketsDropped(packets)
      if (Date.now() - warnedAt < FULL_LOG_WARNING_INTERVAL_MS) return
      warnedAt = Date.now()
      fastify.log.warn({ logBytes }, 'recovery log full: packets dropped before their time; raise RECOVERY_LOG_BYTES')
    }
    const retentionMs = packetRetentionMs({ graceMs, pingIntervalMs: config.PING_INTERVAL_MS, pingTimeoutMs: config.PING_TIMEOUT_MS })
    const release = createSessionRelease({ shared: cluster.shared })
    const heartbeatMs = config.PING_INTERVAL_MS + config.PING_TIMEOUT_MS
    const adapter = cluster.adapter ?? createPacketLogAdapter({ graceMs, retentionMs, logBytes, heartbeatMs, onDropped })
    // Only the Redis stream, trimmed by length, needs each client's last offset kept recent: the
    // packet log knows what each socket received (docs/recovery.md, "Retention and the keepalive").
    const keepalive = cluster.adapter === undefined ? undefined : createRecoveryKeepalive(graceMs)

    const logFigure = (name: 'logBytes' | 'offsetsHeld'): number => {
      const figure: unknown = (fastify.io.of('/').adapter as { [key in typeof name]?: unknown })[name]
      return typeof figure === 'number' ? figure : 0
    }
    fastify.decorate('recovery', {
      enabled: true,
      socketOptions: {
        adapter: release.wrap(adapter),
        // With sign-in on, a recovered socket passes the auth middleware again: its token may
        // have expired or been swapped for someone else's since.
        connectionStateRecovery: { maxDisconnectionDuration: graceMs, skipMiddlewares: !config.AUTH_JWT_SECRET && !config.AUTH_JWKS_URL }
      },
      keepsSeat: (reason: string) => RECOVERABLE_REASONS.has(reason),
      noteOffset: keepalive?.noteOffset ?? (() => {}),
      // The packet log adapter's, when it is the adapter (not with Redis).
      logBytes: () => logFigure('logBytes'),
      logPackets: () => logFigure('offsetsHeld')
    })

    // Operators see the cap in effect, since unset it follows the container's memory limit.
    if (cluster.adapter === undefined) fastify.log.info({ logBytes }, 'recovery log capped')
    // Socket.IO exists once the socket plugin is registered, before ready.
    fastify.addHook('onReady', async () => {
      release.attach(fastify.io)
      if (keepalive === undefined) return
      keepalive.start(fastify.io, (socketIds) => fastify.announce.keepalive(socketIds))
      // A socket just recovered may have been replayed offsets nearly as old as the stream keeps.
      fastify.io.on('connection', (socket) => {
        if (socket.recovered) fastify.announce.keepalive([socket.id])
      })
    })
    let giveBack: NodeJS.Timeout | undefined
    fastify.addHook('onReady', async () => {
      // Its figures are read from Socket.IO's adapter, which exists from here on.
      giveBack = startGivingBack(() => fastify.recovery.logBytes(), () => fastify.recovery.logPackets())
    })
    fastify.addHook('preClose', async () => {
      keepalive?.stop()
      clearInterval(giveBack)
    })
  },
  { name: 'recovery', dependencies: ['env', 'room-store', 'metrics'] }
)
