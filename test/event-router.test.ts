/**
 * The event router on a bare Socket.IO server: events of one socket take effect in the order they
 * were sent whether their handlers finish at once or later, and a failure anywhere answers that
 * event and leaves the queue going.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import pino from 'pino'
import { Server } from 'socket.io'
import t, { type Test } from 'tap'
import { createEventRouter, type SignalingServer } from '../src/events/event-router.js'
import { createLogBudget } from '../src/log-budget.js'
import { SignalingError } from '../src/events/signaling-error.js'
import { SignalPayload, UserListPayload } from '../src/protocol.js'
import { connectClient, request } from './helper.js'

async function startRouter(t: Test, observe?: (event: string, outcome: string) => void) {
  const lines: Array<Record<string, unknown>> = []
  const log = pino(new Writable({ write: (chunk, _encoding, done) => done(void lines.push(JSON.parse(String(chunk)))) }))
  const router = createEventRouter({
    sendError: (socketId, message) => io.to(socketId).emit('error', message),
    logBudget: createLogBudget({ log, windowMs: 1000 }),
    observe,
    rateLimit: { burst: 100, perSecond: 100, maxRefusals: 100, windowMs: 1000 }
  })
  const http = createServer()
  const io: SignalingServer = new Server(http)
  io.on('connection', (socket) => router.attach(socket))
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    io.disconnectSockets(true)
    await io.close()
  })
  return { router, lines, url: `http://127.0.0.1:${(http.address() as AddressInfo).port}` }
}

t.test('a handler that finishes at once waits for the slower one sent before it', async (t) => {
  const { router, url } = await startRouter(t)
  const ran: string[] = []
  router.on('user-list', {
    schema: UserListPayload,
    async handle() {
      await new Promise((resolve) => setTimeout(resolve, 50))
      ran.push('slow')
    }
  })
  router.on('signal', {
    schema: SignalPayload,
    handle(_ctx, { to }) {
      ran.push(to)
    }
  })
  const client = await connectClient(t, url)
  const answers = await Promise.all([
    request(client, 'signal', { to: 'first', signal: 'x' }),
    request(client, 'user-list', {}),
    request(client, 'signal', { to: 'after', signal: 'x' })
  ])
  t.same(ran, ['first', 'slow', 'after'])
  t.same(answers, [{ success: true, ok: true }, { success: true, ok: true }, { success: true, ok: true }])
})

t.test('thrown, rejected and failing bookkeeping: each answered or logged, the queue goes on', async (t) => {
  let observed = 0
  const { router, url, lines } = await startRouter(t, () => {
    if (++observed === 1) throw new Error('metrics broke')
  })
  router.on('signal', {
    schema: SignalPayload,
    handle(_ctx, { to }) {
      if (to === 'throw') throw new SignalingError('PEER_NOT_FOUND')
      if (to === 'reject') return Promise.reject(new Error('store broke'))
    }
  })
  const client = await connectClient(t, url)
  // The first event's observe throws after its ack went out.
  t.same(await request(client, 'signal', { to: 'fine', signal: 'x' }), { success: true, ok: true })
  t.match(await request(client, 'signal', { to: 'throw', signal: 'x' }), { success: false, code: 'PEER_NOT_FOUND' })
  t.match(await request(client, 'signal', { to: 'reject', signal: 'x' }), { success: false, code: 'INTERNAL' })
  t.same(await request(client, 'signal', { to: 'fine', signal: 'x' }), { success: true, ok: true }, 'still served')
  t.same(
    lines.map((line) => [line.msg, (line.err as { message: string }).message]),
    [['event task failed', 'metrics broke'], ['event handler failed', 'store broke']]
  )
})

t.test('a task queued from inside a running one waits for it: a handler that disconnects its socket', async (t) => {
  const { router, url } = await startRouter(t)
  const ran: string[] = []
  let cleanedUp!: () => void
  const cleanUp = new Promise<void>((resolve) => (cleanedUp = resolve))
  router.onDisconnect(async () => {
    ran.push('disconnect clean-up')
    cleanedUp()
  })
  router.on('user-list', {
    schema: UserListPayload,
    async handle({ socket }) {
      socket.disconnect(true)
      await new Promise((resolve) => setTimeout(resolve, 30))
      ran.push('handler')
    }
  })
  const client = await connectClient(t, url)
  const id = client.id!
  client.emit('user-list', {})
  await cleanUp
  t.same(ran, ['handler', 'disconnect clean-up'])
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(router.served(id), undefined, 'and the session is forgotten once idle')
})
