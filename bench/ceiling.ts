/**
 * The memory ceiling: sockets added in rooms of four, a step at a time, until the server's resident
 * memory passes a limit; the answer is the most sockets it held under it.
 */
import { Load } from './load.js'
import { rssBytes } from './proc-stats.js'
import type { Running } from './servers.js'

export interface CeilingResult {
  name: string
  limitBytes: number
  /** The most sockets seated with RSS still under the limit (every join succeeded). */
  held: number
  /** Sockets seated and the RSS after each step. */
  steps: Array<{ sockets: number; rss: number; failedJoins: number }>
}

const wait = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

export async function ceiling(name: string, server: Running, { limitBytes, stepSockets, maxSockets }: { limitBytes: number; stepSockets: number; maxSockets: number }): Promise<CeilingResult> {
  const pid = server.child!.pid!
  const load = new Load([server.url], 0)
  const steps: CeilingResult['steps'] = []
  let held = 0
  let sockets = 0
  try {
    while (sockets < maxSockets) {
      const joined = await load.connect(Math.floor(stepSockets / 4))
      sockets += joined.seated
      // What the step's joins left to collect, collected: the RSS a steady call holds.
      await wait(3000)
      const rss = rssBytes(pid)
      steps.push({ sockets, rss, failedJoins: joined.failedJoins })
      console.error(`${name}: ${sockets} sockets, RSS ${(rss / 1048576).toFixed(0)} MB`)
      if (rss > limitBytes || joined.failedJoins > 0) break
      held = sockets
    }
  } finally {
    await load.close()
  }
  return { name, limitBytes, held, steps }
}
