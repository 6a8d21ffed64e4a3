import type { Member } from '../protocol.js'
import { createRoomId } from './room-id.js'
import type { FreedSeat, JoinOutcome, LeaveOutcome, MemberPatch, RoomStore, RoomStoreOptions } from './room-store.js'

interface Seat extends Member {
  conn: string
  subject?: string
  /** Set while the member's connection is away: the epoch ms its seat is kept until. */
  awayUntil?: number
}

/** One process's rooms in a Map: the default, for a single instance with nothing else to run. */
export function createMemoryRoomStore({ capacity }: RoomStoreOptions): RoomStore {
  /** room id → member id → seat; a Map keeps join order. */
  const rooms = new Map<string, Map<string, Seat>>()
  /** Seats whose member is away, so expiry need not scan every room. */
  const away = new Set<Seat>()
  const roomOf = new WeakMap<Seat, string>()

  const copy = (seats: Map<string, Seat>): Member[] =>
    [...seats.values()].map(({ id, username, camera, mic }) => ({ id, username, camera, mic }))

  const seat = (roomId: string, member: Member, conn: string, subject: string | undefined): Seat => {
    const created: Seat = { id: member.id, username: member.username, camera: member.camera, mic: member.mic, conn, subject }
    roomOf.set(created, roomId)
    return created
  }

  /** The away seat that `member` (signed in as `subject`, if at all) may take over: see RoomStore.join. */
  const ownAwaySeat = (seats: Map<string, Seat>, member: Member, subject: string | undefined): Seat | undefined => {
    for (const held of seats.values()) {
      if (held.awayUntil === undefined) continue
      if (subject !== undefined ? held.subject === subject : held.subject === undefined && held.username === member.username) return held
    }
    return undefined
  }

  function remove(roomId: string, memberId: string): LeaveOutcome {
    const seats = rooms.get(roomId)
    const held = seats?.get(memberId)
    if (seats === undefined || held === undefined) return { left: false, roomDeleted: false }
    seats.delete(memberId)
    away.delete(held)
    if (seats.size > 0) return { left: true, roomDeleted: false }
    rooms.delete(roomId)
    return { left: true, roomDeleted: true }
  }

  return {
    async create(owner, conn, subject) {
      let roomId = createRoomId()
      while (rooms.has(roomId)) roomId = createRoomId()
      rooms.set(roomId, new Map([[owner.id, seat(roomId, owner, conn, subject)]]))
      return roomId
    },

    async join(roomId, member, conn, subject): Promise<JoinOutcome> {
      const seats = rooms.get(roomId)
      if (seats === undefined) return { status: 'not-found' }
      if (seats.has(member.id)) return { status: 'joined', members: copy(seats) }
      const taken = ownAwaySeat(seats, member, subject)
      if (taken !== undefined) {
        seats.delete(taken.id)
        away.delete(taken)
      } else if (seats.size >= capacity) {
        return { status: 'full' }
      }
      seats.set(member.id, seat(roomId, member, conn, subject))
      return taken === undefined ? { status: 'joined', members: copy(seats) } : { status: 'joined', members: copy(seats), replaced: taken.id }
    },

    async leave(roomId, memberId) {
      return remove(roomId, memberId)
    },

    async members(roomId) {
      const seats = rooms.get(roomId)
      return seats && copy(seats)
    },

    async isMember(roomId, memberId) {
      return rooms.get(roomId)?.has(memberId) ?? false
    },

    async update(roomId, memberId, patch: MemberPatch) {
      const held = rooms.get(roomId)?.get(memberId)
      if (held === undefined) return false
      if (patch.username !== undefined) held.username = patch.username
      if (patch.camera !== undefined) held.camera = patch.camera
      if (patch.mic !== undefined) held.mic = patch.mic
      return true
    },

    async markAway(roomId, memberId, conn, deadline) {
      const held = rooms.get(roomId)?.get(memberId)
      if (held === undefined || held.conn !== conn) return false
      held.awayUntil = deadline
      away.add(held)
      return true
    },

    async markBack(roomId, memberId, conn) {
      const held = rooms.get(roomId)?.get(memberId)
      if (held === undefined) return false
      held.conn = conn
      held.awayUntil = undefined
      away.delete(held)
      return true
    },

    async expireAway(now) {
      const freed: FreedSeat[] = []
      for (const held of away) {
        if (held.awayUntil === undefined || held.awayUntil > now) continue
        const roomId = roomOf.get(held) as string
        remove(roomId, held.id)
        freed.push({ roomId, memberId: held.id })
      }
      return freed
    },

    async close() {
      rooms.clear()
      away.clear()
    }
  }
}
