import { randomInt } from 'node:crypto'

/**
 * Lower-case letters without i, l and o, which read like 1, 1 and 0. Ten of them give
 * 23^10 ≈ 4.1e13 ids (45 bits): with MAX_FAILED_JOINS a guesser gets a handful of tries per
 * connection, against the seed's 24-bit hex ids that could be walked in minutes.
 */
export const ROOM_ID_ALPHABET = 'abcdefghjkmnpqrstuvwxyz'
export const ROOM_ID_LETTERS = 10
const GROUPS = [3, 4, 3] as const
const CANONICAL = new RegExp(`^[${ROOM_ID_ALPHABET}]{${ROOM_ID_LETTERS}}$`)

function format(letters: string): string {
  let out = ''
  let at = 0
  for (const size of GROUPS) {
    out += (at === 0 ? '' : '-') + letters.slice(at, at + size)
    at += size
  }
  return out
}

/** A fresh id shown as `abc-defg-hjk`, from a cryptographic source. */
export function createRoomId(): string {
  let letters = ''
  for (let i = 0; i < ROOM_ID_LETTERS; i++) letters += ROOM_ID_ALPHABET[randomInt(ROOM_ID_ALPHABET.length)]
  return format(letters)
}

/**
 * The canonical `abc-defg-hjk` form of what a user typed or pasted (any case, with or without
 * dashes or spaces), or undefined when it cannot be one of our ids.
 */
export function normaliseRoomId(input: string): string | undefined {
  const letters = input.toLowerCase().replace(/[\s-]/g, '')
  return CANONICAL.test(letters) ? format(letters) : undefined
}
