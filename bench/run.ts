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
 *   --floor-recovery  the floor with Socket.IO's own connection state recovery, on ours' grace and
 *                    heartbeat (--server-env's values of them, else ours' defaults)
 *   --server-cpus L  run the servers on these CPUs (a taskset list, e.g. 0) and the load on the
 *                    others, so that latency measures the server rather than CPU contention
 *   --from-json FILE  print the table (and --svg) of an earlier run instead of running
 *   --profile relay|churn|ceiling  what to measure (default relay, the above):
 *     churn    rooms created, negotiated and ended continuously for --duration seconds, --lanes
 *              of them at once (default 40): peak RSS, each --round's peak (30 s), idle RSS after;
 *              --rooms-per-second N paces them (the issue's soak: 55,200 sockets in 120 s is 115),
 *              so that the work does not grow with the server's speed
 *     ceiling  sockets added --step at a time (default 1000) up to --sockets, until RSS passes
 *              --max-rss-mb (default 400): the most held under it
 * With REDIS_URL set, relay also runs one instance and two instances sharing that Redis, and
 * reports the cross-instance relay latency, both instances' CPU, and Redis's commands and CPU
 * per signal (from INFO commandstats and INFO cpu).
 */
import { execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { ceiling, type CeilingResult } from './ceiling.js'
import { svgChart } from './chart.js'
import { churn, type ChurnResult } from './churn.js'
import { Load } from './load.js'
import { args, DURATION_MS, PROFILE, RATES, REPEAT, SERVER_CPUS, SOCKETS, WORKERS } from './options.js'
import { cpuMicros, minorFaults, rssBytes, writeCalls } from './proc-stats.js'
import { commandsBetween, redisSnapshot } from './redis-stats.js'
import type { RatePoint, ScenarioResult } from './results.js'
import { FLOOR_RECOVERY_ENV, otherCpus, SERVERS, start, stop, type Running } from './servers.js'
import { combine, percentile } from './statistics.js'
import { printChurn, printCeiling, printTable } from './table.js'

const sum = (values: number[]): number => values.reduce((total, value) => total + value, 0)

/** The relay profile against servers already running: `pids` for CPU and RSS (all summed), `redisUrl` for Redis's figures. */
async function scenario(name: string, urls: string[], pids: number[] = [], redisUrl?: string): Promise<ScenarioResult> {
  const rssBefore = sum(pids.map(rssBytes))
  const load = new Load(urls, SOCKETS)
  const joined = await load.connect()
  const rssAfter = sum(pids.map(rssBytes))
  const result: ScenarioResult = {
    name,
    sockets: SOCKETS,
    seated: joined.seated,
    failedJoins: joined.failedJoins,
    joinP50: percentile(joined.joinMs, 50),
    joinP99: percentile(joined.joinMs, 99),
    rssPerSocketBytes: pids.length > 0 ? (rssAfter - rssBefore) / Math.max(1, joined.seated) : undefined,
    rates: []
  }
  console.error(`${name}: ${joined.seated}/${SOCKETS} seated, ${joined.failedJoins} failed joins`)
  for (const rate of RATES) {
    const [cpuBefore, writesBefore, faultsBefore] = [sum(pids.map(cpuMicros)), sum(pids.map(writeCalls)), sum(pids.map(minorFaults))]
    const redisBefore = redisUrl === undefined ? undefined : await redisSnapshot(redisUrl)
    const relayed = await load.relay(rate)
    const [cpuAfter, writesAfter, faultsAfter] = [sum(pids.map(cpuMicros)), sum(pids.map(writeCalls)), sum(pids.map(minorFaults))]
    const redisAfter = redisUrl === undefined ? undefined : await redisSnapshot(redisUrl)
    const signals = Math.max(1, relayed.received)
    const point: RatePoint = {
      rate,
      relayP50: percentile(relayed.latencyMs, 50),
      relayP99: percentile(relayed.latencyMs, 99),
      sent: relayed.sent,
      failed: relayed.failed,
      lost: relayed.sent - relayed.failed - relayed.received,
      cpuMicrosPerSignal: pids.length > 0 ? (cpuAfter - cpuBefore) / signals : undefined,
      writesPerSignal: pids.length > 0 ? (writesAfter - writesBefore) / signals : undefined,
      faultsPerSignal: pids.length > 0 ? (faultsAfter - faultsBefore) / signals : undefined
    }
    if (redisBefore !== undefined && redisAfter !== undefined) {
      const commands = commandsBetween(redisBefore, redisAfter)
      point.redisCommandsBySignal = Object.fromEntries(Object.entries(commands).map(([command, calls]) => [command, calls / signals]))
      point.redisCommandsPerSignal = sum(Object.values(commands)) / signals
      point.redisCpuMicrosPerSignal = ((redisAfter.cpuSeconds - redisBefore.cpuSeconds) * 1e6) / signals
    }
    result.rates.push(point)
    console.error(`${name} @ ${rate}/s: p50 ${point.relayP50.toFixed(2)} ms, p99 ${point.relayP99.toFixed(2)} ms, lost ${point.lost}, failed ${point.failed}`)
  }
  await load.close()
  return result
}

/** Starts `kind` (with `env`), runs `run` against it, and stops it. */
async function against<T>(kind: keyof typeof SERVERS, run: (server: Running) => Promise<T>, env: Record<string, string> = {}): Promise<T> {
  const server = await start(kind, env)
  try {
    return await run(server)
  } finally {
    await stop(server)
  }
}

/** Ours through Redis: one instance (every signal local), then two (every signal crosses). */
async function throughRedis(redisUrl: string): Promise<ScenarioResult[]> {
  const env = (instance: string) => ({ REDIS_URL: redisUrl, REDIS_KEY_PREFIX: `signaling-bench:${process.pid}:${instance}:` })
  const one = await against('ours', (server) => scenario('ours, one instance (Redis)', [server.url], [server.child!.pid!], redisUrl), env('one'))
  const [a, b] = [await start('ours', env('two')), await start('ours', env('two'))]
  try {
    return [one, await scenario('ours, two instances (Redis)', [a.url, b.url], [a.child!.pid!, b.child!.pid!], redisUrl)]
  } finally {
    await Promise.all([stop(a), stop(b)])
  }
}

async function relayProfile(): Promise<ScenarioResult[]> {
  const results: ScenarioResult[] = []
  if (args.url) return [await scenario(args.url, [args.url])]
  const rounds: Record<keyof typeof SERVERS, ScenarioResult[]> = { ours: [], floor: [] }
  for (let round = 0; round < REPEAT; round++) {
    for (const kind of ['ours', 'floor'] as const) {
      if (args.only !== undefined && args.only !== kind) continue
      rounds[kind].push(await against(kind, (server) => scenario(kind, [server.url], [server.child!.pid!])))
    }
  }
  for (const kind of ['ours', 'floor'] as const) if (rounds[kind].length > 0) results.push(combine(rounds[kind]))
  if (process.env.REDIS_URL && !args.only) results.push(...(await throughRedis(process.env.REDIS_URL)))
  return results
}

/** A relay report as --json writes it. */
interface RelayReport {
  results: ScenarioResult[]
  floorRecovery?: Record<string, string>
}

/**
 * What every JSON report starts with: when, and the floor's recovery settings if it had any (an
 * `earlier` report's, when --from-json rewrites one: they describe its run, not this command).
 */
function reportHeader(earlier?: RelayReport): { date: string; floorRecovery?: Record<string, string> } {
  return { date: new Date().toISOString(), floorRecovery: earlier === undefined ? FLOOR_RECOVERY_ENV : earlier.floorRecovery }
}

async function main(): Promise<void> {
  if (SERVER_CPUS !== undefined && !args['from-json']) {
    // Every thread of this process (the load workers start later and inherit it) off the servers' CPUs.
    execFileSync('taskset', ['-a', '-p', '-c', otherCpus(SERVER_CPUS), String(process.pid)], { stdio: 'ignore' })
    console.error(`servers on CPU ${SERVER_CPUS}, load on CPU ${otherCpus(SERVER_CPUS)}`)
  }
  const kinds = (['ours', 'floor'] as const).filter((kind) => args.only === undefined || args.only === kind)
  if (PROFILE === 'churn') {
    const options = { lanes: Number(args.lanes), durationMs: DURATION_MS, roundMs: Number(args.round) * 1000, workers: WORKERS, roomsPerSecond: Number(args['rooms-per-second']) }
    if (!(options.roomsPerSecond >= 0)) throw new Error(`--rooms-per-second must be a number from 0, not ${args['rooms-per-second']}`)
    const pace = options.roomsPerSecond > 0 ? `, at most ${options.roomsPerSecond} rooms/s` : ''
    console.error(`bench churn: ${options.lanes} rooms at a time for ${DURATION_MS / 1000} s${pace}, ${WORKERS} load threads, ${cpus().length} cores`)
    const results: ChurnResult[] = []
    for (const kind of kinds) results.push(await against(kind, (server) => churn(kind, server, options)))
    printChurn(results)
    if (args.json) writeFileSync(args.json, JSON.stringify({ ...reportHeader(), profile: PROFILE, ...options, results }, null, 2) + '\n')
    return
  }
  if (PROFILE === 'ceiling') {
    const options = { limitBytes: Number(args['max-rss-mb']) * 1048576, stepSockets: Number(args.step), maxSockets: SOCKETS }
    console.error(`bench ceiling: sockets ${options.stepSockets} at a time up to ${SOCKETS}, until RSS passes ${args['max-rss-mb']} MB`)
    const results: CeilingResult[] = []
    for (const kind of kinds) results.push(await against(kind, (server) => ceiling(kind, server, options)))
    printCeiling(results)
    if (args.json) writeFileSync(args.json, JSON.stringify({ ...reportHeader(), profile: PROFILE, ...options, results }, null, 2) + '\n')
    return
  }
  if (!args['from-json']) console.error(`bench: ${SOCKETS} sockets, rates ${RATES.join(', ')}/s for ${DURATION_MS / 1000} s each, ${WORKERS} load threads, ${cpus().length} cores, ${REPEAT} round(s)`)
  const earlier = args['from-json'] ? (JSON.parse(readFileSync(args['from-json'], 'utf8')) as RelayReport) : undefined
  const results = earlier?.results ?? (await relayProfile())
  printTable(results)
  if (args.json) writeFileSync(args.json, JSON.stringify({ ...reportHeader(earlier), sockets: SOCKETS, rates: RATES, durationMs: DURATION_MS, results }, null, 2) + '\n')
  if (args.svg) writeFileSync(args.svg, svgChart(results))
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err)
    process.exit(1)
  }
)
