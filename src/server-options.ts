import type { FastifyServerOptions } from 'fastify'
import type { DestinationStream } from 'pino'
import { createLogger } from './logger.js'

/** The Fastify instance options, shared by server.ts and the tests so they cannot drift apart. */
export function createServerOptions(logDestination?: DestinationStream): FastifyServerOptions {
  return {
    loggerInstance: createLogger(logDestination),
    // By the time the HTTP server closes, every socket has been moved off (preClose); a browser
    // retrying in the meantime must not keep the process alive with open keep-alive requests.
    forceCloseConnections: true
  }
}
