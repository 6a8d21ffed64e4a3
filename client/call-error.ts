import { ERROR_MESSAGES, type ErrorCode } from '../src/protocol-errors.js'

/**
 * The server's codes (docs/protocol.md), and three of the client's own: `TIMEOUT` (no answer in
 * time), `CONNECT_FAILED` (the socket could not connect: a refused token, an unreachable server) and
 * `DISCONNECTED` (the server closed the connection for good).
 */
export type CallErrorCode = ErrorCode | 'TIMEOUT' | 'CONNECT_FAILED' | 'DISCONNECTED'

/** What every failed request rejects with, and what the `error` event carries. */
export class CallError extends Error {
  constructor(
    readonly code: CallErrorCode,
    message: string
  ) {
    super(message)
    this.name = 'CallError'
  }
}

export const SEAT_LOST_MESSAGE = ERROR_MESSAGES.SEAT_LOST

/** The error an `error` event's message stands for. */
export function errorFromMessage(message: string): CallError {
  // The `error` event carries the message only: the server's own table gives its code back.
  const code = (Object.keys(ERROR_MESSAGES) as ErrorCode[]).find((key) => ERROR_MESSAGES[key] === message) ?? 'INTERNAL'
  return new CallError(code, message)
}
