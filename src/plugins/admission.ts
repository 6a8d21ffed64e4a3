import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { IncomingMessage, ServerResponse } from 'node:http'
import proxyaddr from 'proxy-addr'
import { createTokenBucket, type TokenBucket } from '../events/token-bucket.js'
import { parseCorsOrigins } from './cors.js'

/** engine.io's connection: its id (the `sid` of its requests) and the request that opened it. */
interface EngineConnection {
  id: string
  request: IncomingMessage
  on(event: 'close', listener: () => void): unknown
}

/** The part of engine.io's server admission needs: its middlewares and its connections. */
interface Engine {
  use(middleware: (request: IncomingMessage, response: ServerResponse, next: (error?: unknown) => void) => void): void
  on(event: 'connection', listener: (connection: EngineConnection) => void): unknown
}

/** Why a request of Socket.IO's is turned away, and with which HTTP status. */
export interface Refusal {
  /** 403: not allowed at all; 429: this address is over its limits; 503: this instance cannot take it now. */
  status: 403 | 429 | 503
  reason: string
  retryAfterSeconds?: number
}

export interface Admission {
  /**
   * Why a Socket.IO request must be turned away, or undefined to let it through. `sid` is the
   * engine session it belongs to (undefined for a handshake), `known` whether this instance holds
   * that session. A handshake let in counts against its address at once, so a burst of parallel
   * handshakes cannot slip past the cap.
   */
  check(request: IncomingMessage, sid: string | undefined, known: boolean): Refusal | undefined
  /** Puts the check in front of every HTTP request engine.io handles, and counts its connections. */
  attach(engine: Engine): void
}

declare module 'fastify' {
  interface FastifyInstance {
    admission: Admission
  }
}

/** TRUST_PROXY as proxy-addr understands it: false, true, a hop count, or addresses and CIDRs. */
export function parseTrustProxy(value: string): (address: string, hop: number) => boolean {
  const trimmed = value.trim()
  if (trimmed === '' || trimmed === 'false') return () => false
  if (trimmed === 'true') return () => true
  if (/^\d+$/.test(trimmed)) {
    const hops = Number(trimmed)
    return (_address, hop) => hop < hops
  }
  return proxyaddr.compile(trimmed.split(',').map((entry) => entry.trim()))
}

/** How long an admitted handshake may take to become a connection before its slot is freed. */
const HANDSHAKE_RESERVATION_MS = 10_000
const REASONS = { 403: 'Forbidden', 429: 'Too Many Requests', 503: 'Service Unavailable' } as const

/**
 * Answers a refused request with its status, whatever the transport: engine.io's own refusals
 * answer a WebSocket upgrade 400 whatever the cause, which a load balancer cannot act on.
 */
function refuse(request: IncomingMessage, response: ServerResponse, { status, reason, retryAfterSeconds }: Refusal): void {
  const body = JSON.stringify({ code: 4, message: reason })
  const headers: Record<string, string | number> = { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) }
  if (retryAfterSeconds !== undefined) headers['Retry-After'] = retryAfterSeconds
  if (request.headers.upgrade === undefined) {
    response.writeHead(status, headers)
    response.end(body)
    return
  }
  // An upgrade has no ServerResponse, only the raw socket (engine.io hands it over as `socket`).
  const socket = response.socket
  if (socket === null) return
  const head = Object.entries({ ...headers, Connection: 'close' }).map(([name, value]) => `${name}: ${value}\r\n`).join('')
  socket.end(`HTTP/1.1 ${status} ${REASONS[status]}\r\n${head}\r\n${body}`)
}

