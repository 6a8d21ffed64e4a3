/**
 * A test client that talks to the server exactly as the seed app's real frontend does
 * (`shared/seed/FRONTEND.md`): default transports, bare-value payloads, `create-room` with only a
 * callback, callbacks read for `success` / `roomId` / `error`, a room id kept in the browser's
 * storage so that a reload rejoins (without a callback), simple-peer signals with `trickle: false`
 * (one offer and one answer per pair), and signals from unknown peers dropped.
 *
 * Where the real page would crash (React rendering a non-string `error`), this one records a crash;
 * every text it would show is kept in `shown`, so a test sees even a message that would flash.
 */
import { io, type Socket } from 'socket.io-client'
import type { Test } from 'tap'

/** What `localStorage` holds for one browser profile: it survives a reload. */
export type BrowserStorage = Map<string, string>

/** One simple-peer instance towards another member. */
export interface SeedPeer {
  initiator: boolean
  /** Its offer (initiator) or answer went out. */
  sent: boolean
  /** The other side's answer (initiator) or offer arrived. */
  received: boolean
}

const ROOM_KEY = 'roomId'
const ANSWER_TIMEOUT_MS = 5000

export class SeedFrontend {
  readonly socket: Socket
  /** Every message the page rendered, in order: errors, and the failure texts of its callbacks. */
  readonly shown: string[] = []
  /** Set when the page would have turned into "Application error: a client-side exception has occurred". */
  crash: string | undefined
  /** The call the page shows, once it entered one. */
  roomId: string | undefined
  readonly peers = new Map<string, SeedPeer>()
  /** Every `user-left` and `user-joined` the page saw, as `left:<id>` / `joined:<id>`, in order. */
  readonly roster: string[] = []

  private constructor(
    private readonly t: Test,
    private readonly url: string,
    readonly storage: BrowserStorage,
    readonly username: string
  ) {
    // As the real page does at module load: default transports (polling, then upgrade), no auth.
    this.socket = io(url, { autoConnect: true, forceNew: true })
    t.teardown(() => {
      this.socket.disconnect()
    })
    this.listen()
  }

  /** Loads the page: signs in (registers the name), and rejoins the room kept in storage if any. */
  static async open(t: Test, url: string, username: string, storage: BrowserStorage = new Map()): Promise<SeedFrontend> {
    const page = new SeedFrontend(t, url, storage, username)
    await new Promise<void>((resolve, reject) => {
      page.socket.once('connect', () => resolve())
      page.socket.once('connect_error', reject)
    })
    page.socket.emit('register-username', username)
    const saved = storage.get(ROOM_KEY)
    if (saved !== undefined) {
      page.roomId = saved
      page.socket.emit('join-room', saved)
    }
    return page
  }

  /**
   * The tab is reloaded: its transport just drops (the page never calls disconnect()), and a new
   * page loads with the same storage, once `loaded` settles (a real page takes a while to load).
   */
  async reload(loaded?: Promise<unknown>): Promise<SeedFrontend> {
    this.closeTab()
    await loaded
    return SeedFrontend.open(this.t, this.url, this.username, this.storage)
  }

  /** The tab goes away without a word: the transport drops and nothing reconnects it. */
  closeTab(): void {
    this.socket.io.reconnection(false)
    this.socket.io.engine.close()
  }

  /** The "create room" button. */
  createRoom(): Promise<boolean> {
    return new Promise((resolve) => {
      // The real page waits forever; a test fails after a while instead.
      this.socket.timeout(ANSWER_TIMEOUT_MS).emit('create-room', (late: Error | null, response: Record<string, unknown>) => {
        if (late) {
          this.crash ??= 'create-room was never answered'
          resolve(false)
        } else if (response.success) {
          this.storage.set(ROOM_KEY, response.roomId as string)
          resolve(true)
        } else {
          this.render(response.error ?? 'Failed to create room.')
          resolve(false)
        }
      })
    })
  }

  /** The "join room" button. */
  joinRoom(roomId: string): Promise<boolean> {
    return new Promise((resolve) => {
      this.socket.timeout(ANSWER_TIMEOUT_MS).emit('join-room', roomId, (late: Error | null, response: Record<string, unknown>) => {
        if (late) {
          this.crash ??= 'join-room was never answered'
          resolve(false)
        } else if (response.success) {
          this.storage.set(ROOM_KEY, roomId)
          this.roomId = roomId
          resolve(true)
        } else {
          this.render(response.error ?? 'Failed to join the room. Please try again.')
          resolve(false)
        }
      })
    })
  }

  /** The "leave" button. */
  leave(): void {
    if (this.roomId !== undefined) this.socket.emit('leave-room', this.roomId)
    this.storage.delete(ROOM_KEY)
    this.roomId = undefined
    this.peers.clear()
  }

  /** Every peer of the call has traded its offer and answer. */
  connectedPeers(): string[] {
    return [...this.peers].filter(([, peer]) => peer.sent && peer.received).map(([id]) => id)
  }

  /** React renders it as text; an object makes the whole page fail. */
  private render(value: unknown): void {
    if (typeof value !== 'string') {
      this.crash ??= `rendered a ${typeof value} as React text: ${JSON.stringify(value)}`
      return
    }
    this.shown.push(value)
  }

  private addPeer(id: string, initiator: boolean): void {
    if (id === this.socket.id || this.peers.has(id)) return
    const peer: SeedPeer = { initiator, sent: false, received: false }
    this.peers.set(id, peer)
    if (initiator) {
      // trickle: false, so the offer goes once ICE gathering is done, candidates inside the SDP.
      this.socket.emit('signal', { to: id, signal: { type: 'offer', sdp: `v=0 offer from ${this.username}` } })
      peer.sent = true
    }
  }

  private listen(): void {
    const { socket } = this
    socket.on('error', (message: unknown) => this.render(message))
    socket.on('room-id', (roomId: string) => {
      this.storage.set(ROOM_KEY, roomId)
      this.roomId = roomId
    })
    socket.on('room-joined', ({ users }: { roomId: string; users: Array<{ id: string }> }) => {
      for (const user of users) if (user.id !== socket.id) this.addPeer(user.id, true)
    })
    socket.on('user-joined', ({ id }: { id: string }) => {
      this.roster.push(`joined:${id}`)
      this.addPeer(id, false)
    })
    socket.on('user-left', (id: string) => {
      this.roster.push(`left:${id}`)
      this.peers.delete(id)
      if (this.roomId !== undefined) socket.emit('user-list', this.roomId)
    })
    socket.on('signal', ({ from, signal }: { from: string; signal: { type?: string } }) => {
      const peer = this.peers.get(from)
      if (peer === undefined) return // simple-peer only exists once user-joined / room-joined made it
      peer.received = true
      if (signal.type === 'offer' && !peer.initiator) {
        socket.emit('signal', { to: from, signal: { type: 'answer', sdp: `v=0 answer from ${this.username}` } })
        peer.sent = true
      }
    })
  }
}
