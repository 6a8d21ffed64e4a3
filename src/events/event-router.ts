import type { Static, TSchema } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { randomBytes } from 'node:crypto'
import type { Server, Socket } from 'socket.io'
import type {
  Ack,
  AckResult,
  ClientEventName,
  ClientToServerEvents,
  InterServerEvents,
  ServerToClientEvents,
  SocketData
} from '../protocol.js'
import type { LogBudget } from '../log-budget.js'
import { StoreUnavailableError } from '../rooms/room-store.js'
import { BINARY_REFUSED } from './json-only-parser.js'
import { SignalingError } from './signaling-error.js'
import { SerialTaskQueue } from './task-queue.js'
import { createTokenBucket, type TokenBucket } from './token-bucket.js'

export type SignalingServer = Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>
export type SignalingSocket = Socket<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>

/** What a client event's ack carries on success, read off the event map. */
type AckData<E extends ClientEventName> =
  Extract<Parameters<ClientToServerEvents[E]>[number], Ack<never>> extends Ack<infer T> ? T : object

/**
 * A socket this process serves, with what must not travel with `socket.data` (it is not
 * serialisable): a recovered socket keeps its id and data but is a new ServedSocket.
 */
export interface ServedSocket {
  readonly socket: SignalingSocket
  /** Names this connection (not engine.io's `socket.conn`); a recovered socket keeps its id but gets a new one. */
  readonly connectionId: string
  failedJoins: number
  /** Settles when every event received so far has been handled. */
  readonly idle: Promise<void>
}

export interface EventContext<E extends ClientEventName> {
  readonly socket: SignalingSocket
  readonly served: ServedSocket
  /** Acknowledges success; a handler calls it after acting and before broadcasting. */
  readonly ok: (data: AckData<E>) => void
}

export interface EventDefinition<E extends ClientEventName, S extends TSchema> {
  schema: S
  /** Turns the seed's bare-value form (`"alice"`, `"roomId"`) into the object form. */
  fromBare?: (value: string) => unknown
  /**
   * Acts on a valid payload. May finish synchronously (the relay's common case): an event that
   * needs no I/O then costs no promise, which at thousands of signals a second is measurable.
   */
  handle: (ctx: EventContext<E>, payload: Static<S>) => void | Promise<void>
}

export interface EventRouterOptions {
  /** Sends the `error` event, for a failure whose event had no callback (see announce.ts). */
  sendError: (socketId: string, message: string) => void
  /** What clients cause to be logged goes through it, so that no client can flood the log. */
  logBudget: LogBudget
  /** Told of every handled event: its outcome (`ok` or the error code) and how long it took. */
  observe?: (event: string, outcome: string, seconds: number) => void
  rateLimit: { burst: number; perSecond: number; maxRefusals: number; windowMs: number }
}

export interface EventRouter {
  /** Registers the handler of one client event; each event group plugin calls this. */
  on<E extends ClientEventName, S extends TSchema>(event: E, definition: EventDefinition<E, S>): void
  /** Runs when a socket connects (or is recovered), before any of its events. */
  onConnect(handler: (served: ServedSocket) => Promise<void>): void
  /** Runs when a socket disconnects, after every event it sent before has been handled. */
  onDisconnect(handler: (served: ServedSocket, reason: string) => Promise<void>): void
  /** Wires a freshly connected socket to the registered handlers. */
  attach(socket: SignalingSocket): ServedSocket
  /** A socket this process serves: connected, or disconnected with its clean-up still running. */
  served(socketId: string): ServedSocket | undefined
  servedSockets(): IterableIterator<ServedSocket>
}

interface CompiledDefinition {
  check: (value: unknown) => boolean
  fromBare?: (value: string) => unknown
  handle: (ctx: EventContext<ClientEventName>, payload: unknown) => void | Promise<void>
}

/** What every served socket shares: the router's definitions, handlers and answers. */
interface RouterCore {
  readonly definitions: Map<string, CompiledDefinition>
  readonly servedSockets: Map<string, ServedConnection>
  readonly connectHandlers: Array<(served: ServedSocket) => Promise<void>>
  readonly disconnectHandlers: Array<(served: ServedSocket, reason: string) => Promise<void>>
  readonly logBudget: LogBudget
  readonly observe: (event: string, outcome: string, seconds: number) => void
  readonly rateLimit: EventRouterOptions['rateLimit']
  reply(socket: SignalingSocket, ack: Ack | undefined, result: AckResult): void
  /** Answers a failed event; returns the code sent. */
  fail(socket: SignalingSocket, ack: Ack | undefined, error: unknown, event: string): string
}

