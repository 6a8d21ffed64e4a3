/**
 * The reference client: a small mesh video call (up to four people) through the signaling server,
 * with the browser's own RTCPeerConnection. It is typed with the server's exported protocol, and
 * works served by the server itself or from any other origin (`?server=https://signal.example`).
 *
 * Signals use simple-peer's shapes, which the seed's frontends sent: `{ type: 'offer' | 'answer',
 * sdp }` and `{ type: 'candidate', candidate }`. The member who joins makes the offers, so two
 * peers never offer to each other at once.
 */
import { io, type Socket } from 'socket.io-client'
import type { AckResult, ClientToServerEvents, IceServer, IceServers, Member, RoomJoined, ServerToClientEvents } from '../src/protocol.js'

type Signal =
  | { type: 'offer' | 'answer'; sdp: string }
  | { type: 'candidate'; candidate: RTCIceCandidateInit }

interface Peer {
  member: Member
  connection: RTCPeerConnection
  tile: HTMLLIElement
  /** Candidates that arrived before the remote description. */
  pending: RTCIceCandidateInit[]
}

const params = new URLSearchParams(location.search)
const serverUrl = params.get('server') ?? location.origin
// A sign-in token may be handed over in the URL; take it out at once so that it never ends up in
// an invitation link, the history or a screenshot.
const token = params.get('token')
if (token !== null) {
  params.delete('token')
  history.replaceState(null, '', `${location.pathname}${params.size > 0 ? `?${params}` : ''}`)
}
const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io(serverUrl, {
  transports: params.get('transports') === 'websocket' ? ['websocket'] : undefined,
  auth: token !== null ? { token } : undefined
})

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T
const ui = {
  status: $('status'),
  error: $<HTMLParagraphElement>('error'),
  lobby: $('lobby'),
  form: $<HTMLFormElement>('lobby-form'),
  name: $<HTMLInputElement>('name'),
  room: $<HTMLInputElement>('room'),
  enter: $<HTMLButtonElement>('enter'),
  call: $('call'),
  roomCode: $('room-code'),
  roomLink: $<HTMLAnchorElement>('room-link'),
  camera: $<HTMLButtonElement>('toggle-camera'),
  mic: $<HTMLButtonElement>('toggle-mic'),
  leave: $<HTMLButtonElement>('leave'),
  tiles: $<HTMLUListElement>('tiles')
}

const peers = new Map<string, Peer>()
let localStream: MediaStream | undefined
let iceServers: IceServer[] = []
/** When the TURN credentials in iceServers expire (epoch ms); null when there are none. */
let iceExpiresAt: number | null = null
let roomId: string | undefined

function showError(message: string): void {
  ui.error.textContent = message
  ui.error.hidden = false
}

function clearError(): void {
  ui.error.hidden = true
  ui.error.textContent = ''
}

function setStatus(text: string, reconnecting = false): void {
  ui.status.textContent = text
  ui.status.classList.toggle('reconnecting', reconnecting)
}

function updateEnterLabel(): void {
  ui.enter.textContent = ui.room.value.trim() === '' ? 'Start a new call' : 'Join call'
}

function createTile(id: string, name: string, stream?: MediaStream, isLocal = false): HTMLLIElement {
  const tile = document.createElement('li')
  tile.className = 'tile'
  tile.dataset.peerId = id
  const video = document.createElement('video')
  video.autoplay = true
  video.playsInline = true
  // Our own tile must not play our microphone back to us.
  video.muted = isLocal
  video.setAttribute('aria-label', isLocal ? 'Your camera' : `${name}'s camera`)
  if (stream) video.srcObject = stream
  const label = document.createElement('div')
  label.className = 'label'
  const nameEl = document.createElement('p')
  nameEl.className = 'name'
  nameEl.textContent = isLocal ? `${name} (you)` : name
  const state = document.createElement('p')
  state.className = 'state'
  state.setAttribute('aria-live', 'polite')
  label.append(nameEl, state)
  tile.append(video, label)
  ui.tiles.append(tile)
  return tile
}

