/**
 * A minimal Socket.IO client for the load generator: the same wire protocol as socket.io-client
 * (Engine.IO 4 over WebSocket, Socket.IO 5 text packets) without its per-emit timers, promises and
 * reconnection machinery. With socket.io-client the generator cost more CPU than the server it
 * measured, so on a 2-core machine latency measured the contention (docs/performance.md).
 *
 * Only what the bench needs: connect to the main namespace, emit with an ack, receive events.
 * Trailing recovery offsets on events are ignored, as a client reading the first argument does.
 */
import WebSocket from 'ws'
import type { ClientToServerEvents, ServerToClientEvents } from '../src/protocol.js'

type ClientEvent = keyof ClientToServerEvents
/** What an event's payload may be when it is sent with an ack (the ack-only forms left out). */
type PayloadOf<E extends ClientEvent> = Exclude<Parameters<ClientToServerEvents[E]>[0], ((...args: never[]) => unknown) | undefined>
/** The event's ack result, or a failure the client made up because the connection closed first. */
export type AckOf<E extends ClientEvent> = Parameters<NonNullable<Parameters<ClientToServerEvents[E]>[1]>>[0] | { success: false; ok: false; closed: true }
type Handler = (payload: unknown) => void

/** The ack result of an emit that the connection's closing cut short. */
export const CLOSED = { success: false, ok: false, closed: true } as const

export class LeanClient {
  /** The Socket.IO socket id, once connected. */
  id = ''
  private readonly acks = new Map<number, (result: unknown) => void>()
  private readonly handlers = new Map<string, Handler>()
  private nextAck = 0

  private constructor(private readonly ws: WebSocket) {}

  /** Opens the transport and the main namespace; rejects on a refusal or after `timeoutMs`. */
  static connect(url: string, timeoutMs: number): Promise<LeanClient> {
    const endpoint = `${url.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket`
    const ws = new WebSocket(endpoint, { perMessageDeflate: false })
    const client = new LeanClient(ws)
    return new Promise((resolve, reject) => {
      const fail = (err: Error): void => {
        clearTimeout(timer)
        ws.terminate()
        reject(err)
      }
      const timer = setTimeout(() => fail(new Error('connect timeout')), timeoutMs)
      ws.once('error', fail)
      ws.on('message', (data) => {
        const text = (data as Buffer).toString()
        if (client.id === '' && text.startsWith('40')) {
          clearTimeout(timer)
          ws.off('error', fail)
          ws.on('error', () => {})
          ws.once('close', () => client.close())
          client.id = (JSON.parse(text.slice(2)) as { sid: string }).sid
          resolve(client)
        } else if (text.startsWith('44')) {
          fail(new Error(`refused: ${text.slice(2)}`))
        } else {
          client.receive(text)
        }
      })
      ws.once('open', () => ws.send('40'))
    })
  }

  on<E extends keyof ServerToClientEvents>(event: E, handler: (payload: Parameters<ServerToClientEvents[E]>[0]) => void): void {
    this.handlers.set(event, handler as Handler)
  }

  /** `42<id>[event, payload]`; resolves with the ack's first argument. */
  emitWithAck<E extends ClientEvent>(event: E, payload: PayloadOf<E>): Promise<AckOf<E>> {
    // A closed socket would drop the packet silently and the ack would never come.
    if (this.ws.readyState !== WebSocket.OPEN) return Promise.resolve(CLOSED)
    const id = this.nextAck++
    return new Promise((resolve) => {
      this.acks.set(id, resolve as (result: unknown) => void)
      this.ws.send(`42${id}${JSON.stringify([event, payload])}`)
    })
  }

  /** `42[event, payload]`, no ack. */
  emit<E extends ClientEvent>(event: E, payload: PayloadOf<E>): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(`42${JSON.stringify([event, payload])}`)
  }

  /** As socket.disconnect() does: the namespace's DISCONNECT, then the transport closes. */
  disconnect(): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send('41')
    this.close()
  }

  /** As a lost network does: the TCP connection just goes, with no closing handshake. */
  drop(): void {
    for (const resolve of this.acks.values()) resolve(CLOSED)
    this.acks.clear()
    this.ws.terminate()
  }

  /** Acks never answered (the connection closed): resolved as failures so nothing waits forever. */
  close(): void {
    for (const resolve of this.acks.values()) resolve(CLOSED)
    this.acks.clear()
    this.ws.close()
  }

  private receive(text: string): void {
    if (text === '2') {
      this.ws.send('3') // Engine.IO ping → pong
    } else if (text.startsWith('43')) {
      const bracket = text.indexOf('[')
      const id = Number(text.slice(2, bracket))
      const resolve = this.acks.get(id)
      if (resolve !== undefined) {
        this.acks.delete(id)
        resolve((JSON.parse(text.slice(bracket)) as unknown[])[0])
      }
    } else if (text.startsWith('42')) {
      const [event, payload] = JSON.parse(text.slice(2)) as [string, unknown]
      this.handlers.get(event)?.(payload)
    }
  }
}
