import type { ERROR_MESSAGES, ErrorCode } from '../src/protocol.js'

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

/**
 * The server's messages, to recover the code of an `error` event (which carries the message only).
 * Typed as the server's own table: the build fails if the two ever differ. A copy, because
 * protocol.ts also holds runtime schemas that must stay out of a browser bundle.
 */
const MESSAGES: typeof ERROR_MESSAGES = {
  INVALID_PAYLOAD: 'Invalid request.',
  USERNAME_REQUIRED: 'Please register a username first.',
  INVALID_USERNAME: 'Username must be 1 to 32 characters with no control characters.',
  ROOM_NOT_FOUND: 'Room ID not found.',
  ROOM_FULL: 'Room is full.',
  ALREADY_IN_ROOM: 'You are already in a room. Leave it first.',
  NOT_IN_ROOM: 'You are not in that room.',
  PEER_NOT_FOUND: 'That user is not in your room.',
  PAYLOAD_TOO_LARGE: 'Message is too large.',
  RATE_LIMITED: 'Too many requests. Slow down.',
  TOO_MANY_FAILED_JOINS: 'Too many failed attempts to join a room.',
  UNAVAILABLE: 'The service is temporarily unavailable. Try again shortly.',
  SEAT_LOST: 'You lost your place in the room while you were away. Join again.',
  INTERNAL: 'Something went wrong on the server.'
}

export const SEAT_LOST_MESSAGE = MESSAGES.SEAT_LOST

/** The error an `error` event's message stands for. */
export function errorFromMessage(message: string): CallError {
  const code = (Object.keys(MESSAGES) as ErrorCode[]).find((key) => MESSAGES[key] === message) ?? 'INTERNAL'
  return new CallError(code, message)
}
