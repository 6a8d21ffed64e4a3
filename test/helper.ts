/**
 * The one way tests build the service: the real app plugin on an ephemeral port, real Socket.IO
 * clients over real sockets, everything closed in teardown.
 */
import Fastify, { type FastifyInstance } from 'fastify'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { createServer } from 'node:net'
import { createInterface } from 'node:readline'
import fp from 'fastify-plugin'
import { Writable } from 'node:stream'
import { io, type ManagerOptions, type Socket, type SocketOptions } from 'socket.io-client'
import type { Test } from 'tap'
import app from '../src/app.js'
import { createServerOptions } from '../src/server-options.js'
import type { AckResult, ClientToServerEvents, ServerToClientEvents } from '../src/protocol.js'

export type Client = Socket<ServerToClientEvents, ClientToServerEvents>
/** The same socket without the protocol's types, for sending what a hostile client would. */
export type RawClient = Socket

export interface TestServer {
  app: FastifyInstance
  url: string
  /** Every log line the app wrote, parsed. */
  logs: Array<Record<string, unknown>>
  connect(options?: Partial<ManagerOptions & SocketOptions>): Promise<Client>
}

/** Settings for tests: quiet, loopback, ephemeral port; a test overrides what it exercises. */
const TEST_ENV = { HOST: '127.0.0.1', PORT: '0', METRICS_PORT: '0', LOG_LEVEL: 'warn', PRESSURE_MAX_EVENT_LOOP_DELAY_MS: '0' }

export interface BuildOptions {
  /** The address to listen on; a test host's bridge address for the network-namespace tests. */
  host?: string
}

export async function buildServer(t: Test, env: Record<string, string> = {}, { host = '127.0.0.1' }: BuildOptions = {}): Promise<TestServer> {
  const logs: Array<Record<string, unknown>> = []
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) logs.push(JSON.parse(line))
      done()
    }
  })
  const server = Fastify(createServerOptions(sink))
  await server.register(fp(app), { env: { ...TEST_ENV, ...env } })
  await server.listen({ port: 0, host })
  t.teardown(() => server.close())
  const address = server.server.address()
  if (address === null || typeof address === 'string') throw new Error('server has no TCP address')
  const url = `http://${host}:${address.port}`
  return { app: server, url, logs, connect: (options) => connectClient(t, url, options) }
}

/** A connected client; WebSocket only unless the test asks for Socket.IO's default transports. */
export async function connectClient(
  t: Test,
  url: string,
  options: Partial<ManagerOptions & SocketOptions> = {}
): Promise<Client> {
  const client: Client = io(url, { transports: ['websocket'], forceNew: true, reconnection: false, ...options })
  t.teardown(() => {
    client.disconnect()
  })
  await new Promise<void>((resolve, reject) => {
    client.once('connect', resolve)
    client.once('connect_error', reject)
  })
  return client
}

export function raw(client: Client): RawClient {
  return client as unknown as RawClient
}

/** Sends an event with an ack and resolves with what the server answered. */
export async function request(client: Client | RawClient, event: string, ...args: unknown[]): Promise<AckResult<any>> {
  return (client as RawClient).timeout(5000).emitWithAck(event, ...args)
}

/** Resolves with the first argument of the next `event` the client receives. */
export function nextEvent<E extends keyof ServerToClientEvents>(
  client: Client,
  event: E,
  timeoutMs = 5000
): Promise<Parameters<ServerToClientEvents[E]>[0]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off(event, listener as never)
      reject(new Error(`no '${event}' event within ${timeoutMs} ms`))
    }, timeoutMs)
    const listener = (value: Parameters<ServerToClientEvents[E]>[0]): void => {
      clearTimeout(timer)
      resolve(value)
    }
    client.once(event, listener as never)
  })
}

/** Records every `event` the client receives from now on. */
export function collect<E extends keyof ServerToClientEvents>(
  client: Client,
  event: E
): Array<Parameters<ServerToClientEvents[E]>[0]> {
  const seen: Array<Parameters<ServerToClientEvents[E]>[0]> = []
  client.on(event, ((value: Parameters<ServerToClientEvents[E]>[0]) => seen.push(value)) as never)
  return seen
}

/**
 * A round trip on `client`'s own connection. Anything the server sent this client before answering
 * has arrived once this resolves: how tests prove, without sleeping, that an event did NOT come.
 */
export async function sync(client: Client): Promise<void> {
  await request(client, 'user-list')
}

/** A client with a username, seated in a new room; resolves with the room id. */
export async function createRoom(client: Client, username: string): Promise<string> {
  const result = await request(client, 'create-room', { username })
  if (!result.success) throw new Error(`create-room failed: ${result.code}`)
  return result.roomId as string
}

/** A client with a username, seated in `roomId`. */
export async function joinRoom(client: Client, roomId: string, username: string): Promise<AckResult<any>> {
  return request(client, 'join-room', { roomId, username })
}

const SERVER = new URL('../dist/server.js', import.meta.url).pathname

/**
 * `node [nodeFlags] dist/server.js` in a child process; `url` resolves once it logs that it listens
 * (at info level). What it prints that is not a log line (V8's `--trace-gc`, say) goes to `output`.
 * `script` (default `dist/server.js`) runs another that logs the same line (the bench's floor).
 */
export function startServerProcess(
  env: Record<string, string>,
  { cgroup, nodeFlags = [], script = SERVER }: { cgroup?: string; nodeFlags?: string[]; script?: string } = {}
): { child: ChildProcess; lines: Array<Record<string, unknown>>; output: string[]; url: Promise<string> } {
  if (!existsSync(script)) throw new Error(`${script} is missing: run \`npm run build\` (npm test does)`)
  const node = [process.execPath, ...nodeFlags, script]
  // In a cgroup (a folder of /sys/fs/cgroup): the shell moves itself there, then becomes the server.
  const [command, args] = cgroup === undefined ? [node[0]!, node.slice(1)] : ['sh', ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', cgroup, ...node]]
  const child = spawn(command, args, {
    env: { PATH: process.env.PATH, HOST: '127.0.0.1', PORT: '0', METRICS_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  const lines: Array<Record<string, unknown>> = []
  const output: string[] = []
  const url = new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (!line.startsWith('{')) {
        output.push(line)
        return
      }
      const entry = JSON.parse(line) as Record<string, unknown>
      lines.push(entry)
      const match = /listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(String(entry.msg))
      if (match) resolve(match[1]!)
    })
    child.once('exit', (code) => reject(new Error(`server exited with ${code} before listening`)))
  })
  url.catch(() => {}) // a test that expects the boot to fail never awaits it
  return { child, lines, output, url }
}

/** The value of one sample in Prometheus text format, or undefined. */
export function sample(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `) || (labels === '' && l.startsWith(`${name} `)))
  return line === undefined ? undefined : Number(line.split(' ').at(-1))
}

/** A TCP port nothing listens on right now, for a server a test starts itself. */
export async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  server.close()
  await once(server, 'close')
  return port
}

/** Polls `check` every 50 ms until it holds; fails after `timeoutMs` (10 s), naming what it waited for. */
export async function until(check: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what} after ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
