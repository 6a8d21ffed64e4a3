import Fastify from 'fastify'
import fp from 'fastify-plugin'
import { readFileSync } from 'node:fs'
import t from 'tap'
import app from '../src/app.js'
import { ConfigSchema } from '../src/plugins/env.js'
import { defaultLogBytes } from '../src/recovery/log-cap.js'
import { buildServer, connectClient } from './helper.js'

async function boot(env: Record<string, string>): Promise<unknown> {
  const server = Fastify({ logger: false })
  try {
    await server.register(fp(app), { env })
    await server.ready()
    return undefined
  } catch (error) {
    return error
  } finally {
    await server.close()
  }
}

t.test('defaults need no settings at all', async (t) => {
  const server = Fastify({ logger: false })
  t.teardown(() => server.close())
  await server.register(fp(app), { env: {} })
  t.match(server.config, {
    PORT: 5000,
    HOST: '0.0.0.0',
    CORS_ORIGINS: '*',
    MAX_USERS_PER_ROOM: 4,
    MAX_MESSAGE_BYTES: 65536,
    LOG_LEVEL: 'info'
  })
})

t.test('a bad value fails the boot with a message naming the variable', async (t) => {
  const cases: Array<[string, string]> = [
    ['PORT', 'not-a-port'],
    ['PORT', '70000'],
    ['MAX_USERS_PER_ROOM', '1'],
    ['MAX_USERS_PER_ROOM', 'four'],
    ['LOG_LEVEL', 'loud'],
    ['RATE_LIMIT_BURST', '0'],
    ['MAX_MESSAGE_BYTES', '-5']
  ]
  for (const [name, value] of cases) {
    const error = await boot({ [name]: value })
    t.match(error, { message: new RegExp(name) }, `${name}=${value}`)
  }
})

t.test('CORS_ORIGINS applies to HTTP routes and to Socket.IO\'s own requests', async (t) => {
  const { app: server, url } = await buildServer(t, { CORS_ORIGINS: 'https://app.example, https://other.example' })
  const allowed = await server.inject({ url: '/health', headers: { origin: 'https://app.example' } })
  t.equal(allowed.headers['access-control-allow-origin'], 'https://app.example')
  const denied = await server.inject({ url: '/health', headers: { origin: 'https://evil.example' } })
  t.notOk(denied.headers['access-control-allow-origin'])

  const polling = async (origin: string) =>
    fetch(`${url}/socket.io/?EIO=4&transport=polling`, { headers: { origin } })
  t.equal((await polling('https://other.example')).headers.get('access-control-allow-origin'), 'https://other.example')
  t.equal((await polling('https://evil.example')).headers.get('access-control-allow-origin'), null)
  // A real client with the default transports (polling first) still connects.
  const client = await connectClient(t, url, { transports: ['polling', 'websocket'] })
  t.ok(client.connected)
})

t.test('the demo page is served at / unless DEMO_PAGE=false', async (t) => {
  const on = await buildServer(t)
  const page = await on.app.inject('/')
  t.equal(page.statusCode, 200)
  t.match(page.headers['content-type'], /text\/html/)
  t.match(page.body, /<label for="name">Your name<\/label>/)
  t.match(page.headers['content-security-policy'], /script-src 'self'/)
  t.equal((await on.app.inject('/demo.js')).statusCode, 200, 'the bundle is built and served')
  const off = await buildServer(t, { DEMO_PAGE: 'false' })
  t.equal((await off.app.inject('/')).statusCode, 404)
})

t.test('the README documents every setting', async (t) => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')
  // The first cell of each table row names one setting or a few: `A`, `B`.
  const firstCells = [...readme.matchAll(/^\| ([^|]+) \|/gm)].map((match) => match[1]!)
  const rows = new Set(firstCells.flatMap((cell) => [...cell.matchAll(/`([A-Z][A-Z0-9_]*)`/g)].map((match) => match[1])))
  t.same(Object.keys(ConfigSchema.properties).filter((key) => !rows.has(key)), [])
})

t.test("the recovery log's default cap: 256 MiB, or a quarter of a smaller memory limit", async (t) => {
  const machine = 24 * 2 ** 30
  t.equal(defaultLogBytes(0, machine), 256 << 20, 'no limit read as 0')
  t.equal(defaultLogBytes(2 ** 64, machine), 256 << 20, 'nor as more than the machine has')
  t.equal(defaultLogBytes(2 * 2 ** 30, machine), 256 << 20, 'a quarter of 2 GiB is more than 256 MiB')
  t.equal(defaultLogBytes(512 << 20, machine), 128 << 20)
  t.equal(defaultLogBytes(2 << 20, machine), 1 << 20, 'never below 1 MiB')
  t.type(defaultLogBytes(), 'number', "this process's own limit is read")
})
