import type { FastifyInstance } from 'fastify'
import {
  CreateRoomPayload,
  JoinRoomPayload,
  LeaveRoomPayload,
  type Member,
  RegisterUsernamePayload,
  USERNAME_MAX_LENGTH
} from '../protocol.js'
import { normaliseRoomId } from '../rooms/room-id.js'
import { currentRoom } from './current-room.js'
import type { EventDefinition, SignalingSocket } from './event-router.js'
import { SignalingError } from './signaling-error.js'

// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS = /[\p{Cc}\u2028\u2029]/u

/** Trimmed, 1–32 characters (code points), no control characters; else INVALID_USERNAME. */
export function normaliseUsername(raw: string): string {
  const username = raw.trim()
  const length = [...username].length
  if (length === 0 || length > USERNAME_MAX_LENGTH || CONTROL_CHARACTERS.test(username)) {
    throw new SignalingError('INVALID_USERNAME')
  }
  return username
}

/** A new seat starts with camera and microphone on, as the seed's frontends start a call. */
function seat(socket: SignalingSocket, username: string): Member {
  return { id: socket.id, username, camera: true, mic: true }
}

/** Room lifecycle: usernames, creating, joining and leaving rooms, and leaving on disconnect. */
export default async function roomEvents(fastify: FastifyInstance): Promise<void> {
  const { rooms, socketEvents, config } = fastify

  async function leave(socket: SignalingSocket, roomId: string): Promise<void> {
    await rooms.leave(roomId, socket.id)
    socket.data.roomId = undefined
    await socket.leave(roomId)
  }

  socketEvents.on('register-username', {
    schema: RegisterUsernamePayload,
    fromBare: (username) => ({ username }),
    async handle({ socket, ok }, payload) {
      const username = normaliseUsername(payload.username)
      socket.data.username = username
      const roomId = socket.data.roomId
      if (roomId !== undefined) await rooms.update(roomId, socket.id, { username })
      ok({ username })
    }
  })

  socketEvents.on('create-room', {
    schema: CreateRoomPayload,
    async handle({ socket, ok }, payload) {
      const username = payload.username === undefined ? socket.data.username : normaliseUsername(payload.username)
      if (socket.data.roomId !== undefined) throw new SignalingError('ALREADY_IN_ROOM')
      if (username === undefined) throw new SignalingError('USERNAME_REQUIRED')

      const member = seat(socket, username)
      const roomId = await rooms.create(member)
      socket.data.username = username
      socket.data.roomId = roomId
      await socket.join(roomId)

      const joined = { roomId, users: [member] }
      ok(joined)
      socket.emit('room-id', roomId)
      socket.emit('room-joined', joined)
    }
  })

  socketEvents.on('join-room', {
    schema: JoinRoomPayload,
    fromBare: (roomId) => ({ roomId }),
    async handle({ socket, session, ok }, payload) {
      const username = payload.username === undefined ? socket.data.username : normaliseUsername(payload.username)
      if (socket.data.roomId !== undefined) throw new SignalingError('ALREADY_IN_ROOM')
      if (username === undefined) throw new SignalingError('USERNAME_REQUIRED')
      if (session.failedJoins >= config.MAX_FAILED_JOINS) throw new SignalingError('TOO_MANY_FAILED_JOINS')

      const roomId = normaliseRoomId(payload.roomId)
      const member = seat(socket, username)
      const outcome = roomId === undefined ? { status: 'not-found' as const } : await rooms.join(roomId, member)
      if (outcome.status === 'not-found') {
        session.failedJoins++
        throw new SignalingError('ROOM_NOT_FOUND')
      }
      if (outcome.status === 'full') throw new SignalingError('ROOM_FULL')

      socket.data.username = username
      socket.data.roomId = roomId
      await socket.join(roomId as string)

      const joined = { roomId: roomId as string, users: outcome.members }
      ok(joined)
      socket.emit('room-joined', joined)
      socket.to(joined.roomId).emit('user-joined', member)
    }
  })

  const leaveRoom: EventDefinition<'leave-room', typeof LeaveRoomPayload> = {
    schema: LeaveRoomPayload,
    fromBare: (roomId) => ({ roomId }),
    async handle({ socket, ok }, payload) {
      // Leaving is idempotent: a client that is in no room (say, after a failed join) is told so
      // through the ack, not with an error its user would see.
      if (socket.data.roomId === undefined) {
        ok({ roomId: null })
        return
      }
      const roomId = currentRoom(socket, payload.roomId)
      await leave(socket, roomId)
      ok({ roomId })
      fastify.io.to(roomId).emit('user-left', socket.id)
    }
  }
  socketEvents.on('leave-room', leaveRoom)
  socketEvents.on('LeaveRoom', leaveRoom)

  socketEvents.onDisconnect(async ({ socket }) => {
    const roomId = socket.data.roomId
    if (roomId === undefined) return
    await leave(socket, roomId)
    fastify.io.to(roomId).emit('user-left', socket.id)
  })
}
