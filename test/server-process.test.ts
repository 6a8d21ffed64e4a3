/**
 * The compiled server as the container runs it (`node dist/server.js`, built by `npm test`):
 * boot, probes, and a graceful SIGTERM with a call in progress.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { createInterface } from 'node:readline'
import t from 'tap'
import { connectClient, createRoom, nextEvent } from './helper.js'

const SERVER = new URL('../dist/server.js', import.meta.url).pathname

function start(env: Record<string, string>): { child: ChildProcess; lines: Array<Record<string, unknown>>; url: Promise<string> } {
  if (!existsSync(SERVER)) throw new Error(`${SERVER} is missing: run \`npm run build\` (npm test does)`)
  const child = spawn(process.execPath, [SERVER], {
    env: { PATH: process.env.PATH, HOST: '127.0.0.1', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  const lines: Array<Record<string, unknown>> = []
  const url = new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const entry = JSON.parse(line) as Record<string, unknown>
      lines.push(entry)
      const match = /listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(String(entry.msg))
      if (match) resolve(match[1]!)
    })
    child.once('exit', (code) => reject(new Error(`server exited with ${code} before listening`)))
  })
  url.catch(() => {}) // a test that expects the boot to fail never awaits it
  return { child, lines, url }
}

t.test('boots, answers the probes, and on SIGTERM disconnects its sockets and exits 0', async (t) => {
  const { child, url: listening } = start({})
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
  t.equal(await disconnected, 'io server disconnect', 'the socket is closed by the server, not dropped')
  t.same(await exited, [0, null], 'exit code 0')
})

t.test('a bad setting stops the boot with exit 1 and a message naming it', async (t) => {
  const { child, lines } = start({ MAX_USERS_PER_ROOM: 'lots' })
  const [code] = await once(child, 'exit')
  t.equal(code, 1)
  t.match(lines.at(-1), { level: 60, err: { message: /MAX_USERS_PER_ROOM/ } })
})
