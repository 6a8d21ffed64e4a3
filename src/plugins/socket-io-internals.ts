/**
 * The two private fields of Socket.IO this service reads, in one place, each checked: a socket's
 * recovery session id (`pid`, for releasing half-open sessions) and a namespace's sockets still in
 * their middlewares (`_preConnectSockets`, for the one-socket-per-connection guard). Socket.IO
 * exposes neither; `socket.io` is pinned to the minor version they were checked on (4.8), and
 * test/socket-io-internals.test.ts fails if either moves.
 */
import type { Namespace, Socket } from 'socket.io'

/** A socket's recovery session id; undefined without connection state recovery. */
export function socketPid(socket: Socket): string | undefined {
  const pid: unknown = (socket as unknown as { pid?: unknown }).pid
  if (pid !== undefined && typeof pid !== 'string') throw new Error('socket.io internals changed: socket.pid is not a string')
  return pid
}

/** The ids of a namespace's sockets that are still in its middlewares (not yet connected). */
export function preConnectSockets(nsp: Namespace): ReadonlyMap<string, unknown> {
  const pending: unknown = (nsp as unknown as { _preConnectSockets?: unknown })._preConnectSockets
  if (!(pending instanceof Map)) throw new Error('socket.io internals changed: namespace._preConnectSockets is not a Map')
  return pending
}
