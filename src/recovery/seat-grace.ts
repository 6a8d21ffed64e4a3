import type { FastifyInstance } from 'fastify'
import { enterRoom, loseSeat } from '../events/current-room.js'

/**
 * The seat side of recovery: a member whose connection dropped keeps its seat for the grace
 * window (the room is told `user-away`), gets it back when its socket is recovered (`user-back`),
 * and loses it when the window ends (`user-left`), on whichever instance notices first.
 */
export default async function seatGraceEvents(fastify: FastifyInstance): Promise<void> {
  const { rooms, socketEvents, config, recovery, announce, roster } = fastify
  if (!recovery.enabled) return
  const graceMs = config.RECONNECT_GRACE_MS

  socketEvents.onDisconnect(async ({ socket, connectionId }, reason) => {
    const roomId = socket.data.roomId
    if (roomId === undefined || !recovery.keepsSeat(reason)) return
    // Keep the seat: the client is likely reconnecting, and its media may still be flowing.
    if (await rooms.markAway(roomId, socket.id, connectionId, Date.now() + graceMs)) announce.userAway(roomId, socket.id)
  })

  // A recovered socket comes back with its id, rooms and socket.data: reclaim the kept seat.
  socketEvents.onConnect(async ({ socket, connectionId }) => {
    const roomId = socket.data.roomId
    if (!socket.recovered || roomId === undefined) return
    if (await rooms.markBack(roomId, socket.id, connectionId)) {
      // Its rooms came back with it; a session saved by an earlier version lacks its seat's room.
      await enterRoom(socket, roomId)
      // Back through another instance, maybe: this one learns who sits in the room now.
      if (fastify.cluster.shared) roster.seed(roomId, ((await rooms.members(roomId)) ?? []).map(({ id }) => id))
      announce.userBack(roomId, socket.id)
      return
    }
    await loseSeat(socket, roomId, announce)
  })

  // Any instance may free a seat whose grace ran out; the store makes sure only one reports it.
  const sweep = setInterval(() => {
    rooms.expireAway(Date.now()).then(
      (freed) => {
        for (const { roomId, memberId } of freed) announce.userLeft(roomId, memberId)
      },
      (err: unknown) => fastify.log.warn({ err }, 'expiring away members failed')
    )
  }, Math.min(1000, Math.ceil(graceMs / 4)))
  sweep.unref()
  fastify.addHook('onClose', async () => clearInterval(sweep))
}
