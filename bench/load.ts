/** The load: worker threads, each with its share of the rooms, driven in step. */
import { Worker } from 'node:worker_threads'
import type { ConnectReport, RelayReport, WorkerCommand, WorkerSetup } from './load-worker.js'
import { DURATION_MS, WORKERS } from './options.js'

export class Load {
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

  /** Seats every thread's rooms, or `rooms` more in all (shared between the threads). */
  async connect(rooms?: number): Promise<ConnectReport> {
    const reports = await Promise.all(
      this.workers.map(
        (worker, w) =>
          new Promise<ConnectReport>((resolve) => {
            worker.once('message', resolve)
            const share = rooms === undefined ? undefined : Math.floor(rooms / this.workers.length) + (w < rooms % this.workers.length ? 1 : 0)
            worker.postMessage({ cmd: 'connect', rooms: share } satisfies WorkerCommand)
          })
      )
    )
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
