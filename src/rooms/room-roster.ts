import type { SignalingServer } from '../events/event-router.js'

/** How often rooms with no member on this instance are forgotten. */
const SWEEP_MS = 5000

export interface RoomRoster {
  /** Whether `memberId` is known here to be seated in `roomId` (false: not known, ask the store). */
  readonly has: (roomId: string, memberId: string) => boolean
  /** What the store answered when a local socket took its seat: the room's members at that moment. */
  readonly seed: (roomId: string, memberIds: Iterable<string>) => void
  /** A seat was taken or freed, here: recorded, and told to the other instances. */
  readonly changed: (change: 'joined' | 'left', roomId: string, memberId: string) => void
  /** Starts hearing the other instances' changes through `io`'s adapter, until `stop`. */
  readonly attach: (io: SignalingServer) => void
  readonly stop: () => void
}

/**
 * Who sits in the rooms with a member here, so that a signal to another instance needs no Redis
 * command; a member it does not know is asked of the store. How it is kept, what a stale entry can
 * do, and the one window: docs/recovery.md, "Between instances".
 */
export function createRoomRoster(): RoomRoster {
  const rooms = new Map<string, Set<string>>()
  let io: SignalingServer | undefined
  let sweep: NodeJS.Timeout | undefined

  function apply(change: 'joined' | 'left', roomId: string, memberId: string): void {
    const members = rooms.get(roomId)
    if (members === undefined) return // no member here: nobody here can signal into it
    if (change === 'joined') members.add(memberId)
    else members.delete(memberId)
  }

  return {
    has(roomId, memberId) {
      return rooms.get(roomId)?.has(memberId) ?? false
    },
    seed(roomId, memberIds) {
      rooms.set(roomId, new Set(memberIds))
    },
    changed(change, roomId, memberId) {
      apply(change, roomId, memberId)
      io?.serverSideEmit('roster-changed', change, roomId, memberId)
    },
    attach(server) {
      io = server
      server.on('roster-changed', (change, roomId, memberId) => apply(change, roomId, memberId))
      const local = server.of('/').adapter.rooms
      sweep = setInterval(() => {
        for (const roomId of rooms.keys()) if (!local.has(roomId)) rooms.delete(roomId)
      }, SWEEP_MS)
      sweep.unref()
    },
    stop() {
      clearInterval(sweep)
    }
  }
}

/** One instance: every member's socket is local, and the Socket.IO rooms say who sits where. */
export function createLocalOnlyRoster(): RoomRoster {
  return { has: () => false, seed: () => {}, changed: () => {}, attach: () => {}, stop: () => {} }
}
