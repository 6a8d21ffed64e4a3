/**
 * What happens when an instance dies without cleaning up, and when Redis itself goes away.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { buildServer, collect, connectClient, createRoom, freePort, joinRoom, nextEvent, request, startServerProcess, sync, until } from './helper.js'
import { monitorCommands, useRedis, type TestRedis } from './redis-helper.js'

/**
 * alice on an in-process instance, bob on a child-process instance (which a test may kill or
 * pause), both in one room, with bob's user-joined already at alice (it is sent after the ack, and
 * must not arrive late, after whatever the test does to bob's instance).
 */
async function callAcrossProcesses(t: Test, redis: TestRedis) {
  const survivor = await buildServer(t, redis.env)
  const other = startServerProcess(redis.env)
  t.teardown(() => {
    other.child.kill('SIGKILL')
  })
  const alice = await survivor.connect()
  const bob = await connectClient(t, await other.url)
  const roomId = await createRoom(alice, 'alice')
  const joined = nextEvent(alice, 'user-joined')
  await joinRoom(bob, roomId, 'bob')
  await joined
  return { child: other.child, alice, bob, bobId: bob.id! }
}

t.test('an instance killed with SIGKILL leaves no ghosts: its members are removed and the room told', async (t) => {
  const redis = await useRedis(t)
  if (redis === undefined) return
  const { child: doomed, alice, bobId } = await callAcrossProcesses(t, redis)

  const left = nextEvent(alice, 'user-left', 20_000)
  const killedAt = Date.now()
  doomed.kill('SIGKILL')
  await once(doomed, 'exit')
  // Within 20 s (nextEvent's limit), where keys alone would have kept the seat for ROOM_TTL_S (a day).
  t.equal(await left, bobId, 'the others got user-left')
  const bound = Number(redis.env.INSTANCE_TIMEOUT_MS) + Number(redis.env.INSTANCE_HEARTBEAT_MS)
  t.comment(`freed ${Date.now() - killedAt} ms after the kill; the promise is within ${bound} ms plus scheduling`)
  t.match(await request(alice, 'user-list'), { success: true, users: [{ id: alice.id }] })
  t.equal(await redis.client.scard(`${redis.prefix}instances`), 1, 'the dead instance is forgotten')
  t.equal((await redis.client.keys(`${redis.prefix}seats:*`)).length, 1, 'only the survivor still holds seats')
})

interface PrivateRedis {
  port: number
  url: string
  /** Its own temporary folder (data, config files), removed at teardown. */
  dir: string
  /** Kills it as a crash would, and waits for it to be gone. */
  kill(): Promise<void>
  /** Starts it again on the same port and folder, and waits until it answers. */
  start(): Promise<void>
}

/**
 * A redis-server of the test's own, on an ephemeral port, killed at teardown, which a test may
 * kill and restart: its AOF keeps the data across the restart. `args` add to its command line.
 */
async function privateRedis(t: Test, args: string[] = []): Promise<PrivateRedis> {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'signaling-redis-'))
  const url = `redis://127.0.0.1:${port}`
  let server: ChildProcess | undefined
  const redis: PrivateRedis = {
    port,
    url,
    dir,
    async kill() {
      if (server === undefined || server.exitCode !== null || server.signalCode !== null) return
      const exited = once(server, 'exit')
      server.kill('SIGKILL')
      await exited
    },
    async start() {
      server = spawn('redis-server', [
        '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '',
        '--appendonly', 'yes', '--appendfsync', 'always', ...args
      ], { stdio: ['ignore', 'ignore', 'inherit'] })
      await until(() => pings(url), `the private redis-server on ${port}`)
    }
  }
  t.teardown(async () => {
    await redis.kill()
    rmSync(dir, { recursive: true, force: true })
  })
  await redis.start()
  return redis
}

/**
 * Closes the apps before their Redis goes, and waits until their adapters' stream readers, which
 * let go only once their blocking read returns (within 1 s), have left Redis.
 */
function closeBeforeRedis(t: Test, redis: PrivateRedis, apps: Array<{ close(): Promise<unknown> }>): void {
  t.teardown(async () => {
    await Promise.all(apps.map((app) => app.close()))
    const probe = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
    probe.on('error', () => {})
    try {
      await probe.connect()
      await until(async () => /blocked_clients:0\r?\n/.test(await probe.info('clients')), 'the stream readers to let go')
    } catch {
      // Redis is already gone (the test stopped it): there is nothing left to wait for.
    } finally {
      probe.disconnect()
    }
  })
}

