import { ERROR_MESSAGES } from '../protocol.js'
import { normaliseRoomId } from '../rooms/room-id.js'
import type { Announcer } from './announce.js'
import type { SignalingSocket } from './event-router.js'
import { SignalingError } from './signaling-error.js'

/**
 * The room this socket is seated in. A room id the client sent along is only checked against it,
 * never trusted: the seed let anyone act on any room by naming it.
 */
export function currentRoom(socket: SignalingSocket, claimedRoomId?: string): string {
  const roomId = socket.data.roomId
  if (roomId === undefined) throw new SignalingError('NOT_IN_ROOM')
  if (claimedRoomId !== undefined && normaliseRoomId(claimedRoomId) !== roomId) {
    throw new SignalingError('NOT_IN_ROOM')
  }
  return roomId
}

/**
 * The Socket.IO room of one seat: only the member seated in `roomId` is in it, on whichever
 * instance serves it. Signals go to it, not to the socket id, so that a signal reaches a peer only
 * while that instance says it sits in the sender's room (see docs/recovery.md, Between instances).
 */
export function seatRoom(roomId: string, memberId: string): string {
  return `${roomId}\n${memberId}`
}

/** The socket takes its seat: its Socket.IO rooms (the room's, and its seat's) say so. */
export async function enterRoom(socket: SignalingSocket, roomId: string): Promise<void> {
  socket.data.roomId = roomId
  await socket.join([roomId, seatRoom(roomId, socket.id)])
}

/** The socket is no longer in its room: its data and its Socket.IO rooms say so. */
export async function forgetRoom(socket: SignalingSocket, roomId: string): Promise<void> {
  socket.data.roomId = undefined
  await socket.leave(roomId)
  await socket.leave(seatRoom(roomId, socket.id))
}

/** The socket's seat is gone while it thought it held one (its grace ran out, or it was taken): tell it. */
export async function loseSeat(socket: SignalingSocket, roomId: string, announce: Announcer): Promise<void> {
  await forgetRoom(socket, roomId)
  announce.error(socket.id, ERROR_MESSAGES.SEAT_LOST)
}
