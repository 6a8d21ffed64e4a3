import fp from 'fastify-plugin'
import { createHmac } from 'node:crypto'
import type { IceServer, IceServers } from '../protocol.js'

export interface IceServerIssuer {
  /** The servers for one connection; TURN credentials are minted for it and expire after TURN_TTL_S. */
  readonly forSocket: (socketId: string) => IceServers
}

declare module 'fastify' {
  interface FastifyInstance {
    iceServers: IceServerIssuer
  }
}

const list = (value: string): string[] =>
  value
    .split(',')
    .map((url) => url.trim())
    .filter((url) => url.length > 0)

/**
 * TURN REST credentials, as coturn checks them with `use-auth-secret`: the username is
 * `<unix expiry>:<socket id>` and the credential base64(HMAC-SHA1(secret, username)). Nothing is
 * stored, and a credential stops working by itself at its expiry.
 */
export function turnCredential(secret: string, socketId: string, expiresAtSeconds: number): { username: string; credential: string } {
  const username = `${expiresAtSeconds}:${socketId}`
  return { username, credential: createHmac('sha1', secret).update(username).digest('base64') }
}

export default fp(
  async function icePlugin(fastify) {
    const { STUN_URLS, TURN_URLS, TURN_SECRET, TURN_TTL_S } = fastify.config
    const stun = list(STUN_URLS)
    const turn = list(TURN_URLS)
    const base: IceServer[] = stun.length > 0 ? [{ urls: stun }] : []

    fastify.decorate('iceServers', {
      forSocket(socketId: string): IceServers {
        if (turn.length === 0 || TURN_SECRET === undefined) return { iceServers: base, expiresAt: null }
        const expiresAtSeconds = Math.floor(Date.now() / 1000) + TURN_TTL_S
        return {
          iceServers: [...base, { urls: turn, ...turnCredential(TURN_SECRET, socketId, expiresAtSeconds) }],
          expiresAt: expiresAtSeconds * 1000
        }
      }
    })
  },
  { name: 'ice', dependencies: ['env'] }
)
