import type { FastifyInstance } from 'fastify'
import { CreateRoomPayload, ERROR_MESSAGES, JoinRoomPayload, LeaveRoomPayload, RegisterUsernamePayload } from '../protocol.js'
import { normaliseRoomId } from '../rooms/room-id.js'
import type { SeatRequest } from '../rooms/room-store.js'
import { currentRoom } from './current-room.js'
import type { EventDefinition, Session, SignalingSocket } from './event-router.js'
import { SignalingError } from './signaling-error.js'
import { createTokenBucket, type TokenBucket } from './token-bucket.js'
import { displayNames, normaliseUsername } from './username.js'

/**
 * The disconnect reasons Socket.IO keeps a recovery session for (`RECOVERABLE_DISCONNECT_REASONS`
 * in socket.io's socket.js): the network or the server went away, the client did not choose to
 * leave. Only these are graced.
 */
const RECOVERABLE_REASONS = new Set([
  'transport error',
  'transport close',
  'forced close',
  'ping timeout',
  'server shutting down',
  'forced server close'
])

/**
 * The username an event asks for, or the one already registered. A name from a verified sign-in
 * token is kept whatever the client asks (its ack shows the name in effect).
 */
function requestedUsername(socket: SignalingSocket, requested: string | undefined): string | undefined {
  if (socket.data.verified || requested === undefined) return socket.data.username
  return normaliseUsername(requested)
}

