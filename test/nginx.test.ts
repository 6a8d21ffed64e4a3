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
import t from 'tap'
import { buildServer, connectClient, createRoom, freePort, joinRoom, nextEvent, request, until, type Client } from './helper.js'
import { useRedis } from './redis-helper.js'

const NGINX = '/usr/sbin/nginx'
const CONFIG = new URL('../deploy/nginx.conf', import.meta.url)

t.test('through nginx: sticky long-polling, WebSocket upgrade, one room across two instances', async (t) => {
  if (spawnSync(NGINX, ['-v']).error) {
    const message = `${NGINX} is missing (apt-get install nginx-light; .ci/run does)`
    if (process.env.CI === 'true') t.fail(message)
    else t.pass(message, { skip: message })
    return
  }
  const redis = await useRedis(t)
  if (redis === undefined) return
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

  // nginx hashes the client address; try loopback addresses until both instances hold a client.
  const onInstance = (client: Client): number => instances.findIndex(({ app }) => app.io.of('/').sockets.has(client.id!))
  const clients: Client[] = []
  for (let host = 2; host < 60 && new Set(clients.map(onInstance)).size < 2; host++) {
    const agent = new Agent({ localAddress: `127.0.0.${host}` })
    clients.push(await connectClient(t, url, { transports: ['polling', 'websocket'], agent: agent as never }))
  }
  const alice = clients.find((client) => onInstance(client) === 0)
  const bob = clients.find((client) => onInstance(client) === 1)
  t.ok(alice && bob, 'clients landed on both instances')
  if (!alice || !bob) return

  // Long-polling must have upgraded to WebSocket through the proxy.
  await new Promise<void>((resolve) => {
    if (alice.io.engine.transport.name === 'websocket') resolve()
    else alice.io.engine.once('upgrade', () => resolve())
  })
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