t.test('Redis going away: no crash, /ready 503, UNAVAILABLE, and service resumes by itself', async (t) => {
  const redis = await privateRedis(t)
  const { app, connect } = await buildServer(t, { REDIS_URL: redis.url, INSTANCE_HEARTBEAT_MS: '200', INSTANCE_TIMEOUT_MS: '1000' })
  const [alice, bob] = [await connect(), await connect()]
  const roomId = await createRoom(alice, 'alice')
  await joinRoom(bob, roomId, 'bob')

  await redis.kill()
  await until(async () => (await app.inject('/ready')).statusCode === 503, '/ready to turn 503')
  t.match((await app.inject('/ready')).json(), { failing: ['redis'] })
  t.match(await request(alice, 'user-list'), { success: false, code: 'UNAVAILABLE' })
  // A peer connected to this instance is known to be seated without asking Redis: a call whose
  // members share an instance keeps negotiating through an outage.
  const relayed = nextEvent(bob, 'signal', 20_000)
  t.match(await request(alice, 'signal', { to: bob.id, signal: { sdp: 'x' } }), { success: true })
  t.match(await relayed, { from: alice.id, signal: { sdp: 'x' } }, 'and delivered')
  t.match(await request(alice, 'signal', { to: 'someone-elsewhere', signal: { sdp: 'x' } }), { success: false, code: 'UNAVAILABLE' })
  // bob leaves while Redis is away: his leave cannot be written now.
  const bobId = bob.id
  const left = nextEvent(alice, 'user-left', 20_000)
  bob.disconnect()

  await redis.start()
  await until(async () => (await app.inject('/ready')).statusCode === 200, '/ready to turn 200 again')
  t.equal(await left, bobId, 'the missed leave is repaired once Redis is back')
  t.match(await request(alice, 'user-list'), { success: true, users: [{ id: alice.id, username: 'alice' }] })
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

t.test('an instance paused past the timeout is taken for dead, then re-seats its members when it resumes', async (t) => {
  const redis = await useRedis(t)
  if (redis === undefined) return
  const { child: paused, alice, bob, bobId } = await callAcrossProcesses(t, redis)

  // A long GC pause, a frozen VM: the others see no heartbeat and free bob's seat.
  const left = nextEvent(alice, 'user-left', 20_000)
  paused.kill('SIGSTOP')
  t.equal(await left, bobId, 'the room was told bob left')
  const back = nextEvent(alice, 'user-joined', 20_000)
  paused.kill('SIGCONT')
  t.match(await back, { id: bobId, username: 'bob' }, 'on resuming, the instance seats bob again')
  t.ok(bob.connected)
  t.match(await request(alice, 'user-list'), { success: true, users: [{ id: alice.id }, { id: bobId }] })
  const signal = nextEvent(bob, 'signal')
  t.same(await request(alice, 'signal', { to: bobId, signal: { sdp: 'y' } }), { success: true, ok: true }, 'bob is a member again')
  t.same(await signal, { from: alice.id, signal: { sdp: 'y' } })
})

t.test('after a Redis outage shared by two instances, neither takes the other for dead', async (t) => {
  const redis = await privateRedis(t)
  const env = { REDIS_URL: redis.url, INSTANCE_HEARTBEAT_MS: '200', INSTANCE_TIMEOUT_MS: '1000' }
  const [a, b] = [await buildServer(t, env), await buildServer(t, env)]
  const alice = await a.connect()
  const bob = await b.connect()
  const roomId = await createRoom(alice, 'alice')
  await joinRoom(bob, roomId, 'bob')
  const aliceSawLeft = collect(alice, 'user-left')
  const bobSawLeft = collect(bob, 'user-left')

  await redis.kill()
  const killedAt = Date.now()
  await until(async () => (await a.app.inject('/ready')).statusCode === 503, 'instance a to notice')
  // No heartbeat was written after the kill, and Redis expires keys at their absolute time: once
  // INSTANCE_TIMEOUT_MS has passed since, every heartbeat key is expired when Redis comes back.
  // A deadline known for certain, not a guess at how long something takes.
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, killedAt + Number(env.INSTANCE_TIMEOUT_MS) + 100 - Date.now())))
  await redis.start()
  // Each instance judges the others only a full timeout after Redis came back (its first SMEMBERS
  // of `instances` since); two such checks each and a wrongful reap would have happened.
  const checks = new Map<string, number>()
  await monitorCommands(t, redis.url, ({ args, source }) => {
    if (args[0]?.toLowerCase() === 'smembers' && args[1] === 'signaling:instances') checks.set(source, (checks.get(source) ?? 0) + 1)
  })
  await until(async () => (await a.app.inject('/ready')).statusCode === 200, 'instance a to recover')
  await until(async () => (await b.app.inject('/ready')).statusCode === 200, 'instance b to recover')
  await until(async () => checks.size === 2 && [...checks.values()].every((count) => count >= 2), 'both instances to judge the others twice')
  t.match(await request(alice, 'user-list'), { success: true, users: [{ id: alice.id }, { id: bob.id }] })
  await sync(alice)
  await sync(bob)
  t.same(aliceSawLeft, [], 'nobody was evicted')
  t.same(bobSawLeft, [])
})

