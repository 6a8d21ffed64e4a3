/**
 * The Dockerfile, built unchanged and run. No Docker engine runs here, so podman builds it on a
 * stand-in node:24-slim that .ci/stand-in-node-image.sh assembles (minbase Debian, Node and npm from
 * the npm registry, uid 1000 `node`) and keeps for later runs. Then the container as an operator
 * runs it: HEALTHCHECK, non-root, a call through it, and a stop with the call live.
 */
import { spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { connectClient, createRoom, freePort, joinRoom, nextEvent, request, until } from './helper.js'

// A cold run assembles the base (debootstrap, about two minutes) and builds (about one): more than
// the 300 s package.json gives each file.
t.setTimeout(900_000)

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const BASE = 'docker.io/library/node:24-slim'

interface Result {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs a command to its end (killed after `timeoutMs`), without blocking the event loop. */
function run(command: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 120_000): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, env, timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    child.once('error', reject)
    child.once('close', (code) => resolve({ code, stdout, stderr }))
  })
}

/** The last lines of a command's error output, for a failed assertion's diagnostics. */
const tail = ({ stderr }: Result): string => stderr.trim().split('\n').slice(-15).join('\n')

/** This process's hard limit named `name` in /proc/self/limits. */
function hardLimit(name: string): string {
  const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith(name))
  const value = line?.slice(26).trim().split(/\s+/)[1]
  if (value === undefined) throw new Error(`no '${name}' in /proc/self/limits`)
  return value
}

/**
 * The environment podman needs on these machines, or undefined when the test was skipped (or
 * failed, under CI) for want of podman.
 */
