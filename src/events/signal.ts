import type { FastifyInstance } from 'fastify'
import { SignalPayload } from '../protocol.js'
import { currentRoom, seatRoom } from './current-room.js'
import { fitsJson } from './json-size.js'
import { SignalingError } from './signaling-error.js'

/**
 * The WebRTC relay: offers, answers and ICE candidates, passed through unchanged, only between
 * members of one room. The seed relayed to any socket id, so anyone who learned an id could inject
 * SDP into someone else's call.
 */
export default async function signalEvents(fastify: FastifyInstance): Promise<void> {
  const { rooms, socketEvents, config, metrics, announce, roster } = fastify

  /**
   * The size check, then the ack, then the relay. A plain function: no closure per signal. The size
   * is checked last, after the cheap checks, so that a refused signal costs nothing in its size.
   */
  function relay(ok: (data: object) => void, seat: string, from: string, to: string, signal: SignalPayload['signal']): void {
    if (!fitsJson(signal, config.MAX_SIGNAL_BYTES)) throw new SignalingError('PAYLOAD_TOO_LARGE')
    ok({})
    announce.signal(seat, to, { from, signal })
    metrics.signalRelayed()
  }

  socketEvents.on('signal', {
    schema: SignalPayload,
    handle({ socket, ok }, { to, signal }) {
      const roomId = currentRoom(socket)
      if (to === socket.id) throw new SignalingError('PEER_NOT_FOUND')
      // Success without the store when possible: a peer seated here is in its seat room, one elsewhere
      // in the roster; anyone else is asked of the store. Delivery goes by the seat room, whatever
      // these said (docs/recovery.md, Between instances).
      // The seat room's name made once: it is hashed where it is looked up, and delivered to.
      const seat = seatRoom(roomId, to)
      if (socket.nsp.adapter.rooms.has(seat) || roster.has(roomId, to)) return relay(ok, seat, socket.id, to, signal)
      return rooms.isMember(roomId, to).then((member) => {
        if (!member) throw new SignalingError('PEER_NOT_FOUND')
        relay(ok, seat, socket.id, to, signal)
      })
    }
  })
}
