/**
 * A mesh video call through the signaling server, in one call: `await joinCall({ url, username,
 * localStream })`. docs/client.md has the API, an example page, and why it works as it does.
 */
import { io, type ManagerOptions, type Socket, type SocketOptions } from 'socket.io-client'
import type {
  AckResult,
  AckSuccess,
  ClientToServerEvents,
  IceServer,
  IceServers,
  LeftRoom,
  MediaStatus,
  Member,
  RoomJoined,
  ServerToClientEvents
} from '../src/protocol.js'
import { CallError, errorFromMessage, SEAT_LOST_MESSAGE } from './call-error.js'
import { createEmitter } from './emitter.js'
import { createPeerLink, type MediaKind, type PeerLink, type Signal } from './peer-link.js'

export type SignalingSocket = Socket<ServerToClientEvents, ClientToServerEvents>

/** A signaling request unanswered this long rejects with TIMEOUT (JoinCallOptions.timeout). */
const REQUEST_TIMEOUT_MS = 10_000
/** A check that the signaling socket still works, after a network change: answered, or reconnect. */
const PROBE_TIMEOUT_MS = 2500

export interface JoinCallOptions {
  /** The signaling server, e.g. `https://signal.example`. Or give `socket` instead. */
  url?: string
  /** A socket of your own (it is left open after the call); `url`, `token` and `socketOptions` are then unused. */
  socket?: SignalingSocket
  username: string
  /** The room to join; without it a new room is created (its id is `call.roomId`). */
  roomId?: string
  /** What we send. Its tracks' `enabled` says whether camera and microphone start on. */
  localStream: MediaStream
  /** A sign-in token, when the server requires one. */
  token?: string
  /** More socket.io-client options (transports, path…). */
  socketOptions?: Partial<ManagerOptions & SocketOptions>
  /** How long a request waits for the server (ms, default 10 000). */
  timeout?: number
}

/** Another member of the call, as this page knows them. */
export interface Peer {
  readonly id: string
  readonly username: string
  readonly camera: boolean
  readonly mic: boolean
  /** Their audio and video, from their first track on. */
  readonly stream: MediaStream | undefined
  /** The peer connection's state: new, connecting, connected, disconnected, failed, closed. */
  readonly state: RTCPeerConnectionState
  /** Their signaling connection dropped; their seat is kept while they reconnect. */
  readonly away: boolean
  /** The connection itself, for getStats(). Negotiation is the call's business. */
  readonly connection: RTCPeerConnection
}

export interface CallEvents {
  /** A member is in the call: those already there when joinCall resolves, then each newcomer. */
  'peer-joined': (peer: Peer) => void
  /** A member's media arrived, or changed (peer.stream). */
  'peer-stream': (peer: Peer, stream: MediaStream) => void
  'peer-left': (peer: Peer) => void
  /** A member turned their camera or microphone on or off (peer.camera, peer.mic). */
  'peer-media': (peer: Peer) => void
  /** peer.state or peer.away changed. */
  'peer-state': (peer: Peer) => void
  /** Our signaling connection dropped; the seat is kept for a while and the client reconnects. */
  reconnecting: () => void
  /** Back, same seat, same id; the media connections are restarted. */
  reconnected: () => void
  /** Something failed that did not end the call (a refused signal, say). */
  error: (error: CallError) => void
  /** The call is over: after leave(), or with the error that ended it (SEAT_LOST, DISCONNECTED). */
  ended: (error?: CallError) => void
}

