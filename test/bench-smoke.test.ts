/**
 * The benchmark must keep working: a tiny run (a few hundred sockets, a second per phase) against
 * both servers. Figures are not judged here; `npm run bench` and docs/performance.md do that.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'

const RUN = new URL('../dist-bench/bench/run.js', import.meta.url).pathname

t.test('a tiny bench run reports both servers side by side', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'signaling-bench-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  // Load shedding off, as in every test but its own: on a busy machine it would refuse a join.
  const options = ['--sockets', '200', '--rates', '200', '--duration', '1', '--server-env', 'PRESSURE_MAX_EVENT_LOOP_DELAY_MS=0']
  const child = spawn(process.execPath, [RUN, ...options, '--json', join(dir, 'r.json'), '--svg', join(dir, 'r.svg')], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH }
  })
  let out = ''
  child.stdout.on('data', (chunk: Buffer) => (out += chunk))
  const [code] = await once(child, 'exit')
  t.equal(code, 0)
  t.match(out, /metric\s+ours\s+floor\s+ours \/ floor/)
  t.match(out, /server CPU µs per signal @ 200\/s/)
  const report = JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8'))
  t.same(report.results.map((r: { name: string }) => r.name), ['ours', 'floor'])
  for (const result of report.results) {
    t.equal(result.failedJoins, 0, `${result.name}: every socket seated`)
    t.equal(result.rates[0].lost + result.rates[0].failed, 0, `${result.name}: every signal delivered`)
  }
  t.match(readFileSync(join(dir, 'r.svg'), 'utf8'), /<svg[\s\S]*polyline/)
})
