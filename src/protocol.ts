/**
 * The wire protocol, in one place: payload schemas, the four Socket.IO event maps, the ack result
 * type and the error codes. The server, the tests and any frontend type their sockets from this
 * file (`import type { ClientToServerEvents, ServerToClientEvents } from 'signaling-server'`).
 *
 * Event names and payload shapes are those of the seed app (`shared/seed/README.md`); every client
 * event also accepts the seed's bare-value form and an optional acknowledgement callback.
 */
import { Type, type Static } from '@sinclair/typebox'

export { ERROR_MESSAGES, USERNAME_MAX_LENGTH, type ErrorCode } from './protocol-errors.js'
import type { ErrorCode } from './protocol-errors.js'
/** Long enough for any room id we hand out, however a user pastes it; short enough to be cheap. */
export const ROOM_ID_MAX_LENGTH = 64
/** Socket.IO ids are 20 characters; anything much longer is not a socket id. */
export const SOCKET_ID_MAX_LENGTH = 64

const RoomIdField = Type.String({ minLength: 1, maxLength: ROOM_ID_MAX_LENGTH })
/** Length and control characters are checked after trimming, in `normaliseUsername`. */
const UsernameField = Type.String({ maxLength: 256 })

export const RegisterUsernamePayload = Type.Object({ username: UsernameField })
export const CreateRoomPayload = Type.Object({ username: Type.Optional(UsernameField) })
export const JoinRoomPayload = Type.Object({
  roomId: RoomIdField,
  username: Type.Optional(UsernameField)
})
export const LeaveRoomPayload = Type.Object({ roomId: Type.Optional(RoomIdField) })
export const UserListPayload = Type.Object({ roomId: Type.Optional(RoomIdField) })
export const IceServersPayload = Type.Object({})
/** A sign-in token is a few hundred bytes to a few KB (RS256 with many claims). */
export const RefreshTokenPayload = Type.Object({ token: Type.String({ minLength: 1, maxLength: 16_384 }) })
/** `signal` is the opaque SDP or ICE object (or string) a WebRTC library produced. */
export const SignalPayload = Type.Object({
  to: Type.String({ minLength: 1, maxLength: SOCKET_ID_MAX_LENGTH }),
  signal: Type.Union([Type.Object({}), Type.String({ minLength: 1 })])
})
/** `id` and `roomId` are what the seed's clients send; the server never trusts them. */
export const MediaStatusPayload = Type.Object({
  camera: Type.Boolean(),
  mic: Type.Boolean(),
  id: Type.Optional(Type.String({ maxLength: SOCKET_ID_MAX_LENGTH })),
  roomId: Type.Optional(RoomIdField)
})

export type RegisterUsernamePayload = Static<typeof RegisterUsernamePayload>
export type CreateRoomPayload = Static<typeof CreateRoomPayload>
export type JoinRoomPayload = Static<typeof JoinRoomPayload>
export type LeaveRoomPayload = Static<typeof LeaveRoomPayload>
export type UserListPayload = Static<typeof UserListPayload>
export type SignalPayload = Static<typeof SignalPayload>
export type MediaStatusPayload = Static<typeof MediaStatusPayload>
export type RefreshTokenPayload = Static<typeof RefreshTokenPayload>

/** A seat in a room, as every member sees it. */
export interface Member {
  id: string
  username: string
  camera: boolean
  mic: boolean
}

/** The browser's RTCIceServer: what `new RTCPeerConnection({ iceServers })` takes. */
export interface IceServer {
  urls: string | string[]
  username?: string
  credential?: string
}

export interface IceServers {
  iceServers: IceServer[]
  /** When the TURN credentials stop working (epoch ms); null when there are none. */
  expiresAt: number | null
}

export interface RoomJoined {
  roomId: string
  users: Member[]
  /** The same servers `ice-servers` answers, so a joiner can start its peer connections at once. */
  iceServers?: IceServer[]
  /** When their TURN credentials expire (epoch ms), as `ice-servers`'s `expiresAt`; null without TURN. */
  iceServersExpireAt?: number | null
}

export interface MediaStatus {
  id: string
  camera: boolean
  mic: boolean
}


/**
 * A callback's answer on success: `success: true` and the event's data. `ok` is the same flag under
 * the name this server's first clients read (kept so that they still see their successes as such).
 */
export type AckSuccess<T extends object = object> = { success: true; ok: true } & T

