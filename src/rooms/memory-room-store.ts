import type { Member } from '../protocol.js'
import { createRoomId } from './room-id.js'
import {
  firstFreeName,
  type FreedSeat,
  type JoinOutcome,
  type LeaveOutcome,
  type MemberPatch,
  type RoomStore,
  type RoomStoreOptions,
  type SeatRequest
} from './room-store.js'

interface Seat extends Member {
  /** The name asked for, and the lookalike key of the one shown (`username`). */
  name: string
  key: string
  connectionId: string
  subject?: string
  /** Set while the member's connection is away: the epoch ms its seat is kept until. */
  awayUntil?: number
}

const asMember = ({ id, username, camera, mic }: Seat): Member => ({ id, username, camera, mic })

/** One process's rooms in a Map: the default, for a single instance with nothing else to run. */
export function createMemoryRoomStore({ capacity }: RoomStoreOptions): RoomStore {
  /** room id → member id → seat; a Map keeps join order. */
  const rooms = new Map<string, Map<string, Seat>>()
  /** Seats whose member is away, so expiry need not scan every room. */
  const away = new Set<Seat>()
  const roomOf = new WeakMap<Seat, string>()

  const copy = (seats: Map<string, Seat>): Member[] => [...seats.values()].map(asMember)

  /** A seat for `request` under the first of its names no seat in `others` looks like. */
  const seat = (roomId: string, request: SeatRequest, others: Iterable<Seat>): Seat => {
    const taken = new Set([...others].map((other) => other.key))
    const { username, key } = firstFreeName(request.names, taken)
    const { id, camera, mic, name, connectionId, subject } = request
    const created: Seat = { id, username, camera, mic, name, key, connectionId, subject }
    roomOf.set(created, roomId)
    return created
  }

  /** The away seat that `request` may take over: see RoomStore.join. */
  const ownAwaySeat = (seats: Map<string, Seat>, { subject, name }: SeatRequest): Seat | undefined => {
    for (const held of seats.values()) {
      if (held.awayUntil === undefined) continue
      if (subject !== undefined ? held.subject === subject : held.subject === undefined && held.name === name) return held
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
    async create(owner) {
      let roomId = createRoomId()
      while (rooms.has(roomId)) roomId = createRoomId()
      const created = seat(roomId, owner, [])
      rooms.set(roomId, new Map([[owner.id, created]]))
      return { roomId, member: asMember(created) }
    },

    async join(roomId, request): Promise<JoinOutcome> {
      const seats = rooms.get(roomId)
      if (seats === undefined) return { status: 'not-found' }
      const already = seats.get(request.id)
      if (already !== undefined) return { status: 'joined', members: copy(seats), member: asMember(already) }
      const taken = ownAwaySeat(seats, request)
      if (taken !== undefined) {
        seats.delete(taken.id)
        away.delete(taken)
      } else if (seats.size >= capacity) {
        return { status: 'full' }
      }
      const created = seat(roomId, request, seats.values())
      seats.set(request.id, created)
      const outcome: JoinOutcome = { status: 'joined', members: copy(seats), member: asMember(created) }
      return taken === undefined ? outcome : { ...outcome, replaced: taken.id }
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
      if (patch.camera !== undefined) held.camera = patch.camera
      if (patch.mic !== undefined) held.mic = patch.mic
      return true
    },

    async rename(roomId, memberId, name, names) {
      const seats = rooms.get(roomId)
      const held = seats?.get(memberId)
      if (seats === undefined || held === undefined) return undefined
      const taken = new Set([...seats.values()].filter((other) => other !== held).map((other) => other.key))
      const chosen = firstFreeName(names, taken)
      Object.assign(held, { name, username: chosen.username, key: chosen.key })
      return chosen.username
    },

    async markAway(roomId, memberId, connectionId, deadline) {
      const held = rooms.get(roomId)?.get(memberId)
      if (held === undefined || held.connectionId !== connectionId) return false
      held.awayUntil = deadline
      away.add(held)
      return true
    },

    async markBack(roomId, memberId, connectionId) {
      const held = rooms.get(roomId)?.get(memberId)
      if (held === undefined) return false
      held.connectionId = connectionId
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

    on() {
      // One process: no other instance frees seats or takes this one for dead.
    },

    async close() {
      rooms.clear()
      away.clear()
    }
  }
}
