import type { Member } from '../protocol.js'

export type MemberPatch = Partial<Pick<Member, 'username' | 'camera' | 'mic'>>

export type JoinOutcome =
  | { status: 'joined'; members: Member[] }
  | { status: 'not-found' }
  | { status: 'full' }

export interface LeaveOutcome {
  /** False when the member was not seated there (leaving is idempotent). */
  left: boolean
  /** True when the leaver was the last member and the room is gone. */
  roomDeleted: boolean
}

/**
 * Where rooms and their seats live. Asynchronous because the shared implementation is remote;
 * every implementation must pass `test/room-store-contract.ts`.
 */
export interface RoomStore {
  /** Creates a room with a fresh unguessable id and seats `owner` in it. */
  create(owner: Member): Promise<string>
  /**
   * Seats `member` if the room exists and has a free seat, in one atomic step. Joining a room
   * one is already seated in succeeds without taking a second seat.
   */
  join(roomId: string, member: Member): Promise<JoinOutcome>
  /** Frees the member's seat; deletes the room when it empties. */
  leave(roomId: string, memberId: string): Promise<LeaveOutcome>
  /** The members in join order, or undefined when the room does not exist. */
  members(roomId: string): Promise<Member[] | undefined>
  isMember(roomId: string, memberId: string): Promise<boolean>
  /** Changes a seated member's username or camera/mic state; false when not seated. */
  update(roomId: string, memberId: string, patch: MemberPatch): Promise<boolean>
  close(): Promise<void>
}

export interface RoomStoreOptions {
  capacity: number
}

/** The store cannot be reached right now; clients are told UNAVAILABLE and may retry. */
export class StoreUnavailableError extends Error {
  constructor(cause: unknown) {
    super('room store unavailable', { cause })
    this.name = 'StoreUnavailableError'
  }
}
