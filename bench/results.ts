/** What a run measures, per scenario and per relay rate (also the JSON's shape). */

export interface RatePoint {
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
  /** Minor page faults of the server per signal over the phase (see proc-stats.ts). */
  faultsPerSignal?: number
  /** With Redis: commands Redis ran per signal relayed, in all and by command (the bench's own left out). */
  redisCommandsPerSignal?: number
  redisCommandsBySignal?: Record<string, number>
  /** With Redis on this machine: its CPU time per signal. */
  redisCpuMicrosPerSignal?: number
}

export interface ScenarioResult {
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
