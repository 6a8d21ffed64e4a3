/**
 * The two private Socket.IO fields this service reads, each checked: `pid` (session release, see
 * docs/recovery.md) and `_preConnectSockets` (the one-socket-per-connection guard). `socket.io` is
 * pinned to 4.8, where they were checked; test/socket-io-internals.test.ts fails if either moves.
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
