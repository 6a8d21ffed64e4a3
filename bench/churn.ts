/**
 * The churn profile: rooms created, negotiated and ended continuously, and what the server's
 * resident memory does meanwhile and after (peak, each round's peak, and idle once everyone left
 * and the recovery log emptied).
 */
import { Worker } from 'node:worker_threads'
import type { ChurnReport, ChurnSetup } from './churn-worker.js'
import { rssBytes } from './proc-stats.js'
import type { Running } from './servers.js'

export interface ChurnResult {
  name: string
  /** Resident memory right after boot, before any socket. */
  bootRss: number
  peakRss: number
  /** The peak of each round of `roundMs`, in order: growth round over round shows here. */
  roundPeaks: number[]
  /** Once every socket left and the recovery log gave back its chunks. */
  idleRss: number
  sockets: number
  rooms: number
  failed: number
  endedBy: ChurnReport['endedBy']
  /** Ours: where the memory sat, at its highest and once idle (from /metrics). */
  heap?: { peak: HeapSample; idle: HeapSample }
}

/** V8's heap, memory outside it, and the recovery log's bytes (all in bytes). */
export interface HeapSample {
  heapTotal: number
  heapUsed: number
  external: number
  recoveryLog: number
}
const HEAP_METRICS = {
  heapTotal: 'nodejs_heap_size_total_bytes',
  heapUsed: 'nodejs_heap_size_used_bytes',
  external: 'nodejs_external_memory_bytes',
  recoveryLog: 'signaling_recovery_log_bytes'
} as const

async function heapSample(server: Running): Promise<HeapSample | undefined> {
  const text = await metricsText(server)
  if (text === undefined) return undefined
  return Object.fromEntries(Object.entries(HEAP_METRICS).map(([key, name]) => [key, valueIn(text, name)])) as unknown as HeapSample
}

const SAMPLE_MS = 250
const wait = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** The server's metrics text (ours only): undefined for the floor. */
async function metricsText(server: Running): Promise<string | undefined> {
  return server.metricsUrl === undefined ? undefined : (await fetch(server.metricsUrl)).text()
}

/** An unlabelled metric's value in that text (NaN when absent). */
function valueIn(text: string, name: string): number {
  return Number(text.split('\n').find((l) => l.startsWith(`${name} `))?.split(' ')[1] ?? NaN)
}

export async function churn(name: string, server: Running, { lanes, durationMs, roundMs, workers, roomsPerSecond }: { lanes: number; durationMs: number; roundMs: number; workers: number; roomsPerSecond: number }): Promise<ChurnResult> {
  const pid = server.child!.pid!
  await wait(2000)
  const bootRss = rssBytes(pid)
  const roundPeaks: number[] = []
  let peakRss = bootRss
  let roundStart = Date.now()
  let roundPeak = 0
  const sampler = setInterval(() => {
    const rss = rssBytes(pid)
    peakRss = Math.max(peakRss, rss)
    roundPeak = Math.max(roundPeak, rss)
    if (Date.now() - roundStart >= roundMs) {
      roundPeaks.push(roundPeak)
      roundPeak = 0
      roundStart = Date.now()
    }
  }, SAMPLE_MS)
  // Each figure's own highest over the run, sampled once a second.
  let heapPeak: HeapSample | undefined
  const heapSampler = setInterval(() => {
    void heapSample(server).then((sample) => {
      if (sample === undefined) return
      const last = heapPeak ?? sample
      heapPeak = {
        heapTotal: Math.max(last.heapTotal, sample.heapTotal),
        heapUsed: Math.max(last.heapUsed, sample.heapUsed),
        external: Math.max(last.external, sample.external),
        recoveryLog: Math.max(last.recoveryLog, sample.recoveryLog)
      }
    }, () => {})
  }, 1000)
  const threads = Array.from({ length: workers }, (_, w) => {
    const share = Math.floor(lanes / workers) + (w < lanes % workers ? 1 : 0)
    const roomIntervalMs = roomsPerSecond > 0 ? (lanes / roomsPerSecond) * 1000 : 0
    // Paced lanes start spread evenly over the interval, the threads' lanes interleaved.
    const startOffsetsMs = Array.from({ length: share }, (_, lane) => (((lane * workers + w) % lanes) / lanes) * roomIntervalMs)
    const setup: ChurnSetup = { urls: [server.url], lanes: share, durationMs, firstLane: w * lanes, roomIntervalMs, startOffsetsMs }
    return new Worker(new URL('./churn-worker.js', import.meta.url), { workerData: setup })
  })
  const reports = await Promise.all(threads.map((thread) => new Promise<ChurnReport>((resolve) => thread.once('message', resolve))))
  await Promise.all(threads.map((thread) => thread.terminate()))
  clearInterval(sampler)
  clearInterval(heapSampler)
  if (roundPeak > 0) roundPeaks.push(roundPeak)
  console.error(`${name}: churn over; waiting for the sockets to go and the recovery log to empty`)
  // Dropped transports keep their seats for the grace window, and the log its packets for the
  // retention; then spares go after 30 s. Ours says when: the floor has nothing to wait for.
  const deadline = Date.now() + 180_000
  while (Date.now() < deadline) {
    // The floor has no metrics, and nothing to wait for.
    const text = await metricsText(server)
    if (text === undefined || ['signaling_connected_sockets', 'signaling_recovery_log_bytes', 'signaling_recovery_log_packets'].every((name) => valueIn(text, name) === 0)) break
    await wait(1000)
  }
  // Resident memory settles as V8 collects what the departed sockets left: the lowest of 10 s.
  let idleRss = Infinity
  for (let i = 0; i < 40; i++, await wait(SAMPLE_MS)) idleRss = Math.min(idleRss, rssBytes(pid))
  const heapIdle = await heapSample(server)
  const sum = (pick: (report: ChurnReport) => number): number => reports.reduce((total, report) => total + pick(report), 0)
  return {
    name,
    bootRss,
    peakRss,
    roundPeaks,
    idleRss,
    sockets: sum((r) => r.sockets),
    rooms: sum((r) => r.rooms),
    failed: sum((r) => r.failed),
    heap: heapPeak && heapIdle && { peak: heapPeak, idle: heapIdle },
    endedBy: { leave: sum((r) => r.endedBy.leave), disconnect: sum((r) => r.endedBy.disconnect), drop: sum((r) => r.endedBy.drop) }
  }
}
