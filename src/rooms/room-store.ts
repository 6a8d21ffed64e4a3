import type { Member } from '../protocol.js'

export type MemberPatch = Partial<Pick<Member, 'username' | 'camera' | 'mic'>>

export type JoinOutcome =
  /** `replaced`: the away seat of the same person that this join took over (see RoomStore.join). */
  | { status: 'joined'; members: Member[]; replaced?: string }
  | { status: 'not-found' }
  | { status: 'full' }

export interface LeaveOutcome {
  /** False when the member was not seated there (leaving is idempotent). */
  left: boolean
  /** True when the leaver was the last member and the room is gone. */
  roomDeleted: boolean
}

export interface FreedSeat {
  roomId: string
  memberId: string
}

/**
 * Where rooms and their seats live. Asynchronous because the shared implementation is remote;
 * every implementation must pass `test/room-store-contract.ts`.
 */
export interface RoomStore {
  /**
   * Creates a room with a fresh unguessable id and seats `owner` in it. `conn` names the
   * connection holding the seat (see markAway); `subject` is the signed-in user's id, if any.
   */
  create(owner: Member, conn: string, subject?: string): Promise<string>
  /**
   * Seats `member` if the room exists and has a free seat, in one atomic step. Joining a room
   * one is already seated in succeeds without taking a second seat.
   *
   * A page reload is a new connection while the old one's seat is still kept away: when a seat in
   * the room is away and belongs to the same person (the same `subject`; without one, a seat with
   * no subject and the same username), the joiner takes it over in the same step, full room or
   * not, and `replaced` names the member whose seat it was. Seats that are connected, or belong to
   * anyone else, are never taken.
   */
  join(roomId: string, member: Member, conn: string, subject?: string): Promise<JoinOutcome>
  /** Frees the member's seat; deletes the room when it empties. */
  leave(roomId: string, memberId: string): Promise<LeaveOutcome>
  /** The members in join order, or undefined when the room does not exist. */
  members(roomId: string): Promise<Member[] | undefined>
  isMember(roomId: string, memberId: string): Promise<boolean>
  /** Changes a seated member's username or camera/mic state; false when not seated. */
  update(roomId: string, memberId: string, patch: MemberPatch): Promise<boolean>
  /**
   * The connection `conn` dropped: keep the seat (it still counts toward capacity) until
   * `deadline` (epoch ms). A no-op, answering false, when the seat is held by another connection
   * by now (the member already came back) or is gone.
   */
  markAway(roomId: string, memberId: string, conn: string, deadline: number): Promise<boolean>
  /** The member is back on connection `conn`; false when its seat is gone. */
  markBack(roomId: string, memberId: string, conn: string): Promise<boolean>
  /** Frees every seat whose member stayed away past its deadline; any instance may call it. */
  expireAway(now: number): Promise<FreedSeat[]>
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
