import fp from 'fastify-plugin'
import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload, type JWTVerifyResult } from 'jose'
import { usernameFrom } from '../events/username.js'

/** A display name from a token's `name` claim (else `sub`), cut to what a username may be. */
export function usernameFromClaims(claims: JWTPayload): string | undefined {
  const raw = typeof claims.name === 'string' && claims.name.trim() !== '' ? claims.name : claims.sub
  return typeof raw === 'string' ? usernameFrom(raw) : undefined
}

/** Why a handshake was refused, in words a developer wiring up a frontend can act on. */
function refusal(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'Authentication failed: the token has expired.'
  if (error instanceof errors.JWTClaimValidationFailed) return `Authentication failed: the token's "${error.claim}" claim is not accepted.`
  if (error instanceof errors.JWKSNoMatchingKey) return 'Authentication failed: the token was signed with an unknown key.'
  return 'Authentication failed: the token is not valid.'
}

/** A verified sign-in token: who it is for, the name it gives, when it stops being valid. */
export interface SignedIn {
  subject: string
  username: string
  /** Epoch ms. */
  expiresAt: number
}

export interface SignIn {
  /** Whether every connection must sign in (AUTH_JWT_SECRET or AUTH_JWKS_URL is set). */
  readonly required: boolean
  /** Verifies a token as the handshake does; rejects with an Error whose message says why, for the client. */
  verify(token: string): Promise<SignedIn>
}

declare module 'fastify' {
  interface FastifyInstance {
    signIn: SignIn
  }
}

/**
 * Sign-in (off unless AUTH_JWT_SECRET or AUTH_JWKS_URL is set): every Socket.IO handshake must carry
 * `auth: { token }`, a valid unexpired JWT; otherwise the client gets `connect_error` with a clear
 * message and no socket is created. The token's name becomes the username, for good. A token that
 * expires mid-call is the `refresh-token` event's business (events/sign-in.ts).
 */
export default fp(
  async function authPlugin(fastify) {
    const { AUTH_JWT_SECRET, AUTH_JWKS_URL, AUTH_ISSUER, AUTH_AUDIENCE, AUTH_JWKS_COOLDOWN_MS } = fastify.config
    const options = {
      issuer: AUTH_ISSUER || undefined,
      audience: AUTH_AUDIENCE || undefined,
      requiredClaims: ['exp']
    }
    let verifyJwt: ((token: string) => Promise<JWTVerifyResult>) | undefined
    if (AUTH_JWT_SECRET) {
      const secret = new TextEncoder().encode(AUTH_JWT_SECRET)
      verifyJwt = (token) => jwtVerify(token, secret, { ...options, algorithms: ['HS256'] })
    } else if (AUTH_JWKS_URL) {
      // Caches the key set and refetches it when a token names a key id it has not seen (rotation).
      const keys = createRemoteJWKSet(new URL(AUTH_JWKS_URL), { cooldownDuration: AUTH_JWKS_COOLDOWN_MS })
      verifyJwt = (token) => jwtVerify(token, keys, options)
    }

    async function verify(token: string): Promise<SignedIn> {
      if (verifyJwt === undefined) throw new Error('Sign-in is not required here.')
      let payload: JWTPayload
      try {
        ;({ payload } = await verifyJwt(token))
      } catch (error) {
        // A key set that cannot be fetched is the operator's problem, not the client's token.
        const keySetFailed =
          !(error instanceof errors.JOSEError) || error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid
        if (keySetFailed) fastify.clientLog.log(undefined, 'warn', { err: error }, 'sign-in refused: the key set could not be used')
        else fastify.clientLog.log(undefined, 'debug', { err: error }, 'sign-in refused: token not accepted')
        throw new Error(refusal(error), { cause: error })
      }
      const username = usernameFromClaims(payload)
      if (username === undefined || typeof payload.sub !== 'string') throw new Error('Authentication failed: the token has no sub claim.')
      return { subject: payload.sub, username, expiresAt: (payload.exp as number) * 1000 }
    }

    fastify.decorate('signIn', { required: verifyJwt !== undefined, verify })
    if (verifyJwt === undefined) return

    fastify.io.use((socket, next) => {
      const token: unknown = socket.handshake.auth?.token
      if (typeof token !== 'string' || token === '') {
        next(new Error('Authentication required: connect with auth: { token }.'))
        return
      }
      verify(token).then(
        ({ subject, username, expiresAt }) => {
          // A recovered session belongs to whoever signed in first; nobody else may resume it.
          if (socket.recovered && socket.data.subject !== subject) {
            next(new Error('Authentication failed: the token is for another user than this session.'))
            return
          }
          Object.assign(socket.data, { verified: true, subject, username, tokenExpiresAt: expiresAt })
          next()
        },
        (error: Error) => next(error)
      )
    })
  },
  { name: 'auth', dependencies: ['env', 'socket', 'client-log'] }
)
