/**
 * deploy/nginx.conf for real: nginx (Debian's nginx-light) in front of two instances sharing
 * Redis; clients on Socket.IO's default transports (long-polling, then the WebSocket upgrade)
 * connect through it, land on both instances, join one room and exchange signals.
 */
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { Agent } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { buildServer, connectClient, createRoom, freePort, joinRoom, nextEvent, request, until, type Client, type TestServer } from './helper.js'
import { useRedis } from './redis-helper.js'

const NGINX = '/usr/sbin/nginx'
const CONFIG = new URL('../deploy/nginx.conf', import.meta.url)

interface Proxied {
  instances: TestServer[]
  url: string
  /** Which instance holds a client's connection (-1: none). */
  onInstance(client: Client): number
  /** A client from loopback address 127.0.0.`host`: nginx hashes on the client address. */
  connectFrom(host: number, options?: Parameters<typeof connectClient>[2]): Promise<Client>
}

/** nginx, with deploy/nginx.conf as shipped but for addresses and port, before two instances sharing Redis. */
async function behindNginx(t: Test): Promise<Proxied | undefined> {
  if (spawnSync(NGINX, ['-v']).error) {
    const message = `${NGINX} is missing (apt-get install nginx-light; .ci/run does)`
    if (process.env.CI === 'true') t.fail(message)
    else t.pass(message, { skip: message })
    return undefined
  }
  const redis = await useRedis(t)
  if (redis === undefined) return undefined
  const instances = [await buildServer(t, redis.env), await buildServer(t, redis.env)]

  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'signaling-nginx-'))
  const upstreams = instances.map(({ url }) => `server ${new URL(url).host};`).join('\n    ')
  const config = readFileSync(CONFIG, 'utf8')
    .replace(/server signaling-1:5000;\s*server signaling-2:5000;/, upstreams)
    .replace('listen 80;', `listen 127.0.0.1:${port};`)
  t.not(config, readFileSync(CONFIG, 'utf8'), 'the test swapped in its own addresses')
  writeFileSync(join(dir, 'nginx.conf'), config)
  const nginx = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', `daemon off; pid ${join(dir, 'nginx.pid')};`], {
    stdio: ['ignore', 'inherit', 'inherit']
  })
  t.teardown(async () => {
    nginx.kill('SIGTERM')
    await once(nginx, 'exit').catch(() => {})
    rmSync(dir, { recursive: true, force: true })
  })
  const url = `http://127.0.0.1:${port}`
  await until(() => fetch(`${url}/health`).then((r) => r.ok, () => false), 'nginx to come up')
  return {
    instances,
    url,
    onInstance: (client) => instances.findIndex(({ app }) => app.io.of('/').sockets.has(client.id!)),
    connectFrom: (host, options = {}) =>
      connectClient(t, url, { transports: ['polling', 'websocket'], agent: new Agent({ localAddress: `127.0.0.${host}` }) as never, ...options })
  }
}

/** Resolves once the client's transport is the WebSocket it upgraded to. */
async function upgraded(client: Client): Promise<void> {
  if (client.io.engine.transport.name === 'websocket') return
  await new Promise<void>((resolve) => client.io.engine.once('upgrade', () => resolve()))
}

t.test('through nginx: sticky long-polling, WebSocket upgrade, one room across two instances', async (t) => {
  const proxied = await behindNginx(t)
  if (proxied === undefined) return
  const { onInstance, connectFrom } = proxied

  // nginx hashes the client address; try loopback addresses until both instances hold a client.
  const clients: Client[] = []
  for (let host = 2; host < 60 && new Set(clients.map(onInstance)).size < 2; host++) clients.push(await connectFrom(host))
  const alice = clients.find((client) => onInstance(client) === 0)
  const bob = clients.find((client) => onInstance(client) === 1)
  t.ok(alice && bob, 'clients landed on both instances')
  if (!alice || !bob) return

  // Long-polling must have upgraded to WebSocket through the proxy.
  await upgraded(alice)
  t.equal(alice.io.engine.transport.name, 'websocket')

  const roomId = await createRoom(alice, 'alice')
  t.match(await joinRoom(bob, roomId, 'bob'), { success: true, users: [{ id: alice.id }, { id: bob.id }] })
  const offer = nextEvent(bob, 'signal')
  await request(alice, 'signal', { to: bob.id, signal: { type: 'offer', sdp: 'v=0' } })
  t.same(await offer, { from: alice.id, signal: { type: 'offer', sdp: 'v=0' } })
  const answer = nextEvent(alice, 'signal')
  await request(bob, 'signal', { to: alice.id, signal: { type: 'answer', sdp: 'v=0' } })
  t.same(await answer, { from: bob.id, signal: { type: 'answer', sdp: 'v=0' } })
})

t.test('through nginx, a draining instance gets no new clients: they land on the other, whole sessions and all', async (t) => {
  const proxied = await behindNginx(t)
  if (proxied === undefined) return
  const { instances, onInstance, connectFrom } = proxied

  // An address nginx sends to instance 0, and a call already there.
  let host = 2
  let alice: Client | undefined
  for (; host < 60 && alice === undefined; host++) {
    const client = await connectFrom(host, { transports: ['websocket'] })
    if (onInstance(client) === 0) alice = client
    else client.disconnect()
  }
  if (alice === undefined) return void t.fail('no address hashed to instance 0')
  const roomId = await createRoom(alice, 'alice')

  instances[0]!.app.readiness.draining = true
  // From the same address, so nginx hashes it to the draining instance first; long-polling first,
  // so every request of its session goes through nginx and must find the instance holding it.
  const bob = await connectFrom(host - 1)
  t.equal(onInstance(bob), 1, 'the newcomer was sent on to the other instance')
  await upgraded(bob)
  t.equal(bob.io.engine.transport.name, 'websocket', 'its upgrade found its session there too')
  t.match(await joinRoom(bob, roomId, 'bob'), { success: true }, 'and it joins the call on the draining instance')
  const offer = nextEvent(alice, 'signal')
  await request(bob, 'signal', { to: alice.id, signal: { type: 'offer', sdp: 'v=0' } })
  t.same(await offer, { from: bob.id, signal: { type: 'offer', sdp: 'v=0' } }, 'the member on the draining instance is still served')
})