t.test('a redis+sentinel:// URL finds the primary through Sentinel', async (t) => {
  const primary = await privateRedis(t)
  const sentinelPort = await freePort()
  writeFileSync(join(primary.dir, 'sentinel.conf'), [
    `port ${sentinelPort}`,
    'bind 127.0.0.1',
    `sentinel monitor mymaster 127.0.0.1 ${primary.port} 1`,
    'sentinel down-after-milliseconds mymaster 1000'
  ].join('\n') + '\n')
  const sentinel = spawn('redis-server', [join(primary.dir, 'sentinel.conf'), '--sentinel'], { stdio: 'ignore' })
  t.teardown(() => {
    sentinel.kill('SIGKILL')
  })
  await until(() => pings(`redis://127.0.0.1:${sentinelPort}`), 'the sentinel')
  const { app, connect } = await buildServer(t, { REDIS_URL: `redis+sentinel://127.0.0.1:${sentinelPort}/mymaster` })
  closeBeforeRedis(t, primary, [app])
  const [alice, bob] = [await connect(), await connect()]
  const roomId = await createRoom(alice, 'alice')
  t.match(await joinRoom(bob, roomId, 'bob'), { success: true, users: [{ id: alice.id }, { id: bob.id }] })
  const direct = new Redis(primary.url)
  t.equal((await direct.keys('signaling:room:*')).length, 1, 'the room lives on the primary Sentinel named')
  direct.disconnect()
})

t.test('a redis+cluster:// URL works against a real three-node Redis Cluster, across two instances', async (t) => {
  // Each node's cluster bus port is by default its port + 10000, which an ephemeral port pushes
  // past 65535 (Redis then refuses to start): give it one of its own.
  const nodes = [
    await privateRedis(t, ['--cluster-enabled', 'yes', '--cluster-port', String(await freePort())]),
    await privateRedis(t, ['--cluster-enabled', 'yes', '--cluster-port', String(await freePort())]),
    await privateRedis(t, ['--cluster-enabled', 'yes', '--cluster-port', String(await freePort())])
  ]
  const ports = nodes.map((node) => node.port)
  const create = spawn('redis-cli', ['--cluster', 'create', ...ports.map((port) => `127.0.0.1:${port}`), '--cluster-replicas', '0', '--cluster-yes'], { stdio: 'ignore' })
  t.equal((await once(create, 'exit'))[0], 0, 'redis-cli created the cluster')
  await until(async () => {
    const probes = ports.map((port) => new Redis(port, '127.0.0.1', { lazyConnect: true, retryStrategy: () => null }))
    for (const probe of probes) probe.on('error', () => {})
    try {
      const infos = await Promise.all(probes.map(async (probe) => (await probe.connect(), String(await probe.call('CLUSTER', 'INFO')))))
      return infos.every((info) => info.includes('cluster_state:ok'))
    } catch {
      return false
    } finally {
      for (const probe of probes) probe.disconnect()
    }
  }, 'the cluster to agree on its slots')

  const env = {
    REDIS_URL: `redis+cluster://127.0.0.1:${ports[0]}`,
    REDIS_KEY_PREFIX: '{signaling-cluster}:',
    INSTANCE_HEARTBEAT_MS: '200',
    INSTANCE_TIMEOUT_MS: '1000'
  }
  const [a, b] = [await buildServer(t, env), await buildServer(t, env)]
  closeBeforeRedis(t, nodes[0]!, [a.app, b.app])
  const [alice, bob] = [await a.connect(), await b.connect()]
  const roomId = await createRoom(alice, 'alice')
  t.match(await joinRoom(bob, roomId, 'bob'), { success: true, users: [{ id: alice.id }, { id: bob.id }] }, 'joined through the other instance')
  const relayed = nextEvent(alice, 'signal')
  t.same(await request(bob, 'signal', { to: alice.id, signal: { sdp: 'offer' } }), { success: true, ok: true })
  t.same(await relayed, { from: bob.id, signal: { sdp: 'offer' } }, 'relayed across instances through the cluster')
  const [left, bobId] = [nextEvent(alice, 'user-left'), bob.id]
  bob.disconnect()
  t.equal(await left, bobId, 'a leave reaches the other instance')

  // Every key sits in the hash tag's one slot, on whichever node serves it.
  const cluster = new Redis.Cluster([{ host: '127.0.0.1', port: ports[0]! }])
  t.teardown(() => cluster.disconnect())
  await cluster.ping() // the node list fills in once the client has read the slot map
  const keys = (await Promise.all(cluster.nodes('master').map((node) => node.keys('{signaling-cluster}:*')))).filter((found) => found.length > 0)
  t.equal(keys.length, 1, 'all keys on one node')
  t.ok(keys[0]!.some((key) => key.includes(roomId)), 'the room is stored in the cluster')
})
