/**
 * The two private fields of Socket.IO the service reads (src/plugins/socket-io-internals.ts) are
 * where it expects them: if an upgrade moves either, this fails before anything else misbehaves.
 */
import t from 'tap'
import { preConnectSockets, socketPid } from '../src/plugins/socket-io-internals.js'
import { buildServer } from './helper.js'

t.test('a recovered socket\'s pid and the namespace\'s pre-connect sockets are readable', async (t) => {
  const { app, connect } = await buildServer(t, { RECONNECT_GRACE_MS: '5000' })
  t.ok(preConnectSockets(app.io.of('/')) instanceof Map, 'namespace._preConnectSockets is a Map')
  const client = await connect()
  const socket = app.io.of('/').sockets.get(client.id!)!
  const pid = socketPid(socket)
  t.type(pid, 'string', 'socket.pid is a string with recovery on')
  t.equal(pid, (client as unknown as { _pid: string })._pid, 'and it is the session id the client keeps')
})

t.test('without recovery there is no pid', async (t) => {
  const { app, connect } = await buildServer(t, { RECONNECT_GRACE_MS: '0' })
  const client = await connect()
  t.equal(socketPid(app.io.of('/').sockets.get(client.id!)!), undefined)
})