/**
 * A callback's answer on failure. `error` is the human message, the same string as the `error`
 * event's (what the seed app's frontend renders as text); `code` is the stable machine code.
 */
export interface AckFailure {
  success: false
  ok: false
  code: ErrorCode
  error: string
}

/** What every acknowledgement callback receives: one shape for every client. */
export type AckResult<T extends object = object> = AckSuccess<T> | AckFailure
export type Ack<T extends object = object> = (result: AckResult<T>) => void

export interface UsernameRegistered {
  username: string
}
export interface UserList {
  users: Member[]
}
export interface TokenRefreshed {
  /** When the connection's sign-in now expires (epoch ms); null when sign-in is off. */
  expiresAt: number | null
}
export interface LeftRoom {
  /** The room left, or null when the socket was in no room (leaving is idempotent). */
  roomId: string | null
}

/**
 * Client → server. The first argument may be the object form or the seed's bare value; the ack is
 * optional everywhere (`socket.emit('create-room', ack)` is valid too).
 */
export interface ClientToServerEvents {
  'register-username': (payload: RegisterUsernamePayload | string, ack?: Ack<UsernameRegistered>) => void
  'create-room': (payload?: CreateRoomPayload | Ack<RoomJoined>, ack?: Ack<RoomJoined>) => void
  'join-room': (payload: JoinRoomPayload | string, ack?: Ack<RoomJoined>) => void
  'leave-room': (payload?: LeaveRoomPayload | string | Ack<LeftRoom>, ack?: Ack<LeftRoom>) => void
  /** The seed's older frontends spell it this way; same behaviour as `leave-room`. */
  LeaveRoom: (payload?: LeaveRoomPayload | string | Ack<LeftRoom>, ack?: Ack<LeftRoom>) => void
  signal: (payload: SignalPayload, ack?: Ack) => void
  'camera-mic-status': (payload: MediaStatusPayload, ack?: Ack<MediaStatus>) => void
  'user-list': (payload?: UserListPayload | string | Ack<UserList>, ack?: Ack<UserList>) => void
  /** STUN/TURN servers for this connection, TURN credentials included; answered through the ack. */
  'ice-servers': (payload?: Record<string, never> | Ack<IceServers>, ack?: Ack<IceServers>) => void
  /**
   * A fresh sign-in token for this connection, before the one it connected with expires (else the
   * server sends TOKEN_EXPIRED and disconnects it). Verified as the handshake's; same `sub` only.
   */
  'refresh-token': (payload: RefreshTokenPayload | string, ack?: Ack<TokenRefreshed>) => void
}

/** Server → client. */
export interface ServerToClientEvents {
  'room-id': (roomId: string) => void
  'room-joined': (data: RoomJoined) => void
  'user-joined': (member: Member) => void
  'user-left': (id: string) => void
  /** A member's connection dropped; its seat is kept for the grace window (old clients ignore it). */
  'user-away': (data: { id: string }) => void
  /** That member is back, same id, same seat. */
  'user-back': (data: { id: string }) => void
  signal: (data: { from: string; signal: SignalPayload['signal'] }) => void
  'camera-mic-status': (status: MediaStatus) => void
  'user-list': (users: Member[]) => void
  /**
   * No payload; sent to every member of a room once per RECONNECT_GRACE_MS / 4 so its
   * connection-recovery offset (the extra trailing argument) stays recent. Nothing to do with it.
   */
  keepalive: () => void
  /** Sent only for a failed event that carried no ack callback: the plain human message. */
  error: (message: string) => void
}

/** Between server instances (through the Redis adapter). */
export interface InterServerEvents {
  /**
   * A client is resuming recovery session `pid` on another instance: whichever instance still
   * holds that session's (half-open) transport closes it, which saves the session for the resume.
   */
  'release-session': (pid: string, ack: (released: boolean) => void) => void
  /** A seat was taken or freed on the sending instance (see rooms/room-roster.ts). */
  'roster-changed': (change: 'joined' | 'left', roomId: string, memberId: string) => void
}

/** Per-socket state Socket.IO keeps for us (and restores with connection state recovery). */
export interface SocketData {
  /** True when the username came from a verified sign-in token: then it cannot be changed. */
  verified?: boolean
  /** The token's `sub`: a recovered session may be resumed only by the same user. */
  subject?: string
  /** When the connection's sign-in token expires (epoch ms). */
  tokenExpiresAt?: number
  username?: string
  roomId?: string
  camera?: boolean
  mic?: boolean
}

export type ClientEventName = keyof ClientToServerEvents