function podmanEnv(t: Test): NodeJS.ProcessEnv | undefined {
  // .ci/run's second pass (the host on Node 24): the image is the same whatever runs the suite.
  if (process.env.SIGNALING_IMAGE_TESTED === '1') {
    t.pass('the image was built and run by this CI run\'s first pass', { skip: 'SIGNALING_IMAGE_TESTED=1' })
    return undefined
  }
  if (spawnSync('podman', ['--version']).error) {
    const message = 'podman is missing (apt-get install podman buildah debootstrap runc; .ci/run does)'
    if (process.env.CI === 'true') t.fail(message)
    else t.pass(message, { skip: message })
    return undefined
  }
  // Podman's default ulimits are above this VM's hard limits, and raising them needs
  // CAP_SYS_RESOURCE: ours for open files, and a process cap below the 32768 podman's monitor gets.
  // crun refuses this VM's cgroup layout; runc works.
  const dir = mkdtempSync(join(tmpdir(), 'signaling-podman-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const nofile = hardLimit('Max open files')
  const conf = join(dir, 'containers.conf')
  writeFileSync(conf, `[containers]\ndefault_ulimits = ["nofile=${nofile}:${nofile}", "nproc=4096:4096"]\n\n[engine]\nruntime = "runc"\n`)
  return { ...process.env, CONTAINERS_CONF: conf }
}

t.test('the Dockerfile, built unchanged on a stand-in node:24-slim, runs as operators run it', async (t) => {
  const env = podmanEnv(t)
  if (env === undefined) return
  const podman = (args: string[], timeoutMs?: number): Promise<Result> => run('podman', args, env, timeoutMs)
  // The base and the build take a core or two for a minute: at low priority, so that the test
  // files running beside this one keep to their timings.
  const gently = (command: string, args: string[], timeoutMs: number): Promise<Result> => run('nice', ['-n', '10', command, ...args], env, timeoutMs)
  const suffix = `${process.pid}-${randomBytes(3).toString('hex')}`
  const image = `localhost/signaling-server-test:${suffix}`
  const name = `signaling-image-test-${suffix}`
  // The base stays for the next run; what this test made goes.
  t.teardown(async () => {
    await podman(['rm', '--force', '--time', '0', name])
    await podman(['rmi', '--force', image])
  })

  let started = Date.now()
  const base = await gently(join(ROOT, '.ci/stand-in-node-image.sh'), ['24', '11'], 600_000)
  t.equal(base.code, 0, `the stand-in ${BASE} is in podman's storage`, { stderr: tail(base) })
  if (base.code !== 0) return
  t.comment(`${base.stdout.trim().replaceAll('\n', '; ')} (${Date.now() - started} ms)`)
  const versions = await podman(['run', '--rm', '--network', 'host', BASE, 'sh', '-c', 'node --version && npm --version && id -u node'])
  t.match(versions.stdout, /^v24\.\d+\.\d+\n11\.\d+\.\d+\n1000\n$/, 'the base has Node 24, npm 11 and a uid 1000 `node`', { stderr: tail(versions) })

  // --format docker: the OCI format has no HEALTHCHECK and would drop it. Host networking for the
  // build's `npm ci`, which reaches the registry as this machine does.
  started = Date.now()
  const build = await gently('podman', ['build', '--format', 'docker', '--pull=never', '--layers=false', '--network', 'host', '--tag', image, '--file', 'Dockerfile', '.'], 600_000)
  t.equal(build.code, 0, 'podman builds the Dockerfile unchanged', { stderr: tail(build) })
  if (build.code !== 0) return
  t.comment(`build: ${Date.now() - started} ms`)

  const inspected = await podman(['image', 'inspect', image])
  const [{ Config: config, Healthcheck: healthcheckConfig }] = JSON.parse(inspected.stdout) as [{
    Config: { User?: string; ExposedPorts?: Record<string, unknown>; StopSignal?: string }
    Healthcheck?: { Test?: string[] }
  }]
  t.equal(config.User, 'node', 'the image runs as the node user')
  t.same(Object.keys(config.ExposedPorts ?? {}).sort(), ['5000/tcp', '9464/tcp'], 'it exposes the public and the metrics port')
  t.equal(config.StopSignal, 'SIGTERM', 'it is stopped with SIGTERM, which drains')
  t.same(healthcheckConfig?.Test, ['CMD', 'node', 'dist/healthcheck.js'], 'the HEALTHCHECK survived the build')

  const contents = await podman([
    'run', '--rm', '--network', 'none', image, 'node', '-e',
    "const fs = require('fs'); console.log(JSON.stringify({ app: fs.readdirSync('.').sort(), dev: ['typescript', 'tap', 'esbuild'].filter((m) => fs.existsSync('node_modules/' + m)), prod: fs.existsSync('node_modules/fastify') }))"
  ])
  t.same(JSON.parse(contents.stdout || '{}'), { app: ['dist', 'node_modules', 'package.json', 'public'], dev: [], prod: true },
    'it ships the build, production dependencies only, the demo page and package.json', { stderr: tail(contents) })

  // As the Kubernetes manifest runs it: read-only root, no capabilities, no privilege escalation.
  // HOST is one address, not the wildcard, so the HEALTHCHECK must follow it.
  const host = '127.0.0.2'
  const [port, metricsPort] = [await freePort(), await freePort()]
  const url = `http://${host}:${port}`
  const launched = await podman([
    'run', '--detach', '--name', name, '--network', 'host',
    '--read-only', '--read-only-tmpfs=false', '--cap-drop', 'all', '--security-opt', 'no-new-privileges',
    '--env', `HOST=${host}`, '--env', `PORT=${port}`, '--env', `METRICS_PORT=${metricsPort}`,
    image
  ])
  t.equal(launched.code, 0, 'the container starts', { stderr: tail(launched) })
  if (launched.code !== 0) return
  await until(() => fetch(`${url}/health`).then((r) => r.ok, () => false), 'the container to answer /health', 60_000)
  t.same(await (await fetch(`${url}/health`)).json(), { status: 'ok' }, 'it answers /health')
  t.equal((await fetch(`http://${host}:${metricsPort}/metrics`)).status, 200, 'and /metrics on the metrics port')

  const healthcheck = await podman(['healthcheck', 'run', name])
  t.equal(healthcheck.code, 0, 'its HEALTHCHECK passes', { stdout: healthcheck.stdout, stderr: tail(healthcheck) })
  const wrongAddress = await podman(['exec', '--env', 'HOST=127.0.0.1', name, 'node', 'dist/healthcheck.js'])
  t.equal(wrongAddress.code, 1, 'and fails where the server does not listen: it asks the address HOST names')

  const uid = await podman(['exec', name, 'node', '-e', 'process.stdout.write(`${process.getuid()}:${process.getgid()}`)'])
  t.equal(uid.stdout, '1000:1000', 'the server runs as uid 1000, not root')

  const alice = await connectClient(t, url)
  const bob = await connectClient(t, url)
  const roomId = await createRoom(alice, 'alice')
  t.match(await joinRoom(bob, roomId, 'bob'), { success: true, users: [{ id: alice.id }, { id: bob.id }] }, 'a call: bob joins alice')
  const offer = nextEvent(bob, 'signal')
  await request(alice, 'signal', { to: bob.id, signal: { type: 'offer', sdp: 'v=0' } })
  t.same(await offer, { from: alice.id, signal: { type: 'offer', sdp: 'v=0' } }, 'and a signal is relayed')

  // `podman stop -t 10` sends the image's STOPSIGNAL, then SIGKILL after 10 s: the drain and
  // shutdown must end first, with the call live.
  const disconnected = nextEvent(alice, 'disconnect' as never, 15_000)
  started = Date.now()
  const stopping = podman(['stop', '--time', '10', name])
  await until(async () => (await fetch(`${url}/ready`).catch(() => undefined))?.status === 503, '/ready to answer 503 while draining')
  const answer = nextEvent(alice, 'signal')
  await request(bob, 'signal', { to: alice.id, signal: { type: 'answer', sdp: 'v=0' } })
  t.same(await answer, { from: bob.id, signal: { type: 'answer', sdp: 'v=0' } }, 'the call goes on while the instance drains')
  t.equal(await disconnected, 'transport close', 'then its transport is closed, for the client to reconnect elsewhere')
  const stopped = await stopping
  const stopMs = Date.now() - started
  t.equal(stopped.code, 0, 'podman stop succeeds', { stderr: tail(stopped) })
  const exitCode = await podman(['inspect', '--format', '{{.State.ExitCode}}', name])
  t.equal(exitCode.stdout.trim(), '0', 'the server exited 0 by itself, not 137 from the SIGKILL')
  // Exit 0 is the proof that no SIGKILL came; the time is for the reader, not asserted.
  t.comment(`stop with a live call: ${stopMs} ms`)
  const logs = await podman(['logs', name])
  t.match(logs.stdout, /"signal":"SIGTERM","msg":"shutting down"/, 'on SIGTERM, which drains (SIGINT would not)')
})
