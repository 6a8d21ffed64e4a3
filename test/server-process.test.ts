/**
 * The compiled server as the container runs it (`node dist/server.js`, built by `npm test`):
 * boot, probes, a graceful SIGTERM with a call in progress, its Node flags and memory settings, and
 * the collection it asks of V8 once the recovery log empties.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises'
import t, { type Test } from 'tap'
import { startScriptCommand } from '../bench/shipped-node-flags.js'
import { defaultLogBytes } from '../src/recovery/log-cap.js'
import { MEMORY_REDUCING_GC } from '../src/recovery/recovery-plugin.js'
import { connectClient, createRoom, nextEvent, sample, startServerProcess as start, until } from './helper.js'

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
  for (const variable of ['MALLOC_ARENA_MAX', 'MALLOC_MMAP_THRESHOLD_', 'MALLOC_TRIM_THRESHOLD_']) {
    t.ok(variable in fromStart.env, `npm start sets ${variable} (docs/performance.md)`)
  }
  for (const flag of ['--expose-gc', '--max-semi-space-size=', '--heap-growing-percent=', '--initial-old-space-size=', '--no-allocation-site-pretenuring']) {
    t.ok(fromStart.flags.some((given) => given.startsWith(flag)), `npm start passes ${flag} (docs/performance.md)`)
  }
})

/**
 * A memory cgroup of `bytes` for the test, made inside this process's own (so the server stays
 * under whatever limits the run itself has): v2, or v1's memory hierarchy. Undefined where it
 * cannot be made (not root, no memory controller, not delegated).
 */
async function memoryCgroup(t: Test, bytes: number): Promise<string | undefined> {
  const name = `signaling-test-${process.pid}-${Date.now()}`
  const own = await readFile('/proc/self/cgroup', 'utf8').catch(() => '')
  const pathOf = (pattern: RegExp): string | undefined => pattern.exec(own)?.[1]?.replace(/\/$/, '')
  const v2 = (await readFile('/sys/fs/cgroup/cgroup.controllers', 'utf8').catch(() => '')).split(/\s/).includes('memory')
  const v1Path = pathOf(/^\d+:memory:(.*)$/m)
  const v2Path = pathOf(/^0::(.*)$/m)
  if (v2 ? v2Path === undefined : v1Path === undefined) return undefined
  const [dir, limitFile] = v2 ? [`/sys/fs/cgroup${v2Path}/${name}`, 'memory.max'] : [`/sys/fs/cgroup/memory${v1Path}/${name}`, 'memory.limit_in_bytes']
  try {
    await mkdir(dir)
    await writeFile(`${dir}/${limitFile}`, String(bytes))
  } catch {
    await rmdir(dir).catch(() => {})
    return undefined
  }
  // Removable once its processes are gone: each test kills its server in an earlier teardown.
  t.teardown(() => until(async () => (await rmdir(dir).then(() => true, () => false)), `${dir} to be removed`))
  return dir
}

t.test("the recovery log's cap follows a container's memory limit unless set", async (t) => {
  const capOf = async (env: Record<string, string>, cgroup?: string): Promise<unknown> => {
    const { child, lines, url } = start(env, { cgroup })
    t.teardown(() => {
      child.kill('SIGKILL')
    })
    await url
    const exited = once(child, 'exit')
    child.kill('SIGKILL')
    await exited
    return lines.find((line) => line.msg === 'recovery log capped')?.logBytes
  }
  t.equal(await capOf({}), defaultLogBytes(), "outside: what this process's own limit gives (256 MiB without one)")
  const cgroup = await memoryCgroup(t, 512 << 20)
  await t.test('in a 512 MiB container', { skip: cgroup === undefined && 'no memory cgroup can be made inside this process\'s own here (not root, no memory controller, or cgroup v2 without delegation)' }, async (t) => {
    t.equal(await capOf({}, cgroup), 128 << 20, 'a quarter of it')
    t.equal(await capOf({ RECOVERY_LOG_BYTES: String(300 << 20) }, cgroup), 300 << 20, 'a setting wins')
  })
})

/** Whether this runtime's V8 makes a memory-reducing collection of the server's MEMORY_REDUCING_GC (Node 24's does, Node 20's does not). */
async function gcCanReduceMemory(t: Test): Promise<boolean> {
  const probe = spawn(process.execPath, ['--expose-gc', '--trace-gc', '-e', `gc(${JSON.stringify(MEMORY_REDUCING_GC)})`], { stdio: ['ignore', 'pipe', 'inherit'] })
  let printed = ''
  probe.stdout.on('data', (data: Buffer) => (printed += data.toString()))
  // 'close', not 'exit': stdout may still hold the trace at exit.
  await once(probe, 'close')
  t.match(printed, /Mark-Compact|Scavenge/, 'the probe printed the collection it made, so its answer can be trusted')
  return /Mark-Compact \(reduce\)/.test(printed)
}

t.test('once the recovery log empties, the server collects its garbage, and gives back the pages V8 pools where V8 can', async (t) => {
  const reduces = await gcCanReduceMemory(t)
  // Short heartbeat and grace: the log keeps offsets for about 10 s after the last packet.
  const { child, lines, output, url } = start({ RECONNECT_GRACE_MS: '1000', PING_INTERVAL_MS: '1000', PING_TIMEOUT_MS: '1000' }, { nodeFlags: ['--expose-gc', '--trace-gc'] })
  t.teardown(() => {
    child.kill('SIGKILL')
  })
  const client = await connectClient(t, await url)
  const metricsPort = lines.map((line) => /metrics served at \/metrics on port (\d+)/.exec(String(line.msg))?.[1]).find(Boolean)
  const held = async (): Promise<{ packets?: number; bytes?: number }> => {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()
    return { packets: sample(text, 'signaling_recovery_log_packets'), bytes: sample(text, 'signaling_recovery_log_bytes') }
  }
  await createRoom(client, 'alice')
  t.ok(((await held()).packets ?? 0) > 0, 'the room sent packets a resume could ask for: the log holds them')
  client.disconnect()
  // gc() called from JavaScript: V8 gives it the reason "testing".
  const anyRequestedFullGc = /Mark-Compact.*testing/
  // Its offsets go after the retention (about 10 s here), its spare chunk 30 s after its last use.
  // A collection printed before a reading that still finds something held was asked for too early.
  let collectedWhileHeld = false
  await until(async () => {
    const collectedBefore = output.some((line) => anyRequestedFullGc.test(line))
    const empty = Object.values(await held()).every((value) => value === 0)
    collectedWhileHeld ||= collectedBefore && !empty
    return empty
  }, 'the log to empty', 60_000)
  t.notOk(collectedWhileHeld, 'no collection asked for while the log held anything')
  const expectedCollection = reduces ? /Mark-Compact \(reduce\).*testing/ : anyRequestedFullGc
  await until(async () => output.some((line) => expectedCollection.test(line)), 'the collection once the log emptied', 15_000)
  t.pass(reduces ? 'a memory-reducing collection, which gives back the pooled pages too' : 'a full collection (this V8 has no memory-reducing one to ask for)')
})