/**
 * One socket this process serves: its rate limit and its queue of events (it is the queue, so that
 * a socket carries one object and no closures of the router's: docs/performance.md, eighth session).
 */
class ServedConnection extends SerialTaskQueue implements ServedSocket {
  /** One flat string: randomUUID's is a tree of 16 concatenations that stays so for the socket's life. */
  readonly connectionId = randomBytes(16).toString('base64url')
  failedJoins = 0
  private readonly bucket: TokenBucket
  private refusals = 0
  private windowStart = Date.now()

  constructor(
    readonly socket: SignalingSocket,
    private readonly core: RouterCore
  ) {
    super()
    this.bucket = createTokenBucket(core.rateLimit.burst, core.rateLimit.perSecond)
  }

  get idle(): Promise<void> {
    return this.whenIdle()
  }

  protected override failed(error: unknown): void {
    this.core.logBudget.log(this.socket.id, 'error', { err: error, socketId: this.socket.id }, 'event task failed')
  }

  /**
   * Socket.IO's middleware for this socket (`socket.use`): every event it sent. Known events are
   * handled here and never reach `socket.on` listeners; unknown ones are dropped. Either way they
   * are counted against the rate limit first. A socket being disconnected may still have
   * thousands of decoded events queued (one long-polling POST carries many): they are dropped
   * without a word.
   */
  readonly onPacket = (packet: unknown[]): void => {
    const { socket, core } = this
    if (!socket.connected) return
    const event = packet[0] as string
    const last: unknown = packet[packet.length - 1]
    const ack = packet.length > 1 && typeof last === 'function' ? (last as Ack) : undefined

    const now = Date.now()
    if (!this.bucket.take(now)) {
      const { windowMs, maxRefusals } = core.rateLimit
      if (now - this.windowStart > windowMs) {
        this.windowStart = now
        this.refusals = 0
      }
      if (++this.refusals > maxRefusals) {
        core.logBudget.log(socket.id, 'info', { socketId: socket.id }, 'disconnecting a socket that kept exceeding the rate limit')
        socket.disconnect(true)
        return
      }
      // Queued like any event, so answers keep the order of the events they answer.
      this.push(() => core.reply(socket, ack, new SignalingError('RATE_LIMITED').toAck()))
      // Only known names become metric labels: a flood of invented ones must not.
      if (core.definitions.has(event)) core.observe(event, 'RATE_LIMITED', 0)
      return
    }

    const definition = core.definitions.get(event)
    if (definition === undefined) return
    // Binary attachments are refused at the parser, before anything looked at them.
    if (packet[1] === BINARY_REFUSED) {
      this.push(() => core.reply(socket, ack, new SignalingError('INVALID_PAYLOAD').toAck()))
      core.observe(event, 'INVALID_PAYLOAD', 0)
      return
    }

    // `emit('create-room', ack)` carries the ack alone; the payload, when there is one, comes first.
    let payload: unknown = ack !== undefined && packet.length === 2 ? undefined : packet[1]
    if (typeof payload === 'string' && definition.fromBare !== undefined) payload = definition.fromBare(payload)
    else if (payload === undefined) payload = {}

    const arrived = performance.now()
    this.push(() => this.handle(event, definition, payload, ack, arrived))
  }