function showMediaState(tile: HTMLElement, camera: boolean, mic: boolean): void {
  tile.classList.toggle('camera-off', !camera)
  const words = [camera ? '' : 'Camera off', mic ? '' : 'Muted'].filter(Boolean)
  const state = tile.querySelector('.state')
  if (state) state.textContent = words.join(' · ')
}

function sendSignal(to: string, signal: Signal): void {
  socket.emit('signal', { to, signal }, (result) => {
    if (!result.success) console.warn('signal refused', result.code)
  })
}

function addPeer(member: Member): Peer {
  const existing = peers.get(member.id)
  if (existing) return existing
  const connection = new RTCPeerConnection({ iceServers })
  const tile = createTile(member.id, member.username)
  showMediaState(tile, member.camera, member.mic)
  const peer: Peer = { member, connection, tile, pending: [] }
  peers.set(member.id, peer)

  for (const track of localStream?.getTracks() ?? []) connection.addTrack(track, localStream!)
  connection.addEventListener('icecandidate', ({ candidate }) => {
    if (candidate) sendSignal(member.id, { type: 'candidate', candidate: candidate.toJSON() })
  })
  connection.addEventListener('track', ({ streams }) => {
    const video = tile.querySelector('video')
    if (video && streams[0] && video.srcObject !== streams[0]) video.srcObject = streams[0]
  })
  return peer
}

function removePeer(id: string): void {
  const peer = peers.get(id)
  if (!peer) return
  peer.connection.close()
  peer.tile.remove()
  peers.delete(id)
}

/** TURN credentials expire (TURN_TTL_S); fetch fresh ones before a new peer connection needs them. */
async function refreshIceServers(): Promise<void> {
  if (iceExpiresAt === null || Date.now() < iceExpiresAt - 60_000) return
  const result = (await socket.timeout(5000).emitWithAck('ice-servers')) as AckResult<IceServers>
  if (result.success) {
    iceServers = result.iceServers
    iceExpiresAt = result.expiresAt
  }
}

async function offerTo(member: Member): Promise<void> {
  await refreshIceServers()
  const { connection } = addPeer(member)
  await connection.setLocalDescription(await connection.createOffer())
  sendSignal(member.id, { type: 'offer', sdp: connection.localDescription!.sdp })
}

async function onSignal(from: string, signal: Signal): Promise<void> {
  if (!peers.has(from)) await refreshIceServers()
  const peer = peers.get(from) ?? addPeer({ id: from, username: '…', camera: true, mic: true })
  const { connection } = peer
  if (signal.type === 'candidate') {
    if (connection.remoteDescription) await connection.addIceCandidate(signal.candidate)
    else peer.pending.push(signal.candidate)
    return
  }
  await connection.setRemoteDescription({ type: signal.type, sdp: signal.sdp })
  for (const candidate of peer.pending.splice(0)) await connection.addIceCandidate(candidate)
  if (signal.type === 'offer') {
    await connection.setLocalDescription(await connection.createAnswer())
    sendSignal(from, { type: 'answer', sdp: connection.localDescription!.sdp })
  }
}

async function startMedia(name: string): Promise<void> {
  if (!localStream) {
    localStream = await navigator.mediaDevices.getUserMedia({
      video: { width: 320, height: 240, frameRate: 15 },
      audio: true
    })
  }
  ui.tiles.replaceChildren()
  createTile('local', name, localStream, true)
}

function enterCall(id: string, users: Member[], servers: IceServer[] | undefined, expiresAt: number | null | undefined): void {
  roomId = id
  iceServers = servers ?? iceServers
  iceExpiresAt = expiresAt ?? null
  // A seat starts with camera and microphone on; tell the room if ours are not.
  const camera = ui.camera.getAttribute('aria-pressed') === 'true'
  const mic = ui.mic.getAttribute('aria-pressed') === 'true'
  if (!camera || !mic) socket.emit('camera-mic-status', { camera, mic })
  ui.roomCode.textContent = id
  const link = new URL(location.href)
  link.searchParams.set('room', id)
  ui.roomLink.href = link.toString()
  ui.roomLink.textContent = link.toString()
  ui.lobby.hidden = true
  ui.call.hidden = false
  history.replaceState(null, '', link)
  setStatus(`In room ${id}`)
  for (const member of users) {
    if (member.id !== socket.id) offerTo(member).catch((err: unknown) => console.error(err))
  }
}

