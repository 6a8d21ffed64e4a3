/**
 * The compiled server as the container runs it (`node dist/server.js`, built by `npm test`):
 * boot, probes, and a graceful SIGTERM with a call in progress.
 */
import { once } from 'node:events'
import t from 'tap'
import { connectClient, createRoom, nextEvent, startServerProcess as start } from './helper.js'

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
