import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { IncomingMessage } from 'node:http'
import proxyaddr from 'proxy-addr'
import { createTokenBucket, type TokenBucket } from '../events/token-bucket.js'
import { parseCorsOrigins } from './cors.js'

/** The part of engine.io's server admission needs: its connections, each with its request. */
interface Engine {
  on(event: 'connection', listener: (connection: { request: IncomingMessage; once(event: 'close', listener: () => void): unknown }) => void): unknown
}

export interface Admission {
  /**
   * Why a new Socket.IO handshake must be refused, or undefined to let it in. A handshake let in
   * counts against its address at once, so a burst of parallel handshakes cannot slip past the cap.
   */
  refuse(request: IncomingMessage): string | undefined
  /** Keeps each admitted connection counted until it closes. */
  watch(engine: Engine): void
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

  if (config.HANDSHAKES_PER_IP_PER_MINUTE > 0) {
    // An address unseen for a minute has a full bucket again: forget it.
    const sweep = setInterval(() => {
      const stale = Date.now() - 60_000
      for (const [address, entry] of handshakes) if (entry.seen < stale) handshakes.delete(address)
    }, 60_000)
    sweep.unref()
    fastify.addHook('onClose', async () => clearInterval(sweep))
  }

  return {
    refuse(request) {
      // Browsers apply CORS to long-polling but not to WebSockets: check the Origin ourselves.
      // Clients that send none (native apps, servers) are not browsers and CORS does not concern them.
      const origin = request.headers.origin
      if (origins !== '*' && origin !== undefined && !origins.includes(origin)) return 'origin not allowed'
      if (fastify.isUnderPressure()) return 'server under pressure'
      if (config.MAX_CONNECTIONS_PER_IP === 0 && config.HANDSHAKES_PER_IP_PER_MINUTE === 0) return undefined
      const address = addressOf(request)
      if (config.MAX_CONNECTIONS_PER_IP > 0 && (open.get(address) ?? 0) >= config.MAX_CONNECTIONS_PER_IP) {
        return 'too many connections from this address'
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
        if (!entry.bucket.take(now)) return 'too many new connections from this address'
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

    watch(engine) {
      engine.on('connection', (connection) => {
        const address = reserved.get(connection.request)
        if (address === undefined) return
        reserved.delete(connection.request)
        clearTimeout(address.expiry)
        connection.once('close', () => release(address.address))
      })
    }
  }
}

/** Who may open a Socket.IO connection: allowed origins, load, and per-address limits. */
export default fp(
  async function admissionPlugin(fastify) {
    fastify.decorate('admission', createAdmission(fastify))
  },
  { name: 'admission', dependencies: ['env', 'pressure'] }
)
