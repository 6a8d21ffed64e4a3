/** Percentiles and medians of the bench's samples, and one result from several rounds. */
import type { ScenarioResult } from './results.js'

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN
  const sorted = Float64Array.from(values).sort()
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

export function median(values: number[]): number {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b)
  if (sorted.length === 0) return NaN
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

/** One result from several rounds of the same scenario: the median of each figure, the worst failure counts. */
export function combine(rounds: ScenarioResult[]): ScenarioResult {
  if (rounds.length === 1) return rounds[0]!
  const pick = (f: (r: ScenarioResult) => number | undefined): number | undefined =>
    rounds[0] && f(rounds[0]) === undefined ? undefined : median(rounds.map((r) => f(r)!))
  return {
    name: rounds[0]!.name,
    sockets: rounds[0]!.sockets,
    seated: Math.min(...rounds.map((r) => r.seated)),
    failedJoins: Math.max(...rounds.map((r) => r.failedJoins)),
    joinP50: pick((r) => r.joinP50)!,
    joinP99: pick((r) => r.joinP99)!,
    rssPerSocketBytes: pick((r) => r.rssPerSocketBytes),
    rates: rounds[0]!.rates.map((point, i) => ({
      rate: point.rate,
      relayP50: pick((r) => r.rates[i]!.relayP50)!,
      relayP99: pick((r) => r.rates[i]!.relayP99)!,
      sent: pick((r) => r.rates[i]!.sent)!,
      lost: Math.max(...rounds.map((r) => r.rates[i]!.lost)),
      failed: Math.max(...rounds.map((r) => r.rates[i]!.failed)),
      cpuMicrosPerSignal: pick((r) => r.rates[i]!.cpuMicrosPerSignal),
      writesPerSignal: pick((r) => r.rates[i]!.writesPerSignal),
      faultsPerSignal: pick((r) => r.rates[i]!.faultsPerSignal)
    })),
    rounds
  }
}

