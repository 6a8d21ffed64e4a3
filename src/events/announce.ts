import type { MediaStatus, Member, RoomJoined, SignalPayload } from '../protocol.js'
import type { SignalingServer } from './event-router.js'

/**
 * Every server-to-client event, each sent from exactly one function here, always through the
 * adapter (`io.to(...)`) and never with `socket.emit`: with connection state recovery a client takes
 * the last string argument of an event as its recovery offset, and only adapter broadcasts append a
 * real one. A bare `room-id` string sent with socket.emit would become the client's offset.
 */
export interface Announcer {
  /** To a creator: its room's id (the bare string the seed's clients read), then `room-joined`. */
  roomCreated(socketId: string, joined: RoomJoined): void
  /** To a joiner: the room and everyone in it. */
  roomJoined(socketId: string, joined: RoomJoined): void
  /** To a room, but the joiner: someone new. */
  userJoined(roomId: string, member: Member): void
  /** To a room (but `exceptId`): a seat is free. */
  userLeft(roomId: string, memberId: string, exceptId?: string): void
  /** To a room, but the member: its connection dropped, its seat is kept. */
  userAway(roomId: string, memberId: string): void
  /** To a room, but the member: it is back in its seat. */
  userBack(roomId: string, memberId: string): void
  /** To the member `to` while it sits in its room, wherever it is served: `seat` is its seat's room
   * (`seatRoom(roomId, to)`), which the caller has already made to look it up. */
  signal(seat: string, to: string, data: { from: string; signal: SignalPayload['signal'] }): void
  /** To a room, but the member whose status it is. */
  mediaStatus(roomId: string, status: MediaStatus): void
  userList(socketId: string, users: Member[]): void
  keepalive(socketIds: string[]): void
  /** The plain message of a failure the client had no callback for (the seed's `error` event). */
  error(socketId: string, message: string): void
}

export interface AnnouncerHooks {
  /** Hears of every event to one socket: each carries a recovery offset (see recovery/keepalive.ts). */
  sentTo?: (socketId: string) => void
  /** Hears of every seat taken or freed that the room is told of (see rooms/room-roster.ts). */
  seatChanged?: (change: 'joined' | 'left', roomId: string, memberId: string) => void
}

export function createAnnouncer(io: SignalingServer, { sentTo = () => {}, seatChanged = () => {} }: AnnouncerHooks = {}): Announcer {
  const toSocket = (socketId: string) => {
    sentTo(socketId)
    return io.to(socketId)
  }
  return {
    roomCreated(socketId, joined) {
      const self = toSocket(socketId)
      self.emit('room-id', joined.roomId)
      self.emit('room-joined', joined)
    },
    roomJoined(socketId, joined) {
      toSocket(socketId).emit('room-joined', joined)
    },
    userJoined(roomId, member) {
      seatChanged('joined', roomId, member.id)
      io.to(roomId).except(member.id).emit('user-joined', member)
    },
    userLeft(roomId, memberId, exceptId) {
      seatChanged('left', roomId, memberId)
      const room = io.to(roomId)
      ;(exceptId === undefined ? room : room.except(exceptId)).emit('user-left', memberId)
    },
    userAway(roomId, memberId) {
      io.to(roomId).except(memberId).emit('user-away', { id: memberId })
    },
    userBack(roomId, memberId) {
      io.to(roomId).except(memberId).emit('user-back', { id: memberId })
    },
    signal(seat, to, data) {
      sentTo(to)
      io.to(seat).emit('signal', data)
    },
    mediaStatus(roomId, status) {
      io.to(roomId).except(status.id).emit('camera-mic-status', status)
    },
    userList(socketId, users) {
      toSocket(socketId).emit('user-list', users)
    },
    keepalive(socketIds) {
      for (const socketId of socketIds) sentTo(socketId)
      io.to(socketIds).emit('keepalive')
    },
    error(socketId, message) {
      toSocket(socketId).emit('error', message)
    }
  }
}
