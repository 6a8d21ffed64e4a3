import type { ServerOptions } from 'socket.io'
import type { Adapter } from 'socket.io-adapter'
import type { SignalingServer, SignalingSocket } from '../events/event-router.js'
import { socketPid } from '../plugins/socket-io-internals.js'

/** How long a resume waits for the instance holding the old transport to let go of it. */
const RELEASE_WAIT_MS = 1000

/** What Socket.IO's `adapter` option takes: a class, or a factory it calls with `new`. */
export type AdapterFactory = ServerOptions['adapter']

export interface SessionRelease {
  /**
   * The adapter factory `base`, each adapter it makes releasing a half-open session before
   * restoring it (see below). Socket.IO gets the wrapped factory, before it makes any adapter.
   */
  wrap(base: AdapterFactory): AdapterFactory
  /** Starts tracking `io`'s sockets, and answering other instances' release requests. */
  attach(io: SignalingServer): void
}

const wait = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * A restore first closes the transport still holding that session (a client that switched networks
 * beats the ping timeout), here or (`shared`) on whichever instance has it, so that the session is
 * saved before it is restored. Why: docs/recovery.md, "Releasing a half-open session".
 */
export function createSessionRelease({ shared }: { shared: boolean }): SessionRelease {
  /** Recovery session id → the socket holding it, for the sockets this instance serves. */
  const byPid = new Map<string, SignalingSocket>()
  let io: SignalingServer | undefined

  async function releaseHere(pid: string): Promise<boolean> {
    const stale = byPid.get(pid)
    if (!stale?.connected) return false
    const gone = new Promise((resolve) => stale.once('disconnect', resolve))
    stale.conn.close()
    await Promise.race([gone, wait(RELEASE_WAIT_MS)])
    return true
  }

  async function release(pid: string): Promise<void> {
    if ((await releaseHere(pid)) || !shared || io === undefined) return
    const asked = io.serverSideEmitWithAck('release-session', pid).catch(() => [])
    await Promise.race([asked, wait(RELEASE_WAIT_MS)])
  }

  return {
    wrap(base) {
      // Wrapped as it is made, before Socket.IO holds it: the streams adapter's class is not
      // exported, so there is nothing to subclass (the package wraps its own `close` the same way).
      return function createReleasingAdapter(nsp: unknown): Adapter {
        const adapter = Reflect.construct(base, [nsp]) as Adapter
        const restore = adapter.restoreSession.bind(adapter)
        adapter.restoreSession = async (pid, offset) => {
          await release(pid)
          return restore(pid, offset)
        }
        return adapter
      }
    },

    attach(server) {
      io = server
      // One listener function for every socket (`this` is the socket), not a closure each.
      function forget(this: SignalingSocket): void {
        const pid = socketPid(this)
        if (pid !== undefined && byPid.get(pid) === this) byPid.delete(pid)
      }
      server.on('connection', (socket) => {
        const pid = socketPid(socket)
        if (pid === undefined) return
        byPid.set(pid, socket)
        socket.on('disconnect', forget)
      })
      server.on('release-session', (pid, ack) => {
        releaseHere(pid).then(ack, () => ack(false))
      })
    }
  }
}