function createAdmission(fastify: FastifyInstance): Admission {
  const { config } = fastify
  const origins = parseCorsOrigins(config.CORS_ORIGINS)
  const trust = parseTrustProxy(config.TRUST_PROXY)
  const addressOf = (request: IncomingMessage): string => proxyaddr(request, trust)
  const open = new Map<string, number>()
  const reserved = new Map<IncomingMessage, { address: string; expiry: NodeJS.Timeout }>()
  const release = (address: string): void => {
    const count = (open.get(address) ?? 1) - 1
    if (count <= 0) open.delete(address)
    else open.set(address, count)
  }
  const handshakes = new Map<string, { bucket: TokenBucket; seen: number }>()
  const retryAfterSeconds = config.PRESSURE_RETRY_AFTER_S

  if (config.HANDSHAKES_PER_IP_PER_MINUTE > 0) {
    // An address unseen for a minute has a full bucket again: forget it.
    const sweep = setInterval(() => {
      const stale = Date.now() - 60_000
      for (const [address, entry] of handshakes) if (entry.seen < stale) handshakes.delete(address)
    }, 60_000)
    sweep.unref()
    fastify.addHook('onClose', async () => clearInterval(sweep))
  }

  const admission: Admission = {
    check(request, sid, known) {
      // Browsers apply CORS to long-polling but not to WebSockets: check the Origin ourselves, on
      // every request of a session, not only its handshake. Clients that send none (native apps,
      // servers) are not browsers and CORS does not concern them.
      const origin = request.headers.origin
      if (origins !== '*' && origin !== undefined && !origins.includes(origin)) return { status: 403, reason: 'origin not allowed' }
      if (sid !== undefined) {
        // A draining instance turns away what it cannot serve, so that the load balancer retries
        // the next upstream: a new client's requests, whose session another instance holds.
        if (!known && fastify.readiness.draining) return { status: 503, reason: 'shutting down', retryAfterSeconds }
        return undefined
      }
      if (fastify.readiness.draining) return { status: 503, reason: 'shutting down', retryAfterSeconds }
      if (fastify.isUnderPressure()) return { status: 503, reason: 'server under pressure', retryAfterSeconds }
      if (config.MAX_CONNECTIONS_PER_IP === 0 && config.HANDSHAKES_PER_IP_PER_MINUTE === 0) return undefined
      const address = addressOf(request)
      if (config.MAX_CONNECTIONS_PER_IP > 0 && (open.get(address) ?? 0) >= config.MAX_CONNECTIONS_PER_IP) {
        return { status: 429, reason: 'too many connections from this address', retryAfterSeconds }
      }
      if (config.HANDSHAKES_PER_IP_PER_MINUTE > 0) {
        const now = Date.now()
        let entry = handshakes.get(address)
        if (entry === undefined) {
          const perMinute = config.HANDSHAKES_PER_IP_PER_MINUTE
          entry = { bucket: createTokenBucket(perMinute, perMinute / 60, now), seen: now }
          handshakes.set(address, entry)
        }
        entry.seen = now
        if (!entry.bucket.take(now)) return { status: 429, reason: 'too many new connections from this address', retryAfterSeconds: 60 }
      }
      if (config.MAX_CONNECTIONS_PER_IP > 0) {
        open.set(address, (open.get(address) ?? 0) + 1)
        // Released when the connection closes, or now-ish if the handshake never completes.
        reserved.set(request, { address, expiry: setTimeout(() => {
          reserved.delete(request)
          release(address)
        }, HANDSHAKE_RESERVATION_MS).unref() })
      }
      return undefined
    },

    attach(engine) {
      /** The engine sessions this instance holds. */
      const sessions = new Set<string>()
      engine.use((request, response, next) => {
        const sid = new URL(request.url ?? '/', 'http://x').searchParams.get('sid') ?? undefined
        const refusal = admission.check(request, sid, sid !== undefined && sessions.has(sid))
        if (refusal === undefined) return next()
        fastify.clientLog.log(undefined, 'debug', { refusal: refusal.reason }, 'socket.io request refused')
        refuse(request, response, refusal)
      })
      engine.on('connection', (connection) => {
        sessions.add(connection.id)
        const reservation = reserved.get(connection.request)
        if (reservation !== undefined) {
          reserved.delete(connection.request)
          clearTimeout(reservation.expiry)
        }
        // One listener, not two `once`s: each costs a wrapper, and a third listener on the
        // connection's `close` grows its listener array to room for nineteen.
        const address = reservation?.address
        connection.on('close', () => {
          sessions.delete(connection.id)
          if (address !== undefined) release(address)
        })
      })
    }
  }
  return admission
}

/** Who may open a Socket.IO connection and use it: allowed origins, load, draining, and per-address limits. */
export default fp(
  async function admissionPlugin(fastify) {
    fastify.decorate('admission', createAdmission(fastify))
  },
  { name: 'admission', dependencies: ['env', 'pressure', 'health', 'client-log'] }
)
