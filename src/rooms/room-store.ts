import type { Member } from '../protocol.js'

export type MemberPatch = Partial<Pick<Member, 'camera' | 'mic'>>

/** A name a member may be shown under, with what it looks like (see events/username.ts). */
export interface DisplayName {
  username: string
  /** Equal for names that would pass for each other in a user list. */
  key: string
}

/** Who takes a seat: everything the store keeps about a member. */
export interface SeatRequest {
  id: string
  camera: boolean
  mic: boolean
  /** The name the member asked for (a reloaded page asks for it again). */
  name: string
  /**
   * The names it may be shown under, in order: it gets the first whose key no other member's
   * name has, so two members never look alike in the room. At least as many as the capacity.
   */
  names: DisplayName[]
  /** The connection holding the seat (see markAway). */
  connectionId: string
  /** The signed-in user's id, when sign-in is on. */
  subject?: string
}

export type JoinOutcome =
  /**
   * `member`: the joiner as seated (its display name). `replaced`: the away seat of the same person
   * that this join took over (see RoomStore.join).
   */
  | { status: 'joined'; members: Member[]; member: Member; replaced?: string }
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
  /** Creates a room with a fresh unguessable id and seats `owner` in it (under its first name). */
  create(owner: SeatRequest): Promise<{ roomId: string; member: Member }>
  /**
   * Seats a member if the room exists and has a free seat, in one atomic step, under the first of
   * its names that looks like no other member's. Joining a room one is already seated in succeeds
   * without taking a second seat.
   *
   * A page reload is a new connection while the old one's seat is still kept away: when a seat in
   * the room is away and belongs to the same person (the same `subject`; without one, a seat with
   * no subject and the same asked-for name), the joiner takes it over in the same step, full room
   * or not, and `replaced` names the member whose seat it was. Seats that are connected, or belong
   * to anyone else, are never taken.
   */
  join(roomId: string, seat: SeatRequest): Promise<JoinOutcome>
  /** Frees the member's seat; deletes the room when it empties. */
  leave(roomId: string, memberId: string): Promise<LeaveOutcome>
  /** The members in join order, or undefined when the room does not exist. */
  members(roomId: string): Promise<Member[] | undefined>
  isMember(roomId: string, memberId: string): Promise<boolean>
  /** Changes a seated member's camera/mic state; false when not seated. */
  update(roomId: string, memberId: string, patch: MemberPatch): Promise<boolean>
  /**
   * A seated member asks for another name: it gets the first of `names` that looks like no other
   * member's, in one step. Resolves with the name it is shown under, or undefined when not seated.
   */
  rename(roomId: string, memberId: string, name: string, names: DisplayName[]): Promise<string | undefined>
  /**
   * The connection `connectionId` dropped: keep the seat (it still counts toward capacity) until
   * `deadline` (epoch ms). A no-op, answering false, when the seat is held by another connection
   * by now (the member already came back) or is gone.
   */
  markAway(roomId: string, memberId: string, connectionId: string, deadline: number): Promise<boolean>
  /** The member is back on connection `connectionId`; false when its seat is gone. */
  markBack(roomId: string, memberId: string, connectionId: string): Promise<boolean>
  /** Frees every seat whose member stayed away past its deadline; any instance may call it. */
  expireAway(now: number): Promise<FreedSeat[]>
  /**
   * What a shared store does by itself: `evicted`, it freed a seat (left behind by a dead instance
   * or a leave that failed), so the room should be told; `reaped`, the other instances took this
   * one for dead and freed its seats, so its sockets should be seated again. A store in one
   * process never does either.
   */
  on(event: 'evicted', listener: (seat: FreedSeat) => void): void
  on(event: 'reaped', listener: () => void): void
  close(): Promise<void>
}

export interface RoomStoreOptions {
  capacity: number
}

/** The first of `names` whose key is not in `taken` (the last one if all are: it cannot happen with enough names). */
export function firstFreeName(names: DisplayName[], taken: Set<string>): DisplayName {
  return names.find((name) => !taken.has(name.key)) ?? names[names.length - 1]!
}

/** The store cannot be reached right now; clients are told UNAVAILABLE and may retry. */
export class StoreUnavailableError extends Error {
  constructor(cause: unknown) {
    super('room store unavailable', { cause })
    this.name = 'StoreUnavailableError'
  }
}
