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
  const { rooms, socketEvents, config, metrics, announce } = fastify

  /**
   * The size check, then the ack, then the relay. A plain function: no closure per signal. The size
   * is checked last, after the cheap checks, so that a refused signal costs nothing in its size.
   */
  function relay(ok: (data: object) => void, from: string, to: string, signal: SignalPayload['signal']): void {
    if (!fitsJson(signal, config.MAX_SIGNAL_BYTES)) throw new SignalingError('PAYLOAD_TOO_LARGE')
    ok({})
    announce.signal(to, { from, signal })
    metrics.signalRelayed()
  }

  socketEvents.on('signal', {
    schema: SignalPayload,
    handle({ socket, ok }, { to, signal }) {
      const roomId = currentRoom(socket)
      if (to === socket.id) throw new SignalingError('PEER_NOT_FOUND')
      // A peer connected to this instance and in the room's Socket.IO room is taken as seated,
      // with no store round trip (a promise in memory, a Redis call otherwise). A socket joins that
      // room once the store has seated it and leaves it when it leaves or disconnects. The two can
      // disagree briefly: a recovered socket is back in its rooms before its seat is reclaimed
      // (and leaves them if the seat is gone), and with Redis a seat freed by another instance's
      // reaper is repaired on this one. Either way the peer was in this very room moments ago.
      // Anyone else (a peer on another instance, or away within its reconnect grace) is asked of
      // the store.
      if (socket.nsp.adapter.rooms.get(roomId)?.has(to) === true) return relay(ok, socket.id, to, signal)
      return rooms.isMember(roomId, to).then((member) => {
        if (!member) throw new SignalingError('PEER_NOT_FOUND')
        relay(ok, socket.id, to, signal)
      })
    }
  })
}
