import type { FastifyInstance } from 'fastify'
import { SignalPayload } from '../protocol.js'
import { currentRoom } from './current-room.js'
import { fitsJson } from './json-size.js'
import { SignalingError } from './signaling-error.js'

/**
 * The WebRTC relay: offers, answers and ICE candidates, passed through unchanged, only between
 * members of one room. The seed relayed to any socket id, so anyone who learned an id could inject
 * SDP into someone else's call.
 */
export default async function signalEvents(fastify: FastifyInstance): Promise<void> {
  const { rooms, socketEvents, config, metrics } = fastify

  socketEvents.on('signal', {
    schema: SignalPayload,
    async handle({ socket, ok }, { to, signal }) {
      const roomId = currentRoom(socket)
      if (!fitsJson(signal, config.MAX_SIGNAL_BYTES)) throw new SignalingError('PAYLOAD_TOO_LARGE')
      if (to === socket.id || !(await rooms.isMember(roomId, to))) throw new SignalingError('PEER_NOT_FOUND')
      ok({})
      fastify.io.to(to).emit('signal', { from: socket.id, signal })
      metrics.signalRelayed()
    }
  })
}
