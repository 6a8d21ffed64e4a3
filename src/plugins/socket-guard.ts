import fp from 'fastify-plugin'
import type { SignalingSocket } from '../events/event-router.js'
import { preConnectSockets } from './socket-io-internals.js'

/**
 * One socket per connection: Socket.IO would let a client open several on one engine connection,
 * each with its own rate limit and failed-join budget, past the per-address cap. A client may send
 * its CONNECTs all at once, so a socket still in the middlewares counts too.
 */
export default fp(
  async function socketGuardPlugin(fastify) {
    const holders = new WeakMap<object, SignalingSocket>()
    const pending = preConnectSockets(fastify.io.of('/'))
    fastify.io.use((socket, next) => {
      const holder = holders.get(socket.client)
      if (holder !== undefined && holder !== socket && (holder.connected || pending.has(holder.id))) {
        next(new Error('Only one socket per connection.'))
        return
      }
      holders.set(socket.client, socket)
      next()
    })
  },
  { name: 'socket-guard', dependencies: ['socket'] }
)
