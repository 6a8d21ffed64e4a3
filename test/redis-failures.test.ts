/**
 * What happens when an instance dies without cleaning up, and when Redis itself goes away.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import t from 'tap'
import { buildServer, connectClient, createRoom, joinRoom, nextEvent, request, startServerProcess } from './helper.js'
import { useRedis } from './redis-helper.js'

t.test('an instance killed with SIGKILL leaves no ghosts: its members are removed and the room told', async (t) => {
  const redis = await useRedis(t)
  if (redis === undefined) return
  const survivor = await buildServer(t, redis.env)
  const doomed = startServerProcess(redis.env)
  t.teardown(() => {
    doomed.child.kill('SIGKILL')
  })
  const alice = await survivor.connect()
  const bob = await connectClient(t, await doomed.url)
  const roomId = await createRoom(alice, 'alice')
  await joinRoom(bob, roomId, 'bob')
  const bobId = bob.id

  const left = nextEvent(alice, 'user-left', 20_000)
  doomed.child.kill('SIGKILL')
  await once(doomed.child, 'exit')
  // The bound is INSTANCE_TIMEOUT_MS + INSTANCE_HEARTBEAT_MS (1.2 s here); nextEvent gives up at 20 s.
  t.equal(await left, bobId, 'the others got user-left')
  t.match(await request(alice, 'user-list'), { ok: true, users: [{ id: alice.id }] })
  t.equal(await redis.client.scard(`${redis.prefix}instances`), 1, 'the dead instance is forgotten')
  t.equal((await redis.client.keys(`${redis.prefix}seats:*`)).length, 1, 'only the survivor still holds seats')
})

async function freePort(): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  server.close()
  await once(server, 'close')
  return port
}

/** A private redis-server we may kill and restart; its AOF keeps the data across the restart. */
function startRedis(port: number, dir: string): ChildProcess {
  return spawn('redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '',
    '--appendonly', 'yes', '--appendfsync', 'always'
  ], { stdio: 'ignore' })
}

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    if (await check()) return
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`gave up waiting for ${what}`)
}

t.test('Redis going away: no crash, /ready 503, UNAVAILABLE, and service resumes by itself', async (t) => {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'signaling-redis-'))
  let redisProcess = startRedis(port, dir)
  t.teardown(() => {
    redisProcess.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  })
  const url = `redis://127.0.0.1:${port}`
  await until(() => pings(url), 'the private redis-server')
  const { app, connect } = await buildServer(t, { REDIS_URL: url, INSTANCE_HEARTBEAT_MS: '200', INSTANCE_TIMEOUT_MS: '1000' })
  const [alice, bob] = [await connect(), await connect()]
  const roomId = await createRoom(alice, 'alice')
  await joinRoom(bob, roomId, 'bob')

  redisProcess.kill('SIGKILL')
  await once(redisProcess, 'exit')
  await until(async () => (await app.inject('/ready')).statusCode === 503, '/ready to turn 503')
  t.match((await app.inject('/ready')).json(), { failing: ['redis'] })
  t.match(await request(alice, 'user-list'), { ok: false, error: { code: 'UNAVAILABLE' } })
  t.match(await request(alice, 'signal', { to: bob.id, signal: { sdp: 'x' } }), { ok: false, error: { code: 'UNAVAILABLE' } })
  // bob leaves while Redis is away: his leave cannot be written now.
  const bobId = bob.id
  const left = nextEvent(alice, 'user-left', 20_000)
  bob.disconnect()

  redisProcess = startRedis(port, dir)
  await until(async () => (await app.inject('/ready')).statusCode === 200, '/ready to turn 200 again')
  t.equal(await left, bobId, 'the missed leave is repaired once Redis is back')
  t.match(await request(alice, 'user-list'), { ok: true, users: [{ id: alice.id, username: 'alice' }] })
  t.equal((await app.inject('/health')).statusCode, 200, 'the process never went down')
})

async function pings(url: string): Promise<boolean> {
  const probe = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 })
  probe.on('error', () => {})
  try {
    await probe.connect()
    return (await probe.ping()) === 'PONG'
  } catch {
    return false
  } finally {
    probe.disconnect()
  }
}
