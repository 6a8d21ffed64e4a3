/** The results side by side, with ours against the floor. */
import { RATES } from './options.js'
import type { ScenarioResult } from './results.js'

function ratio(ours?: number, floor?: number): string {
  return ours === undefined || floor === undefined || !Number.isFinite(ours) || !floor ? '' : `${(ours / floor).toFixed(2)}×`
}

/** Prints every figure of every scenario, a row each, with ours / floor. */
export function printTable(results: ScenarioResult[]): void {
  const [ours, floor] = [results.find((r) => r.name === 'ours'), results.find((r) => r.name === 'floor')]
  const rows: string[][] = [['metric', ...results.map((r) => r.name), 'ours / floor']]
  const add = (label: string, pick: (r: ScenarioResult) => number | undefined, digits = 2) =>
    rows.push([label, ...results.map((r) => pick(r)?.toFixed(digits) ?? '–'), ratio(ours && pick(ours), floor && pick(floor))])
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
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)))
  for (const row of rows) console.log(row.map((cell, c) => cell.padEnd(widths[c]!)).join('  '))

}
