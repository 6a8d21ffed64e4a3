/**
 * Redis for tests: the machine's server at 127.0.0.1:6379 (REDIS_TEST_URL to point elsewhere), a
 * unique key prefix per test so runs never see each other, and every key removed afterwards.
 * Redis unreachable: the test fails with a clear message under CI=true and is skipped elsewhere.
 */
import { Redis } from 'ioredis'
import { randomBytes } from 'node:crypto'
import { connect } from 'node:net'
import type { Test } from 'tap'

export const REDIS_TEST_URL = process.env.REDIS_TEST_URL ?? 'redis://127.0.0.1:6379'

async function reachable(url: string): Promise<boolean> {
  const probe = new Redis(url, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, retryStrategy: () => null })
  probe.on('error', () => {})
  try {
    await probe.connect()
    await probe.ping()
    return true
  } catch {
    return false
  } finally {
    probe.disconnect()
  }
}

export interface TestRedis {
  url: string
  prefix: string
  /** A plain client for looking at (or tampering with) what the service stored. */
  client: Redis
  /** The env a server needs to share this Redis and prefix. */
  env: Record<string, string>
}

/** Undefined when the test was skipped (or failed, under CI) because Redis is unreachable. */
export async function useRedis(t: Test, url = REDIS_TEST_URL): Promise<TestRedis | undefined> {
  if (!(await reachable(url))) {
    const message = `Redis is unreachable at ${url}: the Redis tests need it (start redis-server, or set REDIS_TEST_URL)`
    if (process.env.CI === 'true') t.fail(message)
    else t.pass(message, { skip: message })
    return undefined
  }
  const prefix = `signaling-test:${randomBytes(6).toString('hex')}:`
  const client = new Redis(url)
  t.teardown(async () => {
    const keys = await client.keys(`${prefix}*`)
    if (keys.length > 0) await client.del(...keys)
    await client.quit()
  })
  return {
    url,
    prefix,
    client,
    env: { REDIS_URL: url, REDIS_KEY_PREFIX: prefix, INSTANCE_HEARTBEAT_MS: '200', INSTANCE_TIMEOUT_MS: '1000' }
  }
}

/** A command Redis received, as MONITOR shows it. */
export interface MonitoredCommand {
  /** The command, then its arguments. */
  args: string[]
  /** The client's address (`127.0.0.1:51348`), or `lua` for a script's own calls. */
  source: string
}

/** `\"`, `\\`, `\n`, `\xNN` and the like, as Redis's sdscatrepr writes them. */
const ESCAPES: Record<string, string> = { n: '\n', r: '\r', t: '\t', a: '\x07', b: '\b' }
function unescapeArg(text: string): string {
  return text.replace(/\\(x[0-9a-f]{2}|.)/g, (_, code: string) =>
    code.length === 3 ? String.fromCharCode(parseInt(code.slice(1), 16)) : (ESCAPES[code] ?? code))
}

/** `+1796158023.344659 [0 127.0.0.1:51348] "set" "key" "1"`; undefined for anything else. */
function parseMonitorLine(line: string): MonitoredCommand | undefined {
  const match = /^\+\S+ \[\d+ ([^\]]+)\] (.*)$/.exec(line)
  if (match === null) return undefined
  return { source: match[1]!, args: [...match[2]!.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map(([, arg]) => unescapeArg(arg!)) }
}

/**
 * Hands every command Redis receives from now until the test ends to `onCommand`, through MONITOR
 * on a raw connection of its own. Not ioredis's `monitor()`: it enters its monitoring state a
 * microtask after MONITOR's reply, so commands Redis reports in the same read as that reply (the
 * instances under test keep it busy) fail it with "Command queue state error".
 */
export async function monitorCommands(t: Test, url: string, onCommand: (command: MonitoredCommand) => void): Promise<void> {
  const { hostname, port, username, password } = new URL(url)
  const socket = connect(Number(port || 6379), hostname)
  t.teardown(() => socket.destroy())
  const commands = password === '' ? ['MONITOR'] : [`AUTH ${decodeURIComponent(username || 'default')} ${decodeURIComponent(password)}`, 'MONITOR']
  let unanswered = commands.length
  let pending = ''
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject)
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => {
      pending += chunk
      for (let end = pending.indexOf('\r\n'); end !== -1; end = pending.indexOf('\r\n')) {
        const line = pending.slice(0, end)
        pending = pending.slice(end + 2)
        if (unanswered > 0 && line === '+OK') {
          if (--unanswered === 0) resolve()
        } else if (unanswered > 0 && line.startsWith('-')) {
          reject(new Error(`Redis refused ${commands[commands.length - unanswered]!.split(' ')[0]}: ${line.slice(1)}`))
        } else {
          const command = parseMonitorLine(line)
          if (command !== undefined) onCommand(command)
        }
      }
    })
    socket.write(commands.map((command) => `${command}\r\n`).join(''))
  })
}
