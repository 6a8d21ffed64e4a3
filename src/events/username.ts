import { USERNAME_MAX_LENGTH } from '../protocol.js'
import { SignalingError } from './signaling-error.js'

/** Control characters, and the two line separators JSON and JavaScript disagree about. */
const CONTROL_CHARACTERS = /[\p{Cc}\u2028\u2029]/gu

/** Trimmed, 1–32 characters (code points), no control characters; else INVALID_USERNAME. */
export function normaliseUsername(raw: string): string {
  const username = raw.trim()
  const length = [...username].length
  CONTROL_CHARACTERS.lastIndex = 0
  if (length === 0 || length > USERNAME_MAX_LENGTH || CONTROL_CHARACTERS.test(username)) {
    throw new SignalingError('INVALID_USERNAME')
  }
  return username
}

/**
 * The closest valid username to a name we did not choose (a sign-in token's claim): control
 * characters removed, trimmed, cut to 32 characters; undefined when nothing is left.
 */
export function usernameFrom(raw: string): string | undefined {
  const cleaned = [...raw.replace(CONTROL_CHARACTERS, '').trim()].slice(0, USERNAME_MAX_LENGTH).join('').trim()
  return cleaned === '' ? undefined : cleaned
}
