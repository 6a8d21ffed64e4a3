import fp from 'fastify-plugin'
import type { Socket } from 'node:net'

/** A long-polling session holds up to two HTTP connections at a time (its GET and its POST)… */
const HTTP_CONNECTIONS_PER_SESSION = 2
/** …and a browser opens a few more for the page itself. */
const HTTP_CONNECTIONS_SLACK = 10

/**
 * Bounds on the raw HTTP server, before any route or Socket.IO sees a request: a request must
 * arrive whole in time (Fastify's default of no timeout let a chunked body that never ends hold
 * its connection for good), idle keep-alive connections are closed, and, when clients connect
 * directly (no TRUST_PROXY), one address may hold only so many TCP connections. Behind a proxy
 * every connection comes from the proxy: capping them is the balancer's job (deploy/nginx.conf).
 */
export default fp(
  async function httpLimitsPlugin(fastify) {
    const { config } = fastify
    const server = fastify.server
    server.requestTimeout = config.HTTP_REQUEST_TIMEOUT_MS
    server.headersTimeout = config.HTTP_HEADERS_TIMEOUT_MS
    server.keepAliveTimeout = config.HTTP_KEEP_ALIVE_TIMEOUT_MS

    const direct = config.TRUST_PROXY.trim() === '' || config.TRUST_PROXY.trim() === 'false'
    if (config.MAX_CONNECTIONS_PER_IP === 0 || !direct) return
    const limit = config.MAX_CONNECTIONS_PER_IP * HTTP_CONNECTIONS_PER_SESSION + HTTP_CONNECTIONS_SLACK
    const open = new Map<string, number>()
    // One function for every connection (`this` is the socket), not a closure and a `once` wrapper
    // each: every WebSocket keeps its TCP connection, so this is per-socket memory. The address
    // was read, and so cached by the socket, when it connected.
    function closed(this: Socket): void {
      const address = this.remoteAddress ?? ''
      const left = (open.get(address) ?? 1) - 1
      if (left <= 0) open.delete(address)
      else open.set(address, left)
    }
    server.on('connection', (socket: Socket) => {
      const address = socket.remoteAddress ?? ''
      const count = (open.get(address) ?? 0) + 1
      if (count > limit) {
        socket.destroy()
        return
      }
      open.set(address, count)
      socket.on('close', closed)
    })
  },
  { name: 'http-limits', dependencies: ['env'] }
)
