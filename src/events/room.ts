import type { FastifyInstance } from 'fastify'
import { CreateRoomPayload, JoinRoomPayload, LeaveRoomPayload, RegisterUsernamePayload } from '../protocol.js'
import { normaliseRoomId } from '../rooms/room-id.js'
import type { SeatRequest } from '../rooms/room-store.js'
import { currentRoom, enterRoom, forgetRoom, loseSeat } from './current-room.js'
import type { EventDefinition, ServedSocket, SignalingSocket } from './event-router.js'
import { SignalingError } from './signaling-error.js'
import { createTokenBucket, type TokenBucket } from './token-bucket.js'
import { displayNames, normaliseUsername } from './username.js'

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
  const { rooms, socketEvents, config, recovery, announce, roster } = fastify
  /** Rooms each connection may still create: a few at once, then ROOMS_PER_MINUTE. */
  const roomBudgets = new WeakMap<ServedSocket, TokenBucket>()

  /** A new seat starts with camera and microphone on, as the seed's frontends start a call. */
  function seatRequest({ socket, connectionId }: ServedSocket, name: string, media = { camera: true, mic: true }): SeatRequest {
    const names = displayNames(name, config.MAX_USERS_PER_ROOM)
    return { id: socket.id, ...media, name, names, connectionId, subject: socket.data.subject }
  }

  /**
   * Frees the seat. True when this call freed it: only then is the room told (a repair or a reaper
   * may have freed it already, and told the room then).
   */
  async function leave(socket: SignalingSocket, roomId: string): Promise<boolean> {
    const { left } = await rooms.leave(roomId, socket.id)
    await forgetRoom(socket, roomId)
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
    async handle({ socket, served, ok }, payload) {
      const username = requestedUsername(socket, payload.username)
      if (socket.data.roomId !== undefined) throw new SignalingError('ALREADY_IN_ROOM')
      if (username === undefined) throw new SignalingError('USERNAME_REQUIRED')
      let budget = roomBudgets.get(served)
      if (budget === undefined) roomBudgets.set(served, (budget = createTokenBucket(config.ROOMS_PER_MINUTE, config.ROOMS_PER_MINUTE / 60)))
      if (!budget.take()) throw new SignalingError('TOO_MANY_ROOMS')

      const { roomId, member } = await rooms.create(seatRequest(served, username))
      Object.assign(socket.data, { username, camera: member.camera, mic: member.mic })
      await enterRoom(socket, roomId)
      roster.seed(roomId, [member.id])

      const ice = fastify.iceServers.forSocket(socket.id)
      const joined = { roomId, users: [member], iceServers: ice.iceServers, iceServersExpireAt: ice.expiresAt }
      ok(joined)
      announce.roomCreated(socket.id, joined)
    }
  })

  socketEvents.on('join-room', {
    schema: JoinRoomPayload,
    fromBare: (roomId) => ({ roomId }),
    async handle({ socket, served, ok }, payload) {
      const username = requestedUsername(socket, payload.username)
      if (socket.data.roomId !== undefined) throw new SignalingError('ALREADY_IN_ROOM')
      if (username === undefined) throw new SignalingError('USERNAME_REQUIRED')
      if (served.failedJoins >= config.MAX_FAILED_JOINS) throw new SignalingError('TOO_MANY_FAILED_JOINS')

      const roomId = normaliseRoomId(payload.roomId)
      const outcome = roomId === undefined ? { status: 'not-found' as const } : await rooms.join(roomId, seatRequest(served, username))
      if (outcome.status === 'not-found') {
        served.failedJoins++
        throw new SignalingError('ROOM_NOT_FOUND')
      }
      if (outcome.status === 'full') throw new SignalingError('ROOM_FULL')

      const { member } = outcome
      Object.assign(socket.data, { username, camera: member.camera, mic: member.mic })
      await enterRoom(socket, roomId as string)
      roster.seed(roomId as string, outcome.members.map(({ id }) => id))

      const ice = fastify.iceServers.forSocket(socket.id)
      const joined = {
        roomId: roomId as string,
        users: outcome.members,
        iceServers: ice.iceServers,
        iceServersExpireAt: ice.expiresAt
      }
      ok(joined)
      // Carrying a recovery offset: from its first moment in a room the member can be recovered.
      announce.roomJoined(socket.id, joined)
      // A reload: this connection took over the same person's away seat. The others drop the old
      // peer before they meet the new one; a late recovery of the old connection gets SEAT_LOST.
      if (outcome.replaced !== undefined) announce.userLeft(joined.roomId, outcome.replaced, socket.id)
      announce.userJoined(joined.roomId, member)
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
      if (left) announce.userLeft(roomId, socket.id)
    }
  }
  socketEvents.on('leave-room', leaveRoom)
  socketEvents.on('LeaveRoom', leaveRoom)

  // A disconnect frees the seat, unless recovery keeps it for the grace window (seat-grace.ts).
  socketEvents.onDisconnect(async ({ socket }, reason) => {
    const roomId = socket.data.roomId
    if (roomId === undefined || recovery.keepsSeat(reason)) return
    if (await leave(socket, roomId)) announce.userLeft(roomId, socket.id)
  })

  // The shared store freed a seat by itself (a dead instance's, or one whose leave failed).
  rooms.on('evicted', ({ roomId, memberId }) => {
    fastify.log.info('freed a seat left behind by a dead instance or a missed leave')
    announce.userLeft(roomId, memberId)
  })

  // The other instances took this one for dead and freed its seats, while its sockets are still
  // connected and think they are in their rooms: seat them again, or tell them they lost their
  // place (the room filled up or emptied meanwhile).
  rooms.on('reaped', () => {
    fastify.log.warn('the other instances took this one for dead and freed its seats; re-seating its members')
    reseatServedMembers().catch((err: unknown) => fastify.log.error({ err }, 're-seating failed'))
  })

  async function reseatServedMembers(): Promise<void> {
    for (const served of socketEvents.servedSockets()) {
      const { socket } = served
      const { roomId, username, camera = true, mic = true } = socket.data
      if (!socket.connected || roomId === undefined || username === undefined) continue
      const outcome = await rooms.join(roomId, seatRequest(served, username, { camera, mic }))
      if (outcome.status === 'joined') {
        roster.seed(roomId, outcome.members.map(({ id }) => id))
        announce.userJoined(roomId, outcome.member)
      } else {
        await loseSeat(socket, roomId, announce)
      }
    }
  }
}
