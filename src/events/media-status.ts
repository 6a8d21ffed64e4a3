import type { FastifyInstance } from 'fastify'
import { MediaStatusPayload } from '../protocol.js'
import { currentRoom } from './current-room.js'

/**
 * Camera and microphone state. The server remembers it per seat, so a late joiner sees it in
 * `room-joined` (the seed never told late joiners), and stamps the sender's real id on the relay.
 */
export default async function mediaStatusEvents(fastify: FastifyInstance): Promise<void> {
  const { rooms, socketEvents, announce } = fastify

  socketEvents.on('camera-mic-status', {
    schema: MediaStatusPayload,
    async handle({ socket, ok }, { camera, mic, roomId: claimedRoomId }) {
      const roomId = currentRoom(socket, claimedRoomId)
      await rooms.update(roomId, socket.id, { camera, mic })
      socket.data.camera = camera
      socket.data.mic = mic
      const status = { id: socket.id, camera, mic }
      ok(status)
      announce.mediaStatus(roomId, status)
    }
  })
}