export interface Call {
  readonly roomId: string
  /** Our own member id (the socket id): kept through reconnects that keep the seat. */
  readonly id: string
  readonly peers: ReadonlyMap<string, Peer>
  readonly camera: boolean
  readonly mic: boolean
  readonly socket: SignalingSocket
  on<E extends keyof CallEvents>(event: E, listener: CallEvents[E]): () => void
  off<E extends keyof CallEvents>(event: E, listener: CallEvents[E]): void
  /** Turns the camera on or off (the track's `enabled`) and tells the others. */
  setCamera(on: boolean): Promise<void>
  setMic(on: boolean): Promise<void>
  /**
   * Sends another track of that kind, or none (null): a screen share, a camera switch. No
   * renegotiation unless the call sent no track of that kind before. The call's localStream is
   * updated too (so a preview of it shows the new track); the old track is not stopped.
   */
  replaceTrack(kind: MediaKind, track: MediaStreamTrack | null): Promise<void>
  /** Restarts ICE on every connection (the call does so by itself when one goes down). */
  restartIce(): void
  /** Frees the seat and closes every connection. */
  leave(): Promise<void>
}

type PeerState = { -readonly [K in keyof Peer]: Peer[K] }

/** What each request's ack carries on success (docs/protocol.md). */
interface Answers {
  'create-room': RoomJoined
  'join-room': RoomJoined
  'leave-room': LeftRoom
  'camera-mic-status': MediaStatus
  'ice-servers': IceServers
}

/** Sends a request; resolves with the server's answer, or rejects with a CallError carrying its code. */
async function request<E extends keyof Answers>(socket: SignalingSocket, event: E, payload: object, timeout: number): Promise<AckSuccess<Answers[E]>> {
  let result: AckResult<object>
  try {
    result = (await (socket as unknown as Socket).timeout(timeout).emitWithAck(event, payload)) as AckResult<object>
  } catch {
    throw new CallError('TIMEOUT', `The server did not answer ${event} in time.`)
  }
  if (!result.success) throw new CallError(result.code, result.error)
  return result as AckSuccess<Answers[E]>
}

function connected(socket: SignalingSocket): Promise<void> {
  if (socket.connected) return Promise.resolve()
  return new Promise((resolve, reject) => {
    const settle = (error?: Error): void => {
      socket.off('connect', onConnect)
      socket.off('connect_error', settle)
      if (error) reject(new CallError('CONNECT_FAILED', error.message))
      else resolve()
    }
    const onConnect = (): void => settle()
    socket.on('connect', onConnect)
    socket.on('connect_error', settle)
    socket.connect()
  })
}

/** Joins (or creates) a room, and connects to everyone in it. */
export async function joinCall(options: JoinCallOptions): Promise<Call> {
  const { username, roomId, timeout = REQUEST_TIMEOUT_MS } = options
  const owned = options.socket === undefined
  if (owned && options.url === undefined) throw new TypeError('joinCall needs a url or a socket')
  const socket: SignalingSocket =
    options.socket ?? io(options.url, { ...options.socketOptions, auth: options.token === undefined ? undefined : { token: options.token } })
  try {
    await connected(socket)
    const joined =
      roomId === undefined
        ? await request(socket, 'create-room', { username }, timeout)
        : await request(socket, 'join-room', { roomId, username }, timeout)
    return startCall(socket, joined, options, owned)
  } catch (err) {
    if (owned) socket.disconnect()
    throw err
  }
}