function leaveCall(message?: string): void {
  for (const id of [...peers.keys()]) removePeer(id)
  roomId = undefined
  ui.tiles.replaceChildren()
  ui.call.hidden = true
  ui.lobby.hidden = false
  setStatus('Connected')
  if (message) showError(message)
}

ui.room.value = params.get('room') ?? ''
updateEnterLabel()
ui.room.addEventListener('input', updateEnterLabel)

ui.form.addEventListener('submit', (event) => {
  event.preventDefault()
  clearError()
  const name = ui.name.value.trim()
  const room = ui.room.value.trim()
  ui.enter.disabled = true
  startMedia(name)
    .then(() => {
      const answer = (result: AckResult<RoomJoined>) => {
        ui.enter.disabled = false
        if (!result.success) showError(result.error)
        else enterCall(result.roomId, result.users, result.iceServers, result.iceServersExpireAt)
      }
      if (room === '') socket.emit('create-room', { username: name }, answer)
      else socket.emit('join-room', { roomId: room, username: name }, answer)
    })
    .catch((err: unknown) => {
      ui.enter.disabled = false
      showError(`Camera or microphone unavailable: ${(err as Error).message}`)
    })
})

function toggle(kind: 'video' | 'audio', button: HTMLButtonElement, on: string, off: string): void {
  const tracks = kind === 'video' ? localStream?.getVideoTracks() : localStream?.getAudioTracks()
  const enabled = !(tracks?.[0]?.enabled ?? true)
  for (const track of tracks ?? []) track.enabled = enabled
  button.setAttribute('aria-pressed', String(enabled))
  button.textContent = enabled ? on : off
  const camera = ui.camera.getAttribute('aria-pressed') === 'true'
  const mic = ui.mic.getAttribute('aria-pressed') === 'true'
  const local = ui.tiles.querySelector<HTMLElement>('[data-peer-id="local"]')
  if (local) showMediaState(local, camera, mic)
  if (roomId) socket.emit('camera-mic-status', { camera, mic })
}
ui.camera.addEventListener('click', () => toggle('video', ui.camera, 'Camera on', 'Camera off'))
ui.mic.addEventListener('click', () => toggle('audio', ui.mic, 'Microphone on', 'Microphone off'))
ui.leave.addEventListener('click', () => {
  socket.emit('leave-room')
  leaveCall()
})

// For the end-to-end tests (and the curious): which transports this page went through.
socket.io.on('open', () => {
  const { engine } = socket.io
  document.documentElement.dataset.firstTransport ??= engine.transport.name
  document.documentElement.dataset.transport = engine.transport.name
  engine.on('upgrade', () => (document.documentElement.dataset.transport = engine.transport.name))
})

socket.on('connect', () => {
  if (socket.recovered) {
    setStatus(roomId ? `In room ${roomId}` : 'Connected')
    return
  }
  if (roomId) leaveCall('The connection was lost for too long and you left the call. Join again.')
  else setStatus('Connected')
})
socket.on('disconnect', (reason) => {
  if (reason === 'io client disconnect') return
  setStatus('Reconnecting…', true)
})
socket.on('connect_error', (err) => {
  setStatus('Cannot reach the server. Retrying…', true)
  if (err.message.startsWith('Authentication')) showError(err.message)
})
socket.on('error', (message) => {
  // The one error that ends the call: the seat was lost while the connection was away.
  if (message.startsWith('You lost your place in the room')) leaveCall(message)
  else showError(message)
})
socket.on('user-joined', (member) => {
  if (member.id !== socket.id) addPeer(member)
})
socket.on('user-left', (id) => removePeer(id))
socket.on('user-away', ({ id }) => peers.get(id)?.tile.classList.add('away'))
socket.on('user-back', ({ id }) => peers.get(id)?.tile.classList.remove('away'))
socket.on('camera-mic-status', ({ id, camera, mic }) => {
  const peer = peers.get(id)
  if (peer) showMediaState(peer.tile, camera, mic)
})
socket.on('signal', ({ from, signal }) => {
  onSignal(from, signal as Signal).catch((err: unknown) => console.error('signal failed', err))
})
