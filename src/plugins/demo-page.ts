import fastifyStatic from '@fastify/static'
import fp from 'fastify-plugin'
import { fileURLToPath } from 'node:url'

/** Resolved from this file, which sits one level below the package root both as src/ and dist/. */
const PAGE = fileURLToPath(new URL('../../public/', import.meta.url))
const BUNDLE = fileURLToPath(new URL('../../dist/public/', import.meta.url))

/**
 * The reference video-call client at `/` (DEMO_PAGE=false turns it off): the page and its styles
 * from public/, the bundled script from dist/public/ (built by `npm run build`).
 */
export default fp(
  async function demoPagePlugin(fastify) {
    if (!fastify.config.DEMO_PAGE) return
    await fastify.register(fastifyStatic, { root: [PAGE, BUNDLE], prefix: '/', index: 'index.html', logLevel: 'warn' })
  },
  { name: 'demo-page', dependencies: ['env'] }
)
