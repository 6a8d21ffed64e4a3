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
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import { Worker } from 'node:worker_threads'
import type { ConnectReport, RelayReport, WorkerCommand, WorkerSetup } from './load-worker.js'
import { startScriptNodeFlags } from './shipped-node-flags.js'

const { values: args } = parseArgs({
  options: {
    sockets: { type: 'string', default: '10000' },
    rates: { type: 'string', default: '1000,2500,5000,7500' },
    duration: { type: 'string', default: '10' },
    workers: { type: 'string', default: '2' },
    url: { type: 'string' },
    json: { type: 'string' },
    svg: { type: 'string' },
    only: { type: 'string' },
    repeat: { type: 'string', default: '1' },
    'server-env': { type: 'string', multiple: true, default: [] },
    'server-cpus': { type: 'string' },
    'floor-node-flags': { type: 'string', default: '' },
    'from-json': { type: 'string' }
  }
})
/** Extra settings for our server, `--server-env RECONNECT_GRACE_MS=0`: to measure what a feature costs. */
const SERVER_ENV = Object.fromEntries(
  (args['server-env']).map((pair) => {
    const equals = pair.indexOf('=')
    if (equals < 1) throw new Error(`--server-env takes KEY=VALUE, not ${pair}`)
    return [pair.slice(0, equals), pair.slice(equals + 1)]
  })
)
const SOCKETS = Number(args.sockets)
const RATES = args.rates.split(',').map(Number)
const DURATION_MS = Number(args.duration) * 1000
const WORKERS = Number(args.workers)
const REPEAT = Number(args.repeat)
if (!Number.isInteger(REPEAT) || REPEAT < 1) throw new Error(`--repeat must be a whole number from 1, not ${args.repeat}`)
const CLOCK_TICKS_PER_SECOND = 100 // Linux USER_HZ
const SERVER_CPUS = args['server-cpus']

const ROOT = new URL('../../', import.meta.url)
const SERVERS = {
  ours: new URL('dist/server.js', ROOT).pathname,
  floor: new URL('dist-bench/bench/bare-server.js', ROOT).pathname
}

interface Running {
  url: string
  child?: ChildProcess
}

/** The CPUs of this machine not in a taskset list such as `0` or `0-1,3`. */
function otherCpus(list: string): string {
  const taken = new Set(
    list.split(',').flatMap((part) => {
      const [from, to = from] = part.split('-').map(Number) as [number, number?]
      if (!Number.isInteger(from) || !Number.isInteger(to)) throw new Error(`--server-cpus takes CPUs and ranges such as 0 or 0-1,3, not ${list}`)
      return Array.from({ length: to - from + 1 }, (_, i) => from + i)
    })
  )
  const rest = cpus().map((_, i) => i).filter((cpu) => !taken.has(cpu))
  if (rest.length === 0) throw new Error(`--server-cpus ${list} leaves no CPU for the load`)
  return rest.join(',')
}

/**
 * The Node flags `npm start` runs our server with (the Dockerfile's too), so the bench measures it
 * as shipped. The floor runs with none unless --floor-node-flags: a hand-rolled Socket.IO file is
 * started with plain `node`.
 */
function shippedNodeFlags(): string[] {
  const { scripts } = JSON.parse(readFileSync(new URL('package.json', ROOT), 'utf8')) as { scripts: { start: string } }
  return startScriptNodeFlags(scripts.start)
}
const NODE_FLAGS = { ours: shippedNodeFlags(), floor: args['floor-node-flags'].split(' ').filter(Boolean) }

function start(kind: keyof typeof SERVERS, env: Record<string, string> = {}): Promise<Running> {
  const node = [process.execPath, ...NODE_FLAGS[kind], SERVERS[kind]]
  const [command, argv] = SERVER_CPUS === undefined ? [node[0]!, node.slice(1)] : ['taskset', ['-c', SERVER_CPUS, ...node]]
  const child = spawn(command, argv, {
    env: { PATH: process.env.PATH, HOST: '127.0.0.1', PORT: '0', METRICS_PORT: '0', LOG_LEVEL: 'info', ...(kind === 'ours' ? SERVER_ENV : {}), ...env },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const match = /listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(line)
      if (match) resolve({ url: match[1]!, child })
    })
    child.once('exit', (code) => reject(new Error(`${kind} server exited with ${code}`)))
  })
}

async function stop(running: Running): Promise<void> {
  if (!running.child || running.child.exitCode !== null) return
  const exited = new Promise((resolve) => running.child!.once('exit', resolve))
  running.child.kill('SIGKILL')
  await exited
}

/** CPU time (user + system) the process has used, in microseconds, from /proc. */
function cpuMicros(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS_PER_SECOND
}

/** Write system calls the process has made (each socket write is one writev), from /proc. */
function writeCalls(pid: number): number {
  return Number(/syscw: (\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))![1])
}

