/**
 * The compiled server as the container runs it (`node dist/server.js`, built by `npm test`):
 * boot, probes, and a graceful SIGTERM with a call in progress.
 */
import { once } from 'node:events'
import { readFile } from 'node:fs/promises'
import t from 'tap'
import { startScriptCommand } from '../bench/shipped-node-flags.js'
import { connectClient, createRoom, nextEvent, startServerProcess as start, until } from './helper.js'

t.test('SIGTERM: /ready turns 503 for the drain delay, then sockets are moved off and it exits 0', async (t) => {
  const { child, url: listening } = start({ DRAIN_DELAY_MS: '1000' })
  t.teardown(() => {
    child.kill('SIGKILL')
  })
  const url = await listening
  t.same(await (await fetch(`${url}/health`)).json(), { status: 'ok' })
  t.equal((await fetch(`${url}/ready`)).status, 200)

  const client = await connectClient(t, url)
  await createRoom(client, 'alice')
  const disconnected = nextEvent(client, 'disconnect' as never)
  const exited = once(child, 'exit')
  child.kill('SIGTERM')
  await until(async () => (await fetch(`${url}/ready`)).status === 503, '/ready to answer 503')
  t.pass('not ready while draining')
  t.ok(client.connected, 'connected calls keep working during the drain')
  t.equal(await disconnected, 'transport close', 'then the transport is closed, so the client reconnects elsewhere')
  t.same(await exited, [0, null], 'exit code 0')
})

t.test('SIGINT with RECONNECT_GRACE_MS=0: sockets are disconnected for good, exit 0', async (t) => {
  const { child, url: listening } = start({ RECONNECT_GRACE_MS: '0' })
  t.teardown(() => {
    child.kill('SIGKILL')
  })
  const client = await connectClient(t, await listening)
  const disconnected = nextEvent(client, 'disconnect' as never)
  const exited = once(child, 'exit')
  child.kill('SIGINT')
  t.equal(await disconnected, 'io server disconnect')
  t.same(await exited, [0, null])
})

t.test('a bad setting stops the boot with exit 1 and a message naming it', async (t) => {
  const { child, lines } = start({ MAX_USERS_PER_ROOM: 'lots' })
  const [code] = await once(child, 'exit')
  t.equal(code, 1)
  t.match(lines.at(-1), { level: 60, err: { message: /MAX_USERS_PER_ROOM/ } })
})

t.test('npm start and the image run the server with the same Node flags and glibc variables', async (t) => {
  const root = new URL('../', import.meta.url)
  const { scripts } = JSON.parse(await readFile(new URL('package.json', root), 'utf8')) as { scripts: { start: string } }
  const dockerfile = await readFile(new URL('Dockerfile', root), 'utf8')
  const fromStart = startScriptCommand(scripts.start)
  const command = /^CMD (\[.*\])$/m.exec(dockerfile)?.[1]
  t.ok(command, 'the image has a CMD')
  const [node, ...rest] = JSON.parse(command!) as string[]
  t.equal(node, 'node')
  t.same(rest, [...fromStart.flags, 'dist/server.js'], 'the same flags, so the image runs what the bench measured')
  const imageEnv = Object.fromEntries([...dockerfile.matchAll(/^ENV (.+)$/gm)].flatMap(([, line]) => line!.split(/\s+/).map((pair) => pair.split('='))))
  for (const [name, value] of Object.entries(fromStart.env)) t.equal(imageEnv[name], value, `the image sets ${name} as npm start does`)
  t.ok(Object.keys(fromStart.env).length > 0, 'npm start sets the glibc variables docs/performance.md measured')
  for (const flag of ['--expose-gc', '--max-semi-space-size=', '--heap-growing-percent=']) {
    t.ok(fromStart.flags.some((given) => given.startsWith(flag)), `npm start passes ${flag} (docs/performance.md)`)
  }
})
