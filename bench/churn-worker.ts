/**
 * One churn thread: lanes of rooms, each created, filled with four members, negotiated as a call
 * is (an offer and an answer per pair, 3.6 KB SDPs, a few candidates, camera toggles, a user list)
 * and ended, by turns, by a leave, a clean disconnect or a dropped transport; then the next room.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { LeanClient } from './lean-client.js'

export interface ChurnSetup {
  urls: string[]
  /** Rooms alive at once in this thread. */
  lanes: number
  durationMs: number
  /** Offset of this thread's lanes, so names differ between threads. */
  firstLane: number
  /** Each lane starts a room at most this often (ms): the load then no longer follows the server's
   * speed, so that two servers (or two versions) get the same work. 0: as fast as rooms end. */
  roomIntervalMs: number
  /** When in the interval each of this thread's lanes starts its rooms (ms). */
  startOffsetsMs: number[]
}

export interface ChurnReport {
  sockets: number
  rooms: number
  failed: number
  endedBy: { leave: number; disconnect: number; drop: number }
}

const ROOM_SIZE = 4
const CANDIDATES_PER_SIDE = 3
const { urls, lanes, durationMs, firstLane, roomIntervalMs, startOffsetsMs } = workerData as ChurnSetup
const SDP = 'v=0\r\n' + 'a=x-churn:' + 'x'.repeat(3600) + '\r\n'
const CANDIDATE = { candidate: 'candidate:842163049 1 udp 1677729535 198.51.100.7 54400 typ srflx raddr 0.0.0.0 rport 0 generation 0', sdpMid: '0', sdpMLineIndex: 0 }
const report: ChurnReport = { sockets: 0, rooms: 0, failed: 0, endedBy: { leave: 0, disconnect: 0, drop: 0 } }

async function oneRoom(lane: number, round: number): Promise<void> {
  const members: LeanClient[] = []
  try {
    for (let i = 0; i < ROOM_SIZE; i++) members.push(await LeanClient.connect(urls[i % urls.length]!, 30_000))
    report.sockets += members.length
    const [owner, ...others] = members as [LeanClient, ...LeanClient[]]
    const created = await owner.emitWithAck('create-room', { username: `churn-${firstLane + lane}` })
    if (!created.success) throw new Error('create-room failed')
    const joined = await Promise.all(others.map((member, i) => member.emitWithAck('join-room', { roomId: created.roomId, username: `member-${i}` })))
    if (joined.some((result) => !result.success)) throw new Error('join-room failed')
    // Every pair: an offer and an answer, and candidates both ways, acked.
    const signals: Array<Promise<unknown>> = []
    for (let a = 0; a < members.length; a++) {
      for (let b = a + 1; b < members.length; b++) {
        const [from, to] = [members[a]!, members[b]!]
        signals.push(from.emitWithAck('signal', { to: to.id, signal: { type: 'offer', sdp: SDP } }))
        signals.push(to.emitWithAck('signal', { to: from.id, signal: { type: 'answer', sdp: SDP } }))
        for (let c = 0; c < CANDIDATES_PER_SIDE; c++) {
          signals.push(from.emitWithAck('signal', { to: to.id, signal: { type: 'candidate', candidate: CANDIDATE } }))
          signals.push(to.emitWithAck('signal', { to: from.id, signal: { type: 'candidate', candidate: CANDIDATE } }))
        }
      }
    }
    await Promise.all(signals)
    for (const member of members) await member.emitWithAck('camera-mic-status', { camera: false, mic: true })
    await owner.emitWithAck('user-list', {})
    report.rooms++
    // Ended by turns: a leave, a clean disconnect, a dropped transport (its seat kept for the grace).
    const ending = (['leave', 'disconnect', 'drop'] as const)[(lane + round) % 3]!
    report.endedBy[ending]++
    for (const member of members) {
      if (ending === 'leave') {
        await member.emitWithAck('leave-room', {})
        member.close()
      } else if (ending === 'disconnect') {
        member.disconnect()
      } else {
        member.drop()
      }
    }
  } catch {
    report.failed++
    for (const member of members) member.drop()
  }
}

async function run(): Promise<ChurnReport> {
  const start = Date.now()
  const end = start + durationMs
  await Promise.all(
    Array.from({ length: lanes }, async (_, lane) => {
      // Paced lanes start their rooms at fixed times; a late room starts at once.
      const offset = startOffsetsMs[lane] ?? 0
      for (let round = 0; Date.now() < end; round++) {
        const due = start + offset + round * roomIntervalMs
        if (due > Date.now()) await new Promise((resolve) => setTimeout(resolve, due - Date.now()))
        if (Date.now() >= end) break
        await oneRoom(lane, round)
      }
    })
  )
  return report
}

void run().then((result) => parentPort!.postMessage(result))
