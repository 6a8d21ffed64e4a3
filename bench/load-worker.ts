/**
 * One load-generating thread: its share of the rooms (four sockets each), the join storm, then
 * paced signals between room members, timing everything with one clock shared by all threads.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { CLOSED, LeanClient } from './lean-client.js'

export interface WorkerSetup {
  /** Members of a room are spread over these instance URLs (one URL: one instance). */
  urls: string[]
  rooms: number
  /** Offset of this worker's rooms, so SDP sizes and names differ between workers. */
  firstRoom: number
}

export type WorkerCommand =
  /** Seats `rooms` more rooms (the setup's count when absent). */
  | { cmd: 'connect'; rooms?: number }
  | { cmd: 'relay'; rate: number; durationMs: number }
  | { cmd: 'close' }

export interface ConnectReport {
  joinMs: number[]
  failedJoins: number
  seated: number
}

export interface RelayReport {
  latencyMs: number[]
  sent: number
  failed: number
  received: number
}

const ROOM_SIZE = 4
const CONNECT_CONCURRENCY = 100
const now = (): number => performance.timeOrigin + performance.now()
const { urls, rooms, firstRoom } = workerData as WorkerSetup

interface Member {
  socket: LeanClient
  id: string
}
const roomMembers: Member[][] = []
let received = 0
let latencies: number[] = []

/** SDP-sized (3–6 KB) and ICE-candidate-sized (~250 B) payload bodies, made once. */
const SDPS = Array.from({ length: 8 }, (_, i) => 'v=0\r\n' + 'a=' + 'x'.repeat(3000 + i * 400) + '\r\n')
const CANDIDATE = 'candidate:842163049 1 udp 1677729535 198.51.100.7 54400 typ srflx raddr 0.0.0.0 rport 0 generation 0 ufrag abcd network-cost 999'.padEnd(230, ' ')

async function connect(url: string): Promise<LeanClient> {
  const socket = await LeanClient.connect(url, 30_000)
  socket.on('signal', ({ signal }) => {
    received++
    // Every signal the bench sends carries its send time.
    latencies.push(now() - (signal as { t: number }).t)
  })
  return socket
}

/** `promise`, or `fallback` once `ms` have passed. */
function within<T>(promise: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<T>((resolve) => (timer = setTimeout(resolve, ms, fallback)))
  return Promise.race([promise, late]).finally(() => clearTimeout(timer))
}

/** A join whose ack takes longer than this counts as failed (one on a closed connection does at once). */
const JOIN_TIMEOUT_MS = 30_000

async function seatRoom(index: number, report: ConnectReport): Promise<void> {
  const sockets: LeanClient[] = []
  try {
    for (let i = 0; i < ROOM_SIZE; i++) sockets.push(await connect(urls[i % urls.length]!))
  } catch {
    report.failedJoins += ROOM_SIZE - sockets.length
    for (const socket of sockets) socket.close()
    return
  }
  const [owner, ...others] = sockets as [LeanClient, ...LeanClient[]]
  let started = now()
  const created = await within(owner.emitWithAck('create-room', { username: `owner-${firstRoom + index}` }), JOIN_TIMEOUT_MS, CLOSED)
  report.joinMs.push(now() - started)
  if (!created.success) {
    report.failedJoins += ROOM_SIZE
    return
  }
  const members: Member[] = [{ socket: owner, id: owner.id }]
  await Promise.all(
    others.map(async (socket, i) => {
      started = now()
      const joined = await within(socket.emitWithAck('join-room', { roomId: created.roomId, username: `member-${i}` }), JOIN_TIMEOUT_MS, CLOSED)
      report.joinMs.push(now() - started)
      if (joined.success) members.push({ socket, id: socket.id })
      else report.failedJoins++
    })
  )
  report.seated += members.length
  roomMembers.push(members)
}

/** Rooms this thread has started seating, over every connect command. */
let started = 0

async function connectAll(count: number): Promise<ConnectReport> {
  const report: ConnectReport = { joinMs: [], failedJoins: 0, seated: 0 }
  const end = started + count
  const lanes = Array.from({ length: Math.min(CONNECT_CONCURRENCY, count) }, async () => {
    while (started < end) await seatRoom(started++, report)
  })
  await Promise.all(lanes)
  return report
}

async function relay(rate: number, durationMs: number): Promise<RelayReport> {
  latencies = []
  received = 0
  const report: RelayReport = { latencyMs: [], sent: 0, failed: 0, received: 0 }
  const usable = roomMembers.filter((members) => members.length >= 2)
  if (usable.length === 0) return report
  const TICK_MS = 10
  const perTick = (rate * TICK_MS) / 1000
  let budget = 0
  let cursor = 0
  let count = 0
  let answered = 0
  let settled = false
  const pending: Array<Promise<void>> = []
  const end = now() + durationMs
  while (now() < end) {
    const tickStart = now()
    budget += perTick
    for (; budget >= 1; budget--) {
      const members = usable[cursor++ % usable.length]!
      const from = members[count % members.length]!
      const to = members[(count + 1) % members.length]!
      // Call set-up: one SDP for every ten ICE candidates.
      const signal = count % 11 === 0
        ? { type: count % 22 === 0 ? 'offer' : 'answer', sdp: SDPS[count % SDPS.length], t: now() }
        : { type: 'candidate', candidate: { candidate: CANDIDATE, sdpMid: '0', sdpMLineIndex: 0 }, t: now() }
      count++
      report.sent++
      pending.push(
        from.socket.emitWithAck('signal', { to: to.id, signal }).then((result) => {
          if (settled) return // too late: already counted as failed
          answered++
          if (!result.success) report.failed++
        })
      )
    }
    const spent = now() - tickStart
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, TICK_MS - spent)))
  }
  // Acks still missing 30 s after the phase count as failed.
  await within(Promise.all(pending), 30_000, [])
  settled = true
  report.failed += report.sent - answered
  // Let the last relayed signals land: past saturation (or through Redis) they trail the acks by
  // seconds, and counting them as lost, or in the next phase, would misreport both.
  const drainUntil = now() + 30_000
  for (let seen = -1; (received !== seen || received < report.sent - report.failed) && now() < drainUntil; ) {
    seen = received
    await new Promise((resolve) => setTimeout(resolve, 1000))
  }
  report.latencyMs = latencies
  report.received = received
  return report
}

parentPort!.on('message', (command: WorkerCommand) => {
  if (command.cmd === 'connect') void connectAll(command.rooms ?? rooms).then((report) => parentPort!.postMessage(report))
  else if (command.cmd === 'relay') void relay(command.rate, command.durationMs).then((report) => parentPort!.postMessage(report))
  else {
    for (const members of roomMembers) for (const { socket } of members) socket.close()
    parentPort!.postMessage({ closed: true })
  }
})
