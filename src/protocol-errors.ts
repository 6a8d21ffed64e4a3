/**
 * The protocol's error codes and their messages, apart from protocol.ts because they are the one
 * runtime value a browser client needs (to tell the code of an `error` event, which carries only
 * the message) and protocol.ts holds runtime schemas that must stay out of a browser bundle.
 */
export const USERNAME_MAX_LENGTH = 32

/** Stable machine codes; the human message is what the seed's frontends render. */
export const ERROR_MESSAGES = {
  INVALID_PAYLOAD: 'Invalid request.',
  USERNAME_REQUIRED: 'Please register a username first.',
  INVALID_USERNAME: `Username must be 1 to ${USERNAME_MAX_LENGTH} characters, with no invisible or control characters.`,
  ROOM_NOT_FOUND: 'Room ID not found.',
  ROOM_FULL: 'Room is full.',
  ALREADY_IN_ROOM: 'You are already in a room. Leave it first.',
  NOT_IN_ROOM: 'You are not in that room.',
  PEER_NOT_FOUND: 'That user is not in your room.',
  PAYLOAD_TOO_LARGE: 'Message is too large.',
  RATE_LIMITED: 'Too many requests. Slow down.',
  TOO_MANY_FAILED_JOINS: 'Too many failed attempts to join a room.',
  TOO_MANY_ROOMS: 'Too many new rooms. Wait a minute and try again.',
  TOKEN_EXPIRED: 'Your sign-in has expired. Sign in again.',
  INVALID_TOKEN: 'That sign-in token is not accepted.',
  UNAVAILABLE: 'The service is temporarily unavailable. Try again shortly.',
  SEAT_LOST: 'You lost your place in the room while you were away. Join again.',
  INTERNAL: 'Something went wrong on the server.'
} as const

export type ErrorCode = keyof typeof ERROR_MESSAGES
