import type { FastifyInstance } from 'fastify'
import { ERROR_MESSAGES, RefreshTokenPayload } from '../protocol.js'
import type { ServedSocket } from './event-router.js'
import { SignalingError } from './signaling-error.js'

/** setTimeout's longest delay (about 24.8 days); a later expiry is rechecked then. */
const LONGEST_TIMER_MS = 2 ** 31 - 1

/**
 * A sign-in token is checked at the handshake, and stays true only until its `exp`: then the
 * connection is told TOKEN_EXPIRED and disconnected, unless it handed over a fresh token first with
 * `refresh-token` (verified exactly as the handshake's, for the same `sub`).
 */
export default async function signInEvents(fastify: FastifyInstance): Promise<void> {
  const { socketEvents, signIn } = fastify
  const expiries = new Map<ServedSocket, NodeJS.Timeout>()

  function schedule(served: ServedSocket): void {
    clearTimeout(expiries.get(served))
    const { socket } = served
    const expiresAt = socket.data.tokenExpiresAt
    if (expiresAt === undefined) return
    const timer = setTimeout(() => {
      if (Date.now() < expiresAt) return schedule(served)
      expiries.delete(served)
      // Then for good: the seat is freed.
      fastify.announce.error(socket.id, ERROR_MESSAGES.TOKEN_EXPIRED)
      socket.disconnect(true)
    }, Math.min(LONGEST_TIMER_MS, Math.max(0, expiresAt - Date.now())))
    timer.unref()
    expiries.set(served, timer)
  }

  socketEvents.on('refresh-token', {
    schema: RefreshTokenPayload,
    fromBare: (token) => ({ token }),
    async handle({ socket, served, ok }, { token }) {
      if (!signIn.required) {
        ok({ expiresAt: null })
        return
      }
      const fresh = await signIn.verify(token).catch(() => undefined)
      if (fresh === undefined || fresh.subject !== socket.data.subject) throw new SignalingError('INVALID_TOKEN')
      socket.data.tokenExpiresAt = fresh.expiresAt
      schedule(served)
      ok({ expiresAt: fresh.expiresAt })
    }
  })

  if (!signIn.required) return
  socketEvents.onConnect(async (served) => schedule(served))
  socketEvents.onDisconnect(async (served) => {
    clearTimeout(expiries.get(served))
    expiries.delete(served)
  })
}
