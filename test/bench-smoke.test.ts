/**
 * The benchmark must keep working: a tiny run (a few hundred sockets, a second per phase) against
 * both servers. Figures are not judged here; `npm run bench` and docs/performance.md do that.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { connectClient, createRoom, joinRoom, raw, request, startServerProcess } from './helper.js'

const RUN = new URL('../dist-bench/bench/run.js', import.meta.url).pathname
const FLOOR = new URL('../dist-bench/bench/bare-server.js', import.meta.url).pathname
// Load shedding off, as in every test but its own: on a busy machine it would refuse a join.
/** Ours' default grace and heartbeat, as --floor-recovery gives them to the floor. */
const OURS_RECOVERY = { RECONNECT_GRACE_MS: '20000', PING_INTERVAL_MS: '10000', PING_TIMEOUT_MS: '5000' }
const TINY_RUN = ['--sockets', '200', '--rates', '200', '--duration', '1', '--server-env', 'PRESSURE_MAX_EVENT_LOOP_DELAY_MS=0']

interface BenchRun {
  code: unknown
  out: string
  err: string
  /** The --json report. */
  report: any
  /** The --svg chart. */
  svg: string
}

async function runBench(t: Test, options: string[]): Promise<BenchRun> {
  const dir = mkdtempSync(join(tmpdir(), 'signaling-bench-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const child = spawn(process.execPath, [RUN, ...options, '--json', join(dir, 'r.json'), '--svg', join(dir, 'r.svg')], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH }
  })
  let out = ''
  let err = ''
  child.stdout.on('data', (chunk: Buffer) => (out += chunk))
  child.stderr.on('data', (chunk: Buffer) => (err += chunk))
  const [code] = await once(child, 'exit')
  if (code !== 0) return { code, out, err, report: undefined, svg: '' }
  return { code, out, err, report: JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8')), svg: readFileSync(join(dir, 'r.svg'), 'utf8') }
}

function everyoneServed(t: Test, report: { results: Array<{ name: string; failedJoins: number; rates: Array<{ lost: number; failed: number }> }> }): void {
  for (const result of report.results) {
    t.equal(result.failedJoins, 0, `${result.name}: every socket seated`)
    t.equal(result.rates[0]!.lost + result.rates[0]!.failed, 0, `${result.name}: every signal delivered`)
  }
}

t.test('a tiny bench run reports both servers side by side', async (t) => {
  const { code, out, err, report, svg } = await runBench(t, TINY_RUN)
  if (!t.equal(code, 0, 'the bench ran', { stderr: err })) return
  t.notMatch(err, /connection state recovery/, 'the floor keeps nothing')
  t.equal(report.floorRecovery, undefined)
  t.match(out, /metric\s+ours\s+floor\s+ours \/ floor/)
  t.match(out, /server CPU µs per signal @ 200\/s/)
  t.same(report.results.map((r: { name: string }) => r.name), ['ours', 'floor'])
  everyoneServed(t, report)
  t.match(svg, /<svg[\s\S]*polyline/)
})

t.test('--floor-recovery runs the floor with Socket.IO recovery on ours\' settings', async (t) => {
  const { code, err, report } = await runBench(t, [...TINY_RUN, '--only', 'floor', '--floor-recovery', '--server-env', 'PING_INTERVAL_MS=12000'])
  if (!t.equal(code, 0, 'the bench ran', { stderr: err })) return
  // The floor's own words: --server-env's value where it gives one, ours' defaults for the rest.
  t.match(err, /floor: Socket\.IO's connection state recovery, grace 20000 ms, heartbeat 12000 \+ 5000 ms/)
  t.same(report.floorRecovery, { ...OURS_RECOVERY, PING_INTERVAL_MS: '12000' })
  everyoneServed(t, report)
})

t.test('--floor-recovery refuses a grace of 0, which would give the floor no recovery', async (t) => {
  const { code, err } = await runBench(t, [...TINY_RUN, '--only', 'floor', '--floor-recovery', '--server-env', 'RECONNECT_GRACE_MS=0'])
  t.equal(code, 1)
  t.match(err, /--floor-recovery needs a grace above 0, not RECONNECT_GRACE_MS=0/)
  t.notMatch(err, /floor: /, 'no floor started')
})

t.test('--from-json keeps the floor settings of the report it rewrites', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'signaling-bench-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const earlier = join(dir, 'earlier.json')
  writeFileSync(earlier, JSON.stringify({ date: '2026-12-07T00:00:00.000Z', floorRecovery: OURS_RECOVERY, results: [] }))
  const { code, err, report } = await runBench(t, ['--from-json', earlier])
  if (!t.equal(code, 0, 'the bench ran', { stderr: err })) return
  t.same(report.floorRecovery, OURS_RECOVERY)
})

t.test('the floor with recovery settings appends an offset to what it broadcasts; without them, none', async (t) => {
  for (const [env, offset] of [[{}, false], [OURS_RECOVERY, true]] as const) {
    const floor = startServerProcess(env, { script: FLOOR })
    t.teardown(() => floor.child.kill('SIGKILL'))
    const url = await floor.url
    const [alice, bob] = [await connectClient(t, url), await connectClient(t, url)]
    await joinRoom(bob, await createRoom(alice, 'alice'), 'bob')
    const relayed = new Promise<unknown[]>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no signal within 5 s')), 5000)
      raw(bob).once('signal', (...args: unknown[]) => {
        clearTimeout(timer)
        resolve(args)
      })
    })
    await request(alice, 'signal', { to: bob.id, signal: { type: 'offer', sdp: 'v=0' } })
    const args = await relayed
    t.same(args[0], { from: alice.id, signal: { type: 'offer', sdp: 'v=0' } })
    t.equal(typeof args.at(-1) === 'string', offset, offset ? 'the offset comes last' : 'no offset')
  }
})

t.test('the floor refuses a recovery grace without its heartbeat, and a grace that is not a number', async (t) => {
  const refused: Array<Record<string, string>> = [{ RECONNECT_GRACE_MS: '20000' }, { ...OURS_RECOVERY, RECONNECT_GRACE_MS: 'soon' }]
  for (const env of refused) {
    const floor = startServerProcess(env, { script: FLOOR })
    t.teardown(() => floor.child.kill('SIGKILL'))
    await t.rejects(floor.url, /server exited with 1 before listening/, JSON.stringify(env))
  }
})
