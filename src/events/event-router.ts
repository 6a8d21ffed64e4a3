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
import { createTaskQueue } from './task-queue.js'
import { createTokenBucket } from './token-bucket.js'

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

/**
 * The one path every client event takes: rate limit, split payload and ack, bare-value form,
 * schema check, then the handler, strictly one at a time per socket so that events take effect in
 * the order they were sent even when the store is remote. Failures reach the client exactly once:
 * through the ack when there is one, else as the seed's `error` event with the plain message.
 */
export function createEventRouter({ sendError, logBudget, rateLimit, observe = () => {} }: EventRouterOptions): EventRouter {
  const definitions = new Map<string, CompiledDefinition>()
  const servedSockets = new Map<string, ServedSocket>()
  const connectHandlers: Array<(served: ServedSocket) => Promise<void>> = []
  const disconnectHandlers: Array<(served: ServedSocket, reason: string) => Promise<void>> = []

  function reply(socket: SignalingSocket, ack: Ack | undefined, result: AckResult): void {
    if (ack !== undefined) ack(result)
    else if (!result.success) sendError(socket.id, result.error)
  }

  /** Answers a failed event; returns the code sent. */
  function fail(socket: SignalingSocket, ack: Ack | undefined, error: unknown, event: string): string {
    if (error instanceof StoreUnavailableError) {
      logBudget.log(socket.id, 'warn', { err: error.cause, event, socketId: socket.id }, 'room store unavailable')
      error = new SignalingError('UNAVAILABLE')
    } else if (!(error instanceof SignalingError)) {
      // Never log the payload: SDP carries IP addresses and usernames are personal data.
      logBudget.log(socket.id, 'error', { err: error, event, socketId: socket.id }, 'event handler failed')
      error = new SignalingError('INTERNAL')
    }
    const refusal = (error as SignalingError).toAck()
    reply(socket, ack, refusal)
    return refusal.code
  }

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
      const served: ServedSocket = {
        socket,
        // One flat string: randomUUID's is a tree of 16 concatenations that stays so for the socket's life.
        connectionId: randomBytes(16).toString('base64url'),
        failedJoins: 0,
        get idle() {
          return tasks.idle()
        }
      }
      servedSockets.set(socket.id, served)
      const bucket = createTokenBucket(rateLimit.burst, rateLimit.perSecond)
      let refusals = 0
      let windowStart = Date.now()

      // One at a time, so events take effect in the order they were sent (see createTaskQueue).
      const tasks = createTaskQueue((error) => logBudget.log(socket.id, 'error', { err: error, socketId: socket.id }, 'event task failed'))

      socket.use((packet, _next) => {
        // Known events are handled here and never reach `socket.on` listeners; unknown ones are
        // dropped. Either way they are counted against the rate limit first. A socket being
        // disconnected may still have thousands of decoded events queued (one long-polling POST
        // carries many): they are dropped without a word.
        if (!socket.connected) return
        const event = packet[0]
        const last: unknown = packet[packet.length - 1]
        const ack = packet.length > 1 && typeof last === 'function' ? (last as Ack) : undefined

        const now = Date.now()
        if (!bucket.take(now)) {
          if (now - windowStart > rateLimit.windowMs) {
            windowStart = now
            refusals = 0
          }
          if (++refusals > rateLimit.maxRefusals) {
            logBudget.log(socket.id, 'info', { socketId: socket.id }, 'disconnecting a socket that kept exceeding the rate limit')
            socket.disconnect(true)
            return
          }
          // Queued like any event, so answers keep the order of the events they answer.
          tasks.push(() => reply(socket, ack, new SignalingError('RATE_LIMITED').toAck()))
          // Only known names become metric labels: a flood of invented ones must not.
          if (definitions.has(event)) observe(event, 'RATE_LIMITED', 0)
          return
        }

        const definition = definitions.get(event)
        if (definition === undefined) return
        // Binary attachments are refused at the parser, before anything looked at them.
        if (packet[1] === BINARY_REFUSED) {
          tasks.push(() => reply(socket, ack, new SignalingError('INVALID_PAYLOAD').toAck()))
          observe(event, 'INVALID_PAYLOAD', 0)
          return
        }

        // `emit('create-room', ack)` carries the ack alone; the payload, when there is one, comes first.
        let payload: unknown = ack !== undefined && packet.length === 2 ? undefined : packet[1]
        if (typeof payload === 'string' && definition.fromBare !== undefined) payload = definition.fromBare(payload)
        else if (payload === undefined) payload = {}

        const arrived = performance.now()
        tasks.push(() => {
          if (!definition.check(payload)) {
            reply(socket, ack, new SignalingError('INVALID_PAYLOAD').toAck())
            observe(event, 'INVALID_PAYLOAD', (performance.now() - arrived) / 1000)
            return
          }
          let acked = false
          const ctx: EventContext<ClientEventName> = {
            socket,
            served,
            ok(data) {
              acked = true
              reply(socket, ack, { success: true, ok: true, ...data })
            }
          }
          const settle = (threw: boolean, error?: unknown): void => {
            let outcome = 'ok'
            if (!threw) {
              if (!acked) ctx.ok({})
            } else if (acked) logBudget.log(socket.id, 'error', { err: error, event, socketId: socket.id }, 'event failed after its ack')
            else outcome = fail(socket, ack, error, event)
            observe(event, outcome, (performance.now() - arrived) / 1000)
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
        })
      })

      const runAll = async <A extends unknown[]>(
        handlers: Array<(served: ServedSocket, ...args: A) => Promise<void>>,
        what: string,
        ...args: A
      ): Promise<void> => {
        for (const handler of handlers) {
          try {
            await handler(served, ...args)
          } catch (error) {
            logBudget.log(socket.id, 'error', { err: error, socketId: socket.id }, `${what} failed`)
          }
        }
      }
      // Connect and disconnect handlers start in a microtask, after the other listeners of the
      // Socket.IO event that caused them have run.
      tasks.pushSoon(() => runAll(connectHandlers, 'connect handling'))
      socket.on('disconnect', (reason) => {
        tasks.pushSoon(() => runAll(disconnectHandlers, 'disconnect clean-up', reason))
        void served.idle.then(() => {
          // A recovered socket may already be served again under the same id.
          if (servedSockets.get(socket.id) === served) {
            servedSockets.delete(socket.id)
            logBudget.forget(socket.id)
          }
        })
      })

      return served
    }
  }
}
