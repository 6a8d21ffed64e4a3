import { normaliseRoomId } from '../rooms/room-id.js'
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
