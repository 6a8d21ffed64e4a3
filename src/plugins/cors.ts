import fastifyCors from '@fastify/cors'
import fp from 'fastify-plugin'

/** `*` (any origin) or the exact list from CORS_ORIGINS, for HTTP routes and Socket.IO alike. */
export function parseCorsOrigins(value: string): '*' | string[] {
  const origins = value
    .split(',')
    .map((origin) => origin.trim())
    .filter((origin) => origin.length > 0)
  return origins.length === 0 || origins.includes('*') ? '*' : origins
}

/**
 * CORS for the HTTP routes. Socket.IO answers its own requests before Fastify sees them, so the
 * socket plugin passes the same origins to Socket.IO's `cors` option.
 */
export default fp(
  async function corsPlugin(fastify) {
    await fastify.register(fastifyCors, {
      origin: parseCorsOrigins(fastify.config.CORS_ORIGINS),
      methods: ['GET', 'HEAD', 'OPTIONS']
    })
  },
  { name: 'cors', dependencies: ['env'] }
)
