/**
 * The floor: a bare Socket.IO relay speaking the same protocol, with no validation, no room
 * scoping, no rate limits, no logging and no metrics: what a hand-rolled signaling file costs.
 *
 * Given RECONNECT_GRACE_MS, PING_INTERVAL_MS and PING_TIMEOUT_MS (all three, above 0), as the
 * bench's `--floor-recovery` passes ours' values, it turns on Socket.IO's own connection state
 * recovery with that grace and heartbeat: the hand-rolled file that keeps what a dropped client
 * missed.
 */
import { randomBytes } from 'node:crypto'
import { createServer } from 'node:http'
import { Server, type ServerOptions } from 'socket.io'

type Ack = (result: object) => void
const server = createServer()
/** A setting the floor's recovery cannot go without; a missing or bad one stops it at boot. */
function requiredMs(name: string): number {
  const value = Number(process.env[name])
  if (Number.isInteger(value) && value > 0) return value
  console.error(`the floor's recovery needs ${name} in milliseconds above 0, not ${process.env[name]}`)
  process.exit(1)
}
const recoveryOptions =
  process.env.RECONNECT_GRACE_MS === undefined
    ? undefined
    : ({
        connectionStateRecovery: { maxDisconnectionDuration: requiredMs('RECONNECT_GRACE_MS'), skipMiddlewares: true },
        pingInterval: requiredMs('PING_INTERVAL_MS'),
        pingTimeout: requiredMs('PING_TIMEOUT_MS')
      } satisfies Partial<ServerOptions>)
// On stderr, which the bench passes through: what the run's floor did, not only what it was asked.
if (recoveryOptions !== undefined) {
  const { connectionStateRecovery, pingInterval, pingTimeout } = recoveryOptions
  console.error(`floor: Socket.IO's connection state recovery, grace ${connectionStateRecovery.maxDisconnectionDuration} ms, heartbeat ${pingInterval} + ${pingTimeout} ms`)
}
const io = new Server(server, { serveClient: false, cors: { origin: '*' }, ...recoveryOptions })
const rooms = new Map<string, Map<string, { id: string; username: string; camera: boolean; mic: boolean }>>()

io.on('connection', (socket) => {
  let username = ''
  let roomId: string | undefined
  socket.on('register-username', (name: string | { username: string }, ack?: Ack) => {
    username = typeof name === 'string' ? name : name.username
    ack?.({ success: true, ok: true, username })
  })
  socket.on('create-room', (payload: { username?: string } | Ack, ack?: Ack) => {
    if (typeof payload === 'function') [ack, payload] = [payload, {}]
    username = payload.username ?? username
    roomId = randomBytes(5).toString('hex')
    const member = { id: socket.id, username, camera: true, mic: true }
    rooms.set(roomId, new Map([[socket.id, member]]))
    void socket.join(roomId)
    ack?.({ success: true, ok: true, roomId, users: [member] })
    socket.emit('room-id', roomId)
  })
  socket.on('join-room', (payload: { roomId: string; username?: string }, ack?: Ack) => {
    username = payload.username ?? username
    const members = rooms.get(payload.roomId)
    if (!members || members.size >= 4) return ack?.({ success: false, ok: false, code: 'ROOM_FULL', error: 'Room is full.' })
    const member = { id: socket.id, username, camera: true, mic: true }
    members.set(socket.id, member)
    roomId = payload.roomId
    void socket.join(roomId)
    ack?.({ success: true, ok: true, roomId, users: [...members.values()] })
    socket.to(roomId).emit('user-joined', member)
  })
  socket.on('signal', (payload: { to: string; signal: unknown }, ack?: Ack) => {
    io.to(payload.to).emit('signal', { from: socket.id, signal: payload.signal })
    ack?.({ success: true, ok: true })
  })
  socket.on('disconnect', () => {
    if (!roomId) return
    const members = rooms.get(roomId)
    members?.delete(socket.id)
    if (members?.size === 0) rooms.delete(roomId)
    io.to(roomId).emit('user-left', socket.id)
  })
})

server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const { port } = server.address() as { port: number }
  console.log(JSON.stringify({ level: 30, msg: `Server listening at http://127.0.0.1:${port}` }))
})
process.on('SIGTERM', () => {
  void io.close()
  process.exit(0)
})
