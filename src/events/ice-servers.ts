import type { FastifyInstance } from 'fastify'
import { IceServersPayload } from '../protocol.js'

/** STUN and TURN servers for a connected socket; without TURN, calls behind strict NATs fail. */
export default async function iceServerEvents(fastify: FastifyInstance): Promise<void> {
  const { socketEvents, iceServers } = fastify

  socketEvents.on('ice-servers', {
    schema: IceServersPayload,
    async handle({ socket, ok }) {
      ok(iceServers.forSocket(socket.id))
    }
  })
}
