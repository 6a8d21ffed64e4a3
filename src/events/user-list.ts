import type { FastifyInstance } from 'fastify'
import { UserListPayload } from '../protocol.js'
import { currentRoom } from './current-room.js'

/** Who is in the caller's own room; the seed listed any room's usernames to anyone. */
export default async function userListEvents(fastify: FastifyInstance): Promise<void> {
  const { rooms, socketEvents, announce } = fastify

  socketEvents.on('user-list', {
    schema: UserListPayload,
    fromBare: (roomId) => ({ roomId }),
    async handle({ socket, ok }, payload) {
      const roomId = currentRoom(socket, payload.roomId)
      const users = (await rooms.members(roomId)) ?? []
      ok({ users })
      announce.userList(socket.id, users)
    }
  })
}
