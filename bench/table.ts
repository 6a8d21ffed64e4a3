/** The results side by side, with ours against the floor. */
import type { CeilingResult } from './ceiling.js'
import type { ChurnResult } from './churn.js'
import { RATES } from './options.js'
import type { ScenarioResult } from './results.js'

function ratio(ours?: number, floor?: number): string {
  return ours === undefined || floor === undefined || !Number.isFinite(ours) || !floor ? '' : `${(ours / floor).toFixed(2)}×`
}

/** Rows of a metric, one column per result and ours / floor last, printed aligned. */
function table<R extends { name: string }>(results: R[], build: (add: (label: string, pick: (r: R) => number | undefined, digits?: number) => void) => void): void {
  const [ours, floor] = [results.find((r) => r.name === 'ours'), results.find((r) => r.name === 'floor')]
  const rows: string[][] = [['metric', ...results.map((r) => r.name), 'ours / floor']]
  build((label, pick, digits = 2) =>
    rows.push([label, ...results.map((r) => pick(r)?.toFixed(digits) ?? '–'), ratio(ours && pick(ours), floor && pick(floor))])
  )
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)))
  for (const row of rows) console.log(row.map((cell, c) => cell.padEnd(widths[c]!)).join('  '))
}

const MB = 1048576

/** Prints every figure of every relay scenario, a row each. */
export function printTable(results: ScenarioResult[]): void {
  table(results, (add) => {
    add('seated sockets', (r) => r.seated, 0)
    add('failed joins', (r) => r.failedJoins, 0)
    add('N held with no failed join (not searched)', (r) => (r.failedJoins === 0 ? r.sockets : undefined), 0)
    add('join p50 (ms)', (r) => r.joinP50)
    add('join p99 (ms)', (r) => r.joinP99)
    add('RSS per socket (KiB)', (r) => (r.rssPerSocketBytes === undefined ? undefined : r.rssPerSocketBytes / 1024), 1)
    for (const rate of results[0]?.rates.map((p) => p.rate) ?? RATES) {
      const at = (r: ScenarioResult) => r.rates.find((p) => p.rate === rate)
      add(`relay p50 @ ${rate}/s (ms)`, (r) => at(r)?.relayP50)
      add(`relay p99 @ ${rate}/s (ms)`, (r) => at(r)?.relayP99)
      add(`lost + failed @ ${rate}/s`, (r) => (at(r) ? at(r)!.lost + at(r)!.failed : undefined), 0)
      add(`server CPU µs per signal @ ${rate}/s`, (r) => at(r)?.cpuMicrosPerSignal, 1)
      add(`server writes per signal @ ${rate}/s`, (r) => at(r)?.writesPerSignal)
      add(`server page faults per signal @ ${rate}/s`, (r) => at(r)?.faultsPerSignal)
      add(`Redis commands per signal @ ${rate}/s`, (r) => at(r)?.redisCommandsPerSignal)
      add(`Redis CPU µs per signal @ ${rate}/s`, (r) => at(r)?.redisCpuMicrosPerSignal, 1)
    }
  })
  for (const result of results) {
    for (const point of result.rates) {
      if (point.redisCommandsBySignal === undefined) continue
      const each = Object.entries(point.redisCommandsBySignal).map(([command, calls]) => `${command} ${calls.toFixed(3)}`).join(', ')
      console.log(`${result.name} @ ${point.rate}/s, Redis commands per signal: ${each}`)
    }
  }
}

export function printChurn(results: ChurnResult[]): void {
  table(results, (add) => {
    add('sockets in all', (r) => r.sockets, 0)
    add('rooms in all', (r) => r.rooms, 0)
    add('failed rooms', (r) => r.failed, 0)
    add('RSS after boot (MB)', (r) => r.bootRss / MB, 1)
    add('peak RSS (MB)', (r) => r.peakRss / MB, 1)
    add('idle RSS after (MB)', (r) => r.idleRss / MB, 1)
    add('idle after / after boot', (r) => r.idleRss / r.bootRss)
    const rounds = Math.max(...results.map((r) => r.roundPeaks.length))
    for (let i = 0; i < rounds; i++) add(`round ${i + 1} peak RSS (MB)`, (r) => (r.roundPeaks[i] === undefined ? undefined : r.roundPeaks[i]! / MB), 1)
    for (const when of ['peak', 'idle'] as const) {
      add(`${when}: V8 heap total (MB)`, (r) => r.heap && r.heap[when].heapTotal / MB, 1)
      add(`${when}: V8 heap used (MB)`, (r) => r.heap && r.heap[when].heapUsed / MB, 1)
      add(`${when}: external (MB)`, (r) => r.heap && r.heap[when].external / MB, 1)
      add(`${when}: recovery log (MB)`, (r) => r.heap && r.heap[when].recoveryLog / MB, 1)
    }
  })
}

export function printCeiling(results: CeilingResult[]): void {
  table(results, (add) => {
    add(`sockets held under ${(results[0]?.limitBytes ?? 0) / MB} MB RSS`, (r) => r.held, 0)
    add('RSS there (MB)', (r) => (r.steps.find((step) => step.sockets === r.held)?.rss ?? NaN) / MB, 1)
  })
}