function rssBytes(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'))!
  return Number(line.split(/\s+/)[1]) * 1024
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN
  const sorted = Float64Array.from(values).sort()
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

class Load {
  private readonly workers: Worker[] = []

  constructor(urls: string[], sockets: number) {
    const rooms = Math.floor(sockets / 4)
    let first = 0
    for (let w = 0; w < WORKERS; w++) {
      const share = Math.floor(rooms / WORKERS) + (w < rooms % WORKERS ? 1 : 0)
      const setup: WorkerSetup = { urls, rooms: share, firstRoom: first }
      first += share
      this.workers.push(new Worker(new URL('./load-worker.js', import.meta.url), { workerData: setup }))
    }
  }

  private ask<T>(command: WorkerCommand): Promise<T[]> {
    return Promise.all(
      this.workers.map(
        (worker) =>
          new Promise<T>((resolve) => {
            worker.once('message', resolve)
            worker.postMessage(command)
          })
      )
    )
  }

  async connect(): Promise<ConnectReport> {
    const reports = await this.ask<ConnectReport>({ cmd: 'connect' })
    return {
      joinMs: reports.flatMap((r) => r.joinMs),
      failedJoins: reports.reduce((sum, r) => sum + r.failedJoins, 0),
      seated: reports.reduce((sum, r) => sum + r.seated, 0)
    }
  }

  async relay(rate: number): Promise<RelayReport> {
    const reports = await this.ask<RelayReport>({ cmd: 'relay', rate: rate / WORKERS, durationMs: DURATION_MS })
    return {
      latencyMs: reports.flatMap((r) => r.latencyMs),
      sent: reports.reduce((sum, r) => sum + r.sent, 0),
      failed: reports.reduce((sum, r) => sum + r.failed, 0),
      received: reports.reduce((sum, r) => sum + r.received, 0)
    }
  }

  async close(): Promise<void> {
    await this.ask({ cmd: 'close' })
    await Promise.all(this.workers.map((worker) => worker.terminate()))
  }
}

interface RatePoint {
  rate: number
  relayP50: number
  relayP99: number
  sent: number
  lost: number
  failed: number
  cpuMicrosPerSignal?: number
  /**
   * Server write calls per signal: at most 2 (the ack and the relay; under load Node may batch
   * them) plus pings and keepalives, over the phase and its drain. An exact count, unlike CPU time.
   */
  writesPerSignal?: number
}

interface ScenarioResult {
  name: string
  sockets: number
  seated: number
  failedJoins: number
  joinP50: number
  joinP99: number
  rssPerSocketBytes?: number
  rates: RatePoint[]
  /** With --repeat: each round's own figures, of which this result is the median. */
  rounds?: ScenarioResult[]
}

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

function median(values: number[]): number {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b)
  if (sorted.length === 0) return NaN
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

/** One result from several rounds of the same scenario: the median of each figure, the worst failure counts. */
function combine(rounds: ScenarioResult[]): ScenarioResult {
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
      writesPerSignal: pick((r) => r.rates[i]!.writesPerSignal)
    })),
    rounds
  }
}

function svgChart(results: ScenarioResult[]): string {
  const width = 720
  const height = 380
  const pad = { left: 56, right: 230, top: 24, bottom: 44 }
  const rates = results[0]?.rates.map((p) => p.rate) ?? RATES
  const maxRate = Math.max(...rates)
  // Latency on a log scale: p50s sit near 1 ms while saturated p99s reach seconds.
  const decades = [0.1, 1, 10, 100, 1000, 10000]
  const top = decades.find((d) => d >= Math.max(1, ...results.flatMap((r) => r.rates.map((p) => p.relayP99)))) ?? 10000
  const span = Math.log10(top) - Math.log10(0.1)
  const x = (rate: number): number => pad.left + (rate / maxRate) * (width - pad.left - pad.right)
  const y = (ms: number): number =>
    height - pad.bottom - ((Math.log10(Math.max(0.1, ms)) - Math.log10(0.1)) / span) * (height - pad.top - pad.bottom)
  const colors = ['#0b57d0', '#b3261e', '#1e8e3e', '#8430ce']
  const lines = results.flatMap((result, i) =>
    (['relayP50', 'relayP99'] as const).map((key) => {
      const points = result.rates.map((p) => `${x(p.rate).toFixed(1)},${y(p[key]).toFixed(1)}`).join(' ')
      const dash = key === 'relayP50' ? '' : ' stroke-dasharray="5 4"'
      return `<polyline fill="none" stroke="${colors[i % colors.length]}" stroke-width="2"${dash} points="${points}"/>`
    })
  )
  const legend = results.map(
    (result, i) =>
      `<text x="${width - pad.right + 10}" y="${pad.top + 16 + i * 36}" fill="${colors[i % colors.length]}" font-size="12">${result.name}</text>` +
      `<text x="${width - pad.right + 10}" y="${pad.top + 30 + i * 36}" fill="#4a5360" font-size="11">solid p50, dashed p99</text>`
  )
  const ticks = rates.map(
    (rate) => `<text x="${x(rate)}" y="${height - pad.bottom + 16}" text-anchor="middle" font-size="11">${rate}</text>`
  )
  const yTicks = decades.filter((ms) => ms <= top).map((ms) => {
    return `<text x="${pad.left - 6}" y="${y(ms) + 4}" text-anchor="end" font-size="11">${ms}</text>` +
      `<line x1="${pad.left}" x2="${width - pad.right}" y1="${y(ms)}" y2="${y(ms)}" stroke="#e3e6ea"/>`
  })
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="system-ui, sans-serif">
<rect width="100%" height="100%" fill="#fff"/>
${yTicks.join('\n')}
<line x1="${pad.left}" x2="${pad.left}" y1="${pad.top}" y2="${height - pad.bottom}" stroke="#1b1f24"/>
<line x1="${pad.left}" x2="${width - pad.right}" y1="${height - pad.bottom}" y2="${height - pad.bottom}" stroke="#1b1f24"/>
${ticks.join('\n')}
<text x="${(pad.left + width - pad.right) / 2}" y="${height - 8}" text-anchor="middle" font-size="12">signals relayed per second (${SOCKETS} sockets connected)</text>
<text x="14" y="${height / 2}" transform="rotate(-90 14 ${height / 2})" text-anchor="middle" font-size="12">relay latency, ms (log scale)</text>
${lines.join('\n')}
${legend.join('\n')}
</svg>
`
}

function ratio(ours?: number, floor?: number): string {
  return ours === undefined || floor === undefined || !Number.isFinite(ours) || !floor ? '' : `${(ours / floor).toFixed(2)}×`
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