/** Room lifecycle: usernames, creating, joining and leaving rooms, and leaving on disconnect. */
export default async function roomEvents(fastify: FastifyInstance): Promise<void> {
  const { rooms, socketEvents, config } = fastify
  const graceMs = config.RECONNECT_GRACE_MS
  /** Rooms each connection may still create: a few at once, then ROOMS_PER_MINUTE. */
  const roomBudgets = new WeakMap<Session, TokenBucket>()

  /** A new seat starts with camera and microphone on, as the seed's frontends start a call. */
  function seatRequest(socket: SignalingSocket, session: Session, name: string): SeatRequest {
    const names = displayNames(name, config.MAX_USERS_PER_ROOM)
    return { id: socket.id, camera: true, mic: true, name, names, conn: session.conn, subject: socket.data.subject }
  }

  /**
   * Frees the seat. True when this call freed it: only then is the room told (a repair or a reaper
   * may have freed it already, and told the room then).
   */
  async function leave(socket: SignalingSocket, roomId: string): Promise<boolean> {
    const { left } = await rooms.leave(roomId, socket.id)
    socket.data.roomId = undefined
    await socket.leave(roomId)
    return left
  }

  socketEvents.on('register-username', {
    schema: RegisterUsernamePayload,
    fromBare: (username) => ({ username }),
    async handle({ socket, ok }, payload) {
      const username = requestedUsername(socket, payload.username) as string
      socket.data.username = username
      const roomId = socket.data.roomId
      // Seated: shown under it, or under "name (2)" when another member's name looks the same.
      const shown = roomId === undefined ? undefined : await rooms.rename(roomId, socket.id, username, displayNames(username, config.MAX_USERS_PER_ROOM))
      ok({ username: shown ?? username })
    }
  })

  socketEvents.on('create-room', {
    schema: CreateRoomPayload,
    async handle({ socket, session, ok }, payload) {
      const username = requestedUsername(socket, payload.username)
      if (socket.data.roomId !== undefined) throw new SignalingError('ALREADY_IN_ROOM')
      if (username === undefined) throw new SignalingError('USERNAME_REQUIRED')
      let budget = roomBudgets.get(session)
      if (budget === undefined) roomBudgets.set(session, (budget = createTokenBucket(config.ROOMS_PER_MINUTE, config.ROOMS_PER_MINUTE / 60)))
      if (!budget.take()) throw new SignalingError('TOO_MANY_ROOMS')

      const { roomId, member } = await rooms.create(seatRequest(socket, session, username))
      Object.assign(socket.data, { username, roomId, camera: member.camera, mic: member.mic })
      await socket.join(roomId)

      const ice = fastify.iceServers.forSocket(socket.id)
      const joined = { roomId, users: [member], iceServers: ice.iceServers, iceServersExpireAt: ice.expiresAt }
      ok(joined)
      // Through the adapter, not socket.emit: with recovery on, a client takes the last string
      // argument of every event as its recovery offset, and only adapter broadcasts append a real
      // one. A bare `room-id` string would become the client's offset and spoil its next recovery.
      const self = fastify.io.to(socket.id)
      self.emit('room-id', roomId)
      self.emit('room-joined', joined)
    }
  })

  socketEvents.on('join-room', {
    schema: JoinRoomPayload,
    fromBare: (roomId) => ({ roomId }),
    async handle({ socket, session, ok }, payload) {
      const username = requestedUsername(socket, payload.username)
      if (socket.data.roomId !== undefined) throw new SignalingError('ALREADY_IN_ROOM')
      if (username === undefined) throw new SignalingError('USERNAME_REQUIRED')
      if (session.failedJoins >= config.MAX_FAILED_JOINS) throw new SignalingError('TOO_MANY_FAILED_JOINS')

      const roomId = normaliseRoomId(payload.roomId)
      const outcome = roomId === undefined ? { status: 'not-found' as const } : await rooms.join(roomId, seatRequest(socket, session, username))
      if (outcome.status === 'not-found') {
        session.failedJoins++
        throw new SignalingError('ROOM_NOT_FOUND')
      }
      if (outcome.status === 'full') throw new SignalingError('ROOM_FULL')

      const { member } = outcome
      Object.assign(socket.data, { username, roomId, camera: member.camera, mic: member.mic })
      await socket.join(roomId as string)

      const ice = fastify.iceServers.forSocket(socket.id)
      const joined = {
        roomId: roomId as string,
        users: outcome.members,
        iceServers: ice.iceServers,
        iceServersExpireAt: ice.expiresAt
      }
      ok(joined)
      // Through the adapter so it carries a recovery offset: from its first moment in a room the
      // member can be recovered (see create-room).
      fastify.io.to(socket.id).emit('room-joined', joined)
      // A reload: this connection took over the same person's away seat. The others drop the old
      // peer before they meet the new one; a late recovery of the old connection gets SEAT_LOST.
      if (outcome.replaced !== undefined) socket.to(joined.roomId).emit('user-left', outcome.replaced)
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
      const left = await leave(socket, roomId)
      ok({ roomId })
      if (left) fastify.io.to(roomId).emit('user-left', socket.id)
    }
  }
  socketEvents.on('leave-room', leaveRoom)
  socketEvents.on('LeaveRoom', leaveRoom)

  socketEvents.onDisconnect(async ({ socket, conn }, reason) => {
    const roomId = socket.data.roomId
    if (roomId === undefined) return
    if (graceMs > 0 && RECOVERABLE_REASONS.has(reason)) {
      // Keep the seat: the client is likely reconnecting, and its media may still be flowing.
      if (await rooms.markAway(roomId, socket.id, conn, Date.now() + graceMs)) {
        fastify.io.to(roomId).except(socket.id).emit('user-away', { id: socket.id })
      }
      return
    }
    if (await leave(socket, roomId)) fastify.io.to(roomId).emit('user-left', socket.id)
  })

  // A recovered socket comes back with its id, rooms and socket.data: reclaim the kept seat.
  socketEvents.onConnect(async ({ socket, conn }) => {
    const roomId = socket.data.roomId
    if (!socket.recovered || roomId === undefined) return
    if (await rooms.markBack(roomId, socket.id, conn)) {
      socket.to(roomId).emit('user-back', { id: socket.id })
      return
    }
    socket.data.roomId = undefined
    await socket.leave(roomId)
    fastify.io.to(socket.id).emit('error', ERROR_MESSAGES.SEAT_LOST)
  })

  if (graceMs > 0) {
    // Any instance may free a seat whose grace ran out; the store makes sure only one reports it.
    const sweep = setInterval(() => {
      rooms.expireAway(Date.now()).then(
        (freed) => {
          for (const { roomId, memberId } of freed) fastify.io.to(roomId).emit('user-left', memberId)
        },
        (err: unknown) => fastify.log.warn({ err }, 'expiring away members failed')
      )
    }, Math.min(1000, Math.ceil(graceMs / 4)))
    sweep.unref()
    fastify.addHook('onClose', async () => clearInterval(sweep))
  }
}
