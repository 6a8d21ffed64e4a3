import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { IncomingMessage } from 'node:http'
import proxyaddr from 'proxy-addr'
import { createTokenBucket, type TokenBucket } from '../events/token-bucket.js'
import { parseCorsOrigins } from './cors.js'

export interface Admission {
  /** Why a new Socket.IO handshake must be refused, or undefined to let it in. */
  refuse(request: IncomingMessage): string | undefined
  /** Counts a connection against its client address until it closes. */
  track(request: IncomingMessage, onClose: (listener: () => void) => void): void
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

function createAdmission(fastify: FastifyInstance): Admission {
  const { config } = fastify
  const origins = parseCorsOrigins(config.CORS_ORIGINS)
  const trust = parseTrustProxy(config.TRUST_PROXY)
  const addressOf = (request: IncomingMessage): string => proxyaddr(request, trust)
  const open = new Map<string, number>()
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
      return undefined
    },

    track(request, onClose) {
      if (config.MAX_CONNECTIONS_PER_IP === 0) return
      const address = addressOf(request)
      open.set(address, (open.get(address) ?? 0) + 1)
      onClose(() => {
        const count = (open.get(address) ?? 1) - 1
        if (count === 0) open.delete(address)
        else open.set(address, count)
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
