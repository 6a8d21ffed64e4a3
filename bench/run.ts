/**
 * `npm run bench`: one load profile against this server and, in the same run, against a bare
 * Socket.IO relay of the same protocol (the floor), printed side by side.
 *
 *   --sockets N      sockets, in rooms of four (default 10000)
 *   --rates a,b,c    signals per second for the relay phases (default 1000,2500,5000,7500)
 *   --duration S     seconds per relay phase (default 10)
 *   --workers W      load-generating threads (default 2)
 *   --url URL        measure a server already running there (no floor, no CPU/RSS figures)
 *   --json FILE      write the results as JSON;  --svg FILE  write the latency chart
 *   --only ours|floor
 *   --repeat K       measure ours and the floor K times, alternating, and report the median of each
 *                    figure (the worst for failures): CPU time on a shared VM drifts between runs
 *   --server-env K=V  a setting for our server (repeatable)
 *   --floor-node-flags "F"  Node flags for the floor (ours always gets npm start's), to compare
 *                    like for like
 *   --server-cpus L  run the servers on these CPUs (a taskset list, e.g. 0) and the load on the
 *                    others, so that latency measures the server rather than CPU contention
 *   --from-json FILE  print the table (and --svg) of an earlier run instead of running
 * With REDIS_URL set it also runs the profile across two instances sharing that Redis and
 * reports the cross-instance relay latency.
 */
import { execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { svgChart } from './chart.js'
import { Load } from './load.js'
import { args, DURATION_MS, RATES, REPEAT, SERVER_CPUS, SOCKETS, WORKERS } from './options.js'
import { cpuMicros, rssBytes, writeCalls } from './proc-stats.js'
import type { RatePoint, ScenarioResult } from './results.js'
import { otherCpus, SERVERS, start, stop } from './servers.js'
import { combine, percentile } from './statistics.js'
import { printTable } from './table.js'

async function scenario(name: string, urls: string[], pid?: number): Promise<ScenarioResult> {
  const rssBefore = pid ? rssBytes(pid) : 0
  const load = new Load(urls, SOCKETS)
  const joined = await load.connect()
  const rssAfter = pid ? rssBytes(pid) : 0
  const result: ScenarioResult = {
    name,
    sockets: SOCKETS,
    seated: joined.seated,
    failedJoins: joined.failedJoins,
    joinP50: percentile(joined.joinMs, 50),
    joinP99: percentile(joined.joinMs, 99),
    rssPerSocketBytes: pid ? (rssAfter - rssBefore) / Math.max(1, joined.seated) : undefined,
    rates: []
  }
  console.error(`${name}: ${joined.seated}/${SOCKETS} seated, ${joined.failedJoins} failed joins`)
  for (const rate of RATES) {
    const [cpuBefore, writesBefore] = pid ? [cpuMicros(pid), writeCalls(pid)] : [0, 0]
    const relayed = await load.relay(rate)
    const [cpuAfter, writesAfter] = pid ? [cpuMicros(pid), writeCalls(pid)] : [0, 0]
    const point: RatePoint = {
      rate,
      relayP50: percentile(relayed.latencyMs, 50),
      relayP99: percentile(relayed.latencyMs, 99),
      sent: relayed.sent,
      failed: relayed.failed,
      lost: relayed.sent - relayed.failed - relayed.received,
      cpuMicrosPerSignal: pid ? (cpuAfter - cpuBefore) / Math.max(1, relayed.received) : undefined,
      writesPerSignal: pid ? (writesAfter - writesBefore) / Math.max(1, relayed.received) : undefined
    }
    result.rates.push(point)
    console.error(`${name} @ ${rate}/s: p50 ${point.relayP50.toFixed(2)} ms, p99 ${point.relayP99.toFixed(2)} ms, lost ${point.lost}, failed ${point.failed}`)
  }
  await load.close()
  return result
}

async function measure(kind: keyof typeof SERVERS): Promise<ScenarioResult> {
  const server = await start(kind)
  try {
    return await scenario(kind, [server.url], server.child!.pid)
  } finally {
    await stop(server)
  }
}

async function crossInstance(redisUrl: string): Promise<ScenarioResult> {
  const env = { REDIS_URL: redisUrl, REDIS_KEY_PREFIX: `signaling-bench:${process.pid}:` }
  const [a, b] = [await start('ours', env), await start('ours', env)]
  try {
    return await scenario('ours, two instances (Redis)', [a.url, b.url])
  } finally {
    await Promise.all([stop(a), stop(b)])
  }
}

async function main(): Promise<void> {
  if (!args['from-json']) console.error(`bench: ${SOCKETS} sockets, rates ${RATES.join(', ')}/s for ${DURATION_MS / 1000} s each, ${WORKERS} load threads, ${cpus().length} cores, ${REPEAT} round(s)`)
  if (SERVER_CPUS !== undefined && !args['from-json']) {
    // Every thread of this process (the load workers start later and inherit it) off the servers' CPUs.
    execFileSync('taskset', ['-a', '-p', '-c', otherCpus(SERVER_CPUS), String(process.pid)], { stdio: 'ignore' })
    console.error(`servers on CPU ${SERVER_CPUS}, load on CPU ${otherCpus(SERVER_CPUS)}`)
  }
  const results: ScenarioResult[] = []
  if (args['from-json']) {
    results.push(...(JSON.parse(readFileSync(args['from-json'], 'utf8')) as { results: ScenarioResult[] }).results)
  } else if (args.url) {
    results.push(await scenario(args.url, [args.url]))
  } else {
    const rounds: Record<keyof typeof SERVERS, ScenarioResult[]> = { ours: [], floor: [] }
    for (let round = 0; round < REPEAT; round++) {
      if (args.only !== 'floor') rounds.ours.push(await measure('ours'))
      if (args.only !== 'ours') rounds.floor.push(await measure('floor'))
    }
    for (const kind of ['ours', 'floor'] as const) if (rounds[kind].length > 0) results.push(combine(rounds[kind]))
    if (process.env.REDIS_URL && !args.only) results.push(await crossInstance(process.env.REDIS_URL))
  }

  printTable(results)

  if (args.json) writeFileSync(args.json, JSON.stringify({ date: new Date().toISOString(), sockets: SOCKETS, rates: RATES, durationMs: DURATION_MS, results }, null, 2) + '\n')
  if (args.svg) writeFileSync(args.svg, svgChart(results))
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err)
    process.exit(1)
  }
)
