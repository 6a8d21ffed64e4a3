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
 * instance serves it. With instances sharing rooms, signals go to it, not to the socket id, so that
 * a signal reaches a peer only while that instance says it sits in the sender's room (see
 * docs/recovery.md, Between instances).
 */
export function seatRoom(roomId: string, memberId: string): string {
  return `${roomId}\n${memberId}`
}

/** Socket.IO's rooms of a namespace (its adapter's): room → socket ids. */
type SocketIoRooms = ReadonlyMap<string, ReadonlySet<string>>

/**
 * How a seat shows in Socket.IO's rooms, chosen at boot (`createSeating`). With instances sharing
 * rooms (Redis), a seated socket is also in its seat room and signals go there. Alone, an
 * instance's own rooms are exact: a signal goes to the member's own socket room after a look at the
 * room's members, which a saved session holds as well, so a signal to an away member still waits
 * for it. A seat room would cost every socket a room and every signal two strings
 * (docs/performance.md, eighth session).
 */
export interface Seating {
  /** The Socket.IO room a signal to `memberId`, seated in `roomId`, goes to. */
  signalRoom(roomId: string, memberId: string): string
  /** Whether `memberId` sits in `roomId` on this instance, as its Socket.IO rooms say. */
  seatedHere(rooms: SocketIoRooms, roomId: string, memberId: string): boolean
  /** The socket takes its seat: its data and its Socket.IO rooms say so. */
  enter(socket: SignalingSocket, roomId: string): Promise<void>
  /** The socket is no longer in its room: its data and its Socket.IO rooms say so. */
  forget(socket: SignalingSocket, roomId: string): Promise<void>
  /** The socket's seat is gone while it thought it held one (its grace ran out, or it was taken): tell it. */
  lose(socket: SignalingSocket, roomId: string, announce: Announcer): Promise<void>
}

export function createSeating({ shared }: { shared: boolean }): Seating {
  const seating: Seating = shared
    ? {
        signalRoom: seatRoom,
        seatedHere: (rooms, roomId, memberId) => rooms.has(seatRoom(roomId, memberId)),
        async enter(socket, roomId) {
          socket.data.roomId = roomId
          await socket.join([roomId, seatRoom(roomId, socket.id)])
        },
        async forget(socket, roomId) {
          socket.data.roomId = undefined
          await socket.leave(roomId)
          await socket.leave(seatRoom(roomId, socket.id))
        },
        lose
      }
    : {
        signalRoom: (_roomId, memberId) => memberId,
        seatedHere: (rooms, roomId, memberId) => rooms.get(roomId)?.has(memberId) ?? false,
        async enter(socket, roomId) {
          socket.data.roomId = roomId
          await socket.join(roomId)
        },
        async forget(socket, roomId) {
          socket.data.roomId = undefined
          await socket.leave(roomId)
        },
        lose
      }
  async function lose(socket: SignalingSocket, roomId: string, announce: Announcer): Promise<void> {
    await seating.forget(socket, roomId)
    announce.error(socket.id, ERROR_MESSAGES.SEAT_LOST)
  }
  return seating
}