  /** Checks and handles one event, then answers it exactly once. */
  private handle(event: string, definition: CompiledDefinition, payload: unknown, ack: Ack | undefined, arrived: number): void | Promise<void> {
    const { socket, core } = this
    if (!definition.check(payload)) {
      core.reply(socket, ack, new SignalingError('INVALID_PAYLOAD').toAck())
      core.observe(event, 'INVALID_PAYLOAD', (performance.now() - arrived) / 1000)
      return
    }
    let acked = false
    const ctx: EventContext<ClientEventName> = {
      socket,
      served: this,
      ok(data) {
        acked = true
        core.reply(socket, ack, { success: true, ok: true, ...data })
      }
    }
    const settle = (threw: boolean, error?: unknown): void => {
      let outcome = 'ok'
      if (!threw) {
        if (!acked) ctx.ok({})
      } else if (acked) core.logBudget.log(socket.id, 'error', { err: error, event, socketId: socket.id }, 'event failed after its ack')
      else outcome = core.fail(socket, ack, error, event)
      core.observe(event, outcome, (performance.now() - arrived) / 1000)
    }
    let handled: void | Promise<void>
    try {
      handled = definition.handle(ctx, payload)
    } catch (error) {
      settle(true, error)
      return
    }
    if (!(handled instanceof Promise)) return settle(false)
    return handled.then(
      () => settle(false),
      (error: unknown) => settle(true, error)
    )
  }

  /** The socket's `disconnect` listener: its clean-up runs once every event before it was handled. */
  readonly onDisconnect = (reason: string): void => {
    const { socket, core } = this
    this.pushSoon(() => this.runAll(core.disconnectHandlers, 'disconnect clean-up', reason))
    void this.idle.then(() => {
      // A recovered socket may already be served again under the same id.
      if (core.servedSockets.get(socket.id) === this) {
        core.servedSockets.delete(socket.id)
        core.logBudget.forget(socket.id)
      }
    })
  }

  /** Runs each of `handlers` in turn, logging (not throwing) what fails. */
  async runAll<A extends unknown[]>(handlers: Array<(served: ServedSocket, ...args: A) => Promise<void>>, what: string, ...args: A): Promise<void> {
    for (const handler of handlers) {
      try {
        await handler(this, ...args)
      } catch (error) {
        this.core.logBudget.log(this.socket.id, 'error', { err: error, socketId: this.socket.id }, `${what} failed`)
      }
    }
  }
}

/**
 * The one path every client event takes: rate limit, split payload and ack, bare-value form,
 * schema check, then the handler, strictly one at a time per socket so that events take effect in
 * the order they were sent even when the store is remote. Failures reach the client exactly once:
 * through the ack when there is one, else as the seed's `error` event with the plain message.
 */
export function createEventRouter({ sendError, logBudget, rateLimit, observe = () => {} }: EventRouterOptions): EventRouter {
  const core: RouterCore = {
    definitions: new Map(),
    servedSockets: new Map(),
    connectHandlers: [],
    disconnectHandlers: [],
    logBudget,
    observe,
    rateLimit,
    reply(socket, ack, result) {
      if (ack !== undefined) ack(result)
      else if (!result.success) sendError(socket.id, result.error)
    },
    fail(socket, ack, error, event) {
      if (error instanceof StoreUnavailableError) {
        logBudget.log(socket.id, 'warn', { err: error.cause, event, socketId: socket.id }, 'room store unavailable')
        error = new SignalingError('UNAVAILABLE')
      } else if (!(error instanceof SignalingError)) {
        // Never log the payload: SDP carries IP addresses and usernames are personal data.
        logBudget.log(socket.id, 'error', { err: error, event, socketId: socket.id }, 'event handler failed')
        error = new SignalingError('INTERNAL')
      }
      const refusal = (error as SignalingError).toAck()
      core.reply(socket, ack, refusal)
      return refusal.code
    }
  }
  const { definitions, servedSockets, connectHandlers, disconnectHandlers } = core

  return {
    on(event, definition) {
      const compiled = TypeCompiler.Compile(definition.schema)
      definitions.set(event, {
        check: (value) => compiled.Check(value),
        fromBare: definition.fromBare,
        handle: definition.handle
      })
    },

    served(socketId) {
      return servedSockets.get(socketId)
    },

    servedSockets() {
      return servedSockets.values()
    },

    onConnect(handler) {
      connectHandlers.push(handler)
    },

    onDisconnect(handler) {
      disconnectHandlers.push(handler)
    },

    attach(socket) {
      const served = new ServedConnection(socket, core)
      servedSockets.set(socket.id, served)
      socket.use(served.onPacket)
      // Connect and disconnect handlers start in a microtask, after the other listeners of the
      // Socket.IO event that caused them have run.
      served.pushSoon(() => served.runAll(connectHandlers, 'connect handling'))
      socket.on('disconnect', served.onDisconnect)
      return served
    }
  }
}
