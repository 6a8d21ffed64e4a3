import type { FastifyHttpOptions } from 'fastify'
import type { Server } from 'node:http'
import type { DestinationStream } from 'pino'
import { createLogger } from './logger.js'

/** The Fastify instance options, shared by server.ts and the tests so they cannot drift apart. */
export function createServerOptions(logDestination?: DestinationStream): FastifyHttpOptions<Server> {
  return {
    loggerInstance: createLogger(logDestination),
    // By the time the HTTP server closes, every socket has been moved off (preClose); a browser
    // retrying in the meantime must not keep the process alive with open keep-alive requests.
    forceCloseConnections: true,
    // How often Node checks the request and headers timeouts (http-limits.ts); its 30 s default
    // would let a stalled request live that much past them.
    http: { connectionsCheckingInterval: 2000 }
  }
}
