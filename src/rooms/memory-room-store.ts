import type { Member } from '../protocol.js'
import { createRoomId } from './room-id.js'
import type { JoinOutcome, LeaveOutcome, MemberPatch, RoomStore, RoomStoreOptions } from './room-store.js'

/** One process's rooms in a Map: the default, for a single instance with nothing else to run. */
export function createMemoryRoomStore({ capacity }: RoomStoreOptions): RoomStore {
  /** room id → member id → member; a Map keeps join order. */
  const rooms = new Map<string, Map<string, Member>>()

  const copy = (members: Map<string, Member>): Member[] => [...members.values()].map((m) => ({ ...m }))

  return {
    async create(owner: Member): Promise<string> {
      let roomId = createRoomId()
      while (rooms.has(roomId)) roomId = createRoomId()
      rooms.set(roomId, new Map([[owner.id, { ...owner }]]))
      return roomId
    },

    async join(roomId: string, member: Member): Promise<JoinOutcome> {
      const members = rooms.get(roomId)
      if (members === undefined) return { status: 'not-found' }
      if (!members.has(member.id)) {
        if (members.size >= capacity) return { status: 'full' }
        members.set(member.id, { ...member })
      }
      return { status: 'joined', members: copy(members) }
    },

    async leave(roomId: string, memberId: string): Promise<LeaveOutcome> {
      const members = rooms.get(roomId)
      if (members === undefined || !members.delete(memberId)) return { left: false, roomDeleted: false }
      if (members.size > 0) return { left: true, roomDeleted: false }
      rooms.delete(roomId)
      return { left: true, roomDeleted: true }
    },

    async members(roomId: string): Promise<Member[] | undefined> {
      const members = rooms.get(roomId)
      return members && copy(members)
    },

    async isMember(roomId: string, memberId: string): Promise<boolean> {
      return rooms.get(roomId)?.has(memberId) ?? false
    },

    async update(roomId: string, memberId: string, patch: MemberPatch): Promise<boolean> {
      const member = rooms.get(roomId)?.get(memberId)
      if (member === undefined) return false
      Object.assign(member, patch)
      return true
    },

    async close(): Promise<void> {
      rooms.clear()
    }
  }
}
