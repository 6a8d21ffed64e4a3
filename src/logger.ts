import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify'
import { pino, type DestinationStream } from 'pino'

/**
 * Structured JSON logs with no personal data: requests are logged by method and path only (no
 * client address, no query string, which may carry a room id), and nothing else here ever logs a
 * username, an SDP or an address.
 */
export function createLogger(destination?: DestinationStream): FastifyBaseLogger {
  return pino(
    {
      level: 'info',
      serializers: {
        err: errorSummary,
        req: (request: FastifyRequest) => ({ method: request.method, path: request.url.split('?', 1)[0] }),
        res: (reply: FastifyReply) => ({ statusCode: reply.statusCode })
      }
    },
    destination
  )
}

/**
 * An error fit for the logs: name, message and stack only. Some errors carry what caused them
 * (ioredis attaches the failed command with its arguments: usernames, room ids), which must not
 * reach the logs.
 */
export function errorSummary(error: unknown): { name: string; message: string; stack?: string } {
  if (error instanceof Error) return { name: error.name, message: error.message, stack: error.stack }
  return { name: typeof error, message: String(error) }
}