function startCall(socket: SignalingSocket, joined: RoomJoined, options: JoinCallOptions, owned: boolean): Call {
  const { localStream: stream, timeout = REQUEST_TIMEOUT_MS } = options
  const emitter = createEmitter<CallEvents>()
  const selfId = socket.id!
  const peers = new Map<string, PeerState>()
  const links = new Map<string, PeerLink>()
  let iceServers: IceServer[] = joined.iceServers ?? []
  let iceTimer: ReturnType<typeof setTimeout> | undefined
  let probe: Promise<boolean> | undefined
  let ended = false
  const enabled = (tracks: MediaStreamTrack[]): boolean => tracks.some((track) => track.enabled)
  const media = { camera: enabled(stream.getVideoTracks()), mic: enabled(stream.getAudioTracks()) }

  // Events from now until the caller has its Call (and its listeners) wait, so that none is missed:
  // one packet batch may hold the join's answer and the next events.
  let waiting: Array<() => void> | undefined = []
  setTimeout(() => {
    for (const deliver of waiting!) deliver()
    waiting = undefined
  })
  const emit: typeof emitter.emit = (event, ...args) => {
    if (waiting) waiting.push(() => emitter.emit(event, ...args))
    else emitter.emit(event, ...args)
  }

  function sendSignal(to: string, signal: Signal): boolean {
    if (!socket.connected) return false
    socket.emit('signal', { to, signal }, (result) => {
      // A member who just left: their user-left is on its way.
      if (!result.success && result.code !== 'PEER_NOT_FOUND') emit('error', new CallError(result.code, result.error))
    })
    return true
  }

  /** Force a new transport now: the old one may be dead without knowing it (a network change). */
  function reconnectNow(): void {
    if (ended) return
    if (socket.connected) socket.io.engine.close()
    // Skips socket.io-client's backoff; the session (and the seat) is recovered all the same.
    socket.disconnect().connect()
  }

  /** Does the signaling socket still work? Asks the server (fresh TURN credentials, too). */
  function checkSignaling(): Promise<boolean> {
    if (!socket.connected) return Promise.resolve(false)
    probe ??= refreshIceServers(PROBE_TIMEOUT_MS).then(
      () => true,
      () => {
        reconnectNow()
        return false
      }
    ).finally(() => (probe = undefined))
    return probe
  }

  async function refreshIceServers(wait = timeout): Promise<void> {
    const fresh: IceServers = await request(socket, 'ice-servers', {}, wait)
    if (ended) return
    iceServers = fresh.iceServers
    for (const link of links.values()) link.setIceServers(iceServers)
    scheduleIceRefresh(fresh.expiresAt)
  }

  /** TURN credentials expire: fetch new ones a minute (or a fifth of their life) before. */
  function scheduleIceRefresh(expiresAt: number | null | undefined): void {
    clearTimeout(iceTimer)
    if (expiresAt == null || ended) return
    const left = expiresAt - Date.now()
    const delay = Math.min(Math.max(left - Math.min(60_000, left / 5), 10_000), 2 ** 31 - 1)
    iceTimer = setTimeout(() => refreshIceServers().catch(() => scheduleIceRefresh(Date.now() + 12_500)), delay)
  }

  function addPeer(member: Member, offerFirst: boolean): void {
    if (member.id === selfId || peers.has(member.id)) return
    const link = createPeerLink({
      // The joiner gives way (the server orders joins, so both sides agree). Not the other way round:
      // in Chromium, a first answerer that rolls back its own ICE-restart offer stops showing the
      // other's video (docs/client.md).
      polite: offerFirst,
      offerFirst,
      stream,
      configuration: { iceServers },
      send: (signal) => sendSignal(member.id, signal),
      checkSignaling,
      onTrack(remote) {
        peer.stream = remote
        emit('peer-stream', peer, remote)
      },
      onStateChange() {
        peer.state = link.connection.connectionState
        emit('peer-state', peer)
      }
    })
    const peer: PeerState = { ...member, stream: undefined, state: link.connection.connectionState, away: false, connection: link.connection }
    peers.set(member.id, peer)
    links.set(member.id, link)
    emit('peer-joined', peer)
  }

  function removePeer(id: string): void {
    const peer = peers.get(id)
    if (!peer) return
    links.get(id)!.close()
    links.delete(id)
    peers.delete(id)
    emit('peer-left', peer)
  }

  const onOnline = (): void => {
    if (!socket.connected) reconnectNow()
    else void checkSignaling()
  }

  const handlers: { [E in keyof ServerToClientEvents]?: ServerToClientEvents[E] } = {
    'user-joined': (member) => addPeer(member, false),
    'user-left': removePeer,
    'user-away': ({ id }) => setAway(id, true),
    'user-back': ({ id }) => setAway(id, false),
    signal: ({ from, signal }) => links.get(from)?.receive(signal),
    'camera-mic-status': ({ id, camera, mic }) => {
      const peer = peers.get(id)
      if (!peer) return
      Object.assign(peer, { camera, mic })
      emit('peer-media', peer)
    },
    error: (message) => {
      const error = errorFromMessage(message)
      if (error.code === 'SEAT_LOST') end(error)
      else emit('error', error)
    }
  }

  function setAway(id: string, away: boolean): void {
    const peer = peers.get(id)
    if (!peer) return
    peer.away = away
    emit('peer-state', peer)
  }

  const onConnect = (): void => {
    if (!socket.recovered) {
      // A new connection, not our old one back: the seat is gone.
      end(new CallError('SEAT_LOST', SEAT_LOST_MESSAGE))
      return
    }
    emit('reconnected')
    for (const link of links.values()) link.resync()
    refreshIceServers().catch(() => {})
  }
  const onDisconnect = (reason: Socket.DisconnectReason): void => {
    if (reason === 'io server disconnect') end(new CallError('DISCONNECTED', 'The server closed the connection.'))
    // Our own socket.disconnect() (not leave()): the server freed the seat at once.
    else if (reason === 'io client disconnect') end(new CallError('DISCONNECTED', 'The socket was closed.'))
    else emit('reconnecting')
  }

  function detach(): void {
    for (const [event, handler] of Object.entries(handlers)) socket.off(event as keyof ServerToClientEvents, handler)
    socket.off('connect', onConnect)
    socket.off('disconnect', onDisconnect)
    globalThis.removeEventListener?.('online', onOnline)
  }

  function end(error?: CallError): void {
    if (ended) return
    ended = true
    detach()
    clearTimeout(iceTimer)
    for (const link of links.values()) link.close()
    links.clear()
    emit('ended', error)
    if (owned && error) socket.disconnect()
  }

  for (const [event, handler] of Object.entries(handlers)) socket.on(event as keyof ServerToClientEvents, handler)
  socket.on('connect', onConnect)
  socket.on('disconnect', onDisconnect)
  // The browser saw a network come back: the socket may be stuck on a transport that died with the old one.
  globalThis.addEventListener?.('online', onOnline)

  for (const member of joined.users) addPeer(member, true)
  scheduleIceRefresh(joined.iceServersExpireAt)
  // A seat starts with camera and microphone on.
  if (!media.camera || !media.mic) request(socket, 'camera-mic-status', media, timeout).catch((error: CallError) => emit('error', error))

  async function setMedia(kind: MediaKind, on: boolean): Promise<void> {
    for (const track of kind === 'video' ? stream.getVideoTracks() : stream.getAudioTracks()) track.enabled = on
    media[kind === 'video' ? 'camera' : 'mic'] = on
    await request(socket, 'camera-mic-status', { ...media }, timeout)
  }

  return {
    roomId: joined.roomId,
    id: selfId,
    peers,
    get camera() {
      return media.camera
    },
    get mic() {
      return media.mic
    },
    socket,
    on: emitter.on,
    off: emitter.off,
    setCamera: (on) => setMedia('video', on),
    setMic: (on) => setMedia('audio', on),
    async replaceTrack(kind, track) {
      for (const old of kind === 'video' ? stream.getVideoTracks() : stream.getAudioTracks()) stream.removeTrack(old)
      if (track) {
        track.enabled = kind === 'video' ? media.camera : media.mic
        stream.addTrack(track)
      }
      await Promise.all([...links.values()].map((link) => link.replaceTrack(kind, track)))
    },
    restartIce() {
      for (const link of links.values()) link.restartIce()
    },
    async leave() {
      if (ended) return
      // A socket of the caller's that is reconnecting sends it once back; ours just closes, which frees the seat too.
      const left = owned && !socket.connected ? undefined : request(socket, 'leave-room', { roomId: joined.roomId }, timeout)
      end()
      try {
        await left
      } finally {
        if (owned) socket.disconnect()
      }
    }
  }
}
