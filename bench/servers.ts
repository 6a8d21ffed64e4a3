/** The servers a run measures: ours as `npm start` runs it, and the bare Socket.IO floor. */
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { createInterface } from 'node:readline'
import { args, SERVER_CPUS, SERVER_ENV } from './options.js'
import { startScriptCommand } from './shipped-node-flags.js'

const ROOT = new URL('../../', import.meta.url)
export const SERVERS = {
  ours: new URL('dist/server.js', ROOT).pathname,
  floor: new URL('dist-bench/bench/bare-server.js', ROOT).pathname
}

export interface Running {
  url: string
  child?: ChildProcess
  /** Ours: where its metrics are served (on their own port). */
  metricsUrl?: string
}

/** The CPUs of this machine not in a taskset list such as `0` or `0-1,3`. */
export function otherCpus(list: string): string {
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
function shipped(): ReturnType<typeof startScriptCommand> {
  const { scripts } = JSON.parse(readFileSync(new URL('package.json', ROOT), 'utf8')) as { scripts: { start: string } }
  return startScriptCommand(scripts.start)
}
const SHIPPED = shipped()
/** --ours-node-flags: to measure other Node flags than the shipped ones ("" for none). */
const OURS_FLAGS = args['ours-node-flags']
const NODE_FLAGS = { ours: OURS_FLAGS === undefined ? SHIPPED.flags : OURS_FLAGS.split(' ').filter(Boolean), floor: args['floor-node-flags'].split(' ').filter(Boolean) }

/**
 * --floor-recovery: the settings bare-server.ts turns Socket.IO's own recovery on with, ours' (as
 * --server-env gives them, else ours' defaults, read from its schema so that no copy is kept here;
 * imported only then, as it brings the schema's validator along).
 */
async function floorRecoveryEnv(): Promise<Record<string, string> | undefined> {
  if (!args['floor-recovery']) return undefined
  const { ConfigSchema } = await import('../src/plugins/env.js')
  const env = Object.fromEntries(
    (['RECONNECT_GRACE_MS', 'PING_INTERVAL_MS', 'PING_TIMEOUT_MS'] as const).map((name) => [name, SERVER_ENV[name] ?? String(ConfigSchema.properties[name].default)])
  )
  if (!(Number(env.RECONNECT_GRACE_MS) > 0)) throw new Error(`--floor-recovery needs a grace above 0, not RECONNECT_GRACE_MS=${env.RECONNECT_GRACE_MS}`)
  return env
}
/** What --floor-recovery gives the floor (undefined without it); the JSON reports carry it. */
export const FLOOR_RECOVERY_ENV = await floorRecoveryEnv()

export function start(kind: keyof typeof SERVERS, env: Record<string, string> = {}): Promise<Running> {
  const node = [process.execPath, ...NODE_FLAGS[kind], SERVERS[kind]]
  const [command, argv] = SERVER_CPUS === undefined ? [node[0]!, node.slice(1)] : ['taskset', ['-c', SERVER_CPUS, ...node]]
  const child = spawn(command, argv, {
    env: { PATH: process.env.PATH, HOST: '127.0.0.1', PORT: '0', METRICS_PORT: '0', LOG_LEVEL: 'info', ...(kind === 'ours' ? { ...SHIPPED.env, ...SERVER_ENV } : FLOOR_RECOVERY_ENV), ...env },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  let metricsUrl: string | undefined
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      // Our metrics listen first (onReady), then the public port.
      const metrics = /metrics served at \/metrics on port (\d+)/.exec(line)
      if (metrics) metricsUrl = `http://127.0.0.1:${metrics[1]}/metrics`
      const match = /listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(line)
      if (match) resolve({ url: match[1]!, child, metricsUrl })
    })
    child.once('exit', (code) => reject(new Error(`${kind} server exited with ${code}`)))
  })
}

export async function stop(running: Running): Promise<void> {
  if (!running.child || running.child.exitCode !== null) return
  const exited = new Promise((resolve) => running.child!.once('exit', resolve))
  running.child.kill('SIGKILL')
  await exited
}
