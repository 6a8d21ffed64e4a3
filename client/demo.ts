/**
 * The demo page: a mesh video call (up to four people) on signaling-server/client. It works
 * served by the server itself or from any other origin (`?server=https://signal.example`).
 */
import { io } from 'socket.io-client'
import { joinCall, type Call, type Peer, type SignalingSocket } from './index.js'

const params = new URLSearchParams(location.search)
// A sign-in token may be handed over in the URL; take it out at once so that it never ends up in
// an invitation link, the history or a screenshot.
const token = params.get('token')
if (token !== null) {
  params.delete('token')
  history.replaceState(null, '', `${location.pathname}${params.size > 0 ? `?${params}` : ''}`)
}
// One socket for the page's life, so that the lobby shows whether the server is reachable.
const socket: SignalingSocket = io(params.get('server') ?? location.origin, {
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

let call: Call | undefined
let localStream: MediaStream | undefined

function showError(message: string): void {
  ui.error.textContent = message
  ui.error.hidden = message === ''
}

function setStatus(text: string, reconnecting = false): void {
  ui.status.textContent = text
  ui.status.classList.toggle('reconnecting', reconnecting)
}

function createTile(id: string, name: string, isLocal = false): HTMLLIElement {
  const tile = document.createElement('li')
  tile.className = 'tile'
  tile.dataset.peerId = id
  const video = document.createElement('video')
  video.autoplay = video.playsInline = true
  // Our own tile must not play our microphone back to us.
  video.muted = isLocal
  video.setAttribute('aria-label', isLocal ? 'Your camera' : `${name}'s camera`)
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

const tileOf = (id: string): HTMLElement | null => ui.tiles.querySelector(`[data-peer-id="${CSS.escape(id)}"]`)

function showMediaState(tile: HTMLElement | null, camera: boolean, mic: boolean): void {
  tile?.classList.toggle('camera-off', !camera)
  const state = tile?.querySelector('.state')
  if (state) state.textContent = [camera ? '' : 'Camera off', mic ? '' : 'Muted'].filter(Boolean).join(' · ')
}

function enterCall(joined: Call, name: string): void {
  call = joined
  const link = new URL(location.href)
  link.searchParams.set('room', joined.roomId)
  ui.roomCode.textContent = joined.roomId
  ui.roomLink.href = ui.roomLink.textContent = link.toString()
  history.replaceState(null, '', link)
  ui.tiles.replaceChildren()
  createTile('local', name, true).querySelector('video')!.srcObject = localStream!
  showMediaState(tileOf('local'), joined.camera, joined.mic)
  ui.lobby.hidden = true
  ui.call.hidden = false
  setStatus(`In room ${joined.roomId}`)

  joined.on('peer-joined', (peer: Peer) => showMediaState(createTile(peer.id, peer.username), peer.camera, peer.mic))
  joined.on('peer-stream', (peer, stream) => {
    const video = tileOf(peer.id)?.querySelector('video')
    if (video && video.srcObject !== stream) video.srcObject = stream
  })
  joined.on('peer-media', (peer) => showMediaState(tileOf(peer.id), peer.camera, peer.mic))
  joined.on('peer-state', (peer) => tileOf(peer.id)?.classList.toggle('away', peer.away))
  joined.on('peer-left', (peer) => tileOf(peer.id)?.remove())
  joined.on('reconnecting', () => setStatus('Reconnecting…', true))
  joined.on('reconnected', () => setStatus(`In room ${joined.roomId}`))
  joined.on('error', (error) => showError(error.message))
  joined.on('ended', (error) => {
    call = undefined
    ui.tiles.replaceChildren()
    ui.call.hidden = true
    ui.lobby.hidden = false
    setStatus(socket.connected ? 'Connected' : 'Reconnecting…', !socket.connected)
    if (error) showError(error.message)
  })
}

function updateEnterLabel(): void {
  ui.enter.textContent = ui.room.value.trim() === '' ? 'Start a new call' : 'Join call'
}
ui.room.value = params.get('room') ?? ''
updateEnterLabel()
ui.room.addEventListener('input', updateEnterLabel)

ui.form.addEventListener('submit', (event) => {
  event.preventDefault()
  showError('')
  const name = ui.name.value.trim()
  const roomId = ui.room.value.trim() || undefined
  ui.enter.disabled = true
  const camera = ui.camera.getAttribute('aria-pressed') === 'true'
  const mic = ui.mic.getAttribute('aria-pressed') === 'true'
  const media = localStream
    ? Promise.resolve(localStream)
    : navigator.mediaDevices.getUserMedia({ video: { width: 320, height: 240, frameRate: 15 }, audio: true }).catch((err: Error) => {
        throw new Error(`Camera or microphone unavailable: ${err.message}`)
      })
  media
    .then((stream) => {
      localStream = stream
      for (const track of stream.getVideoTracks()) track.enabled = camera
      for (const track of stream.getAudioTracks()) track.enabled = mic
      return joinCall({ socket, username: name, roomId, localStream: stream })
    })
    .then((joined) => enterCall(joined, name))
    .catch((err: Error) => showError(err.message))
    .finally(() => (ui.enter.disabled = false))
})

function toggle(button: HTMLButtonElement, on: string, off: string): boolean {
  const enabled = button.getAttribute('aria-pressed') !== 'true'
  button.setAttribute('aria-pressed', String(enabled))
  button.textContent = enabled ? on : off
  return enabled
}
ui.camera.addEventListener('click', () => {
  const on = toggle(ui.camera, 'Camera on', 'Camera off')
  call?.setCamera(on).catch((err: Error) => showError(err.message))
  showMediaState(tileOf('local'), on, call?.mic ?? true)
})
ui.mic.addEventListener('click', () => {
  const on = toggle(ui.mic, 'Microphone on', 'Microphone off')
  call?.setMic(on).catch((err: Error) => showError(err.message))
  showMediaState(tileOf('local'), call?.camera ?? true, on)
})
ui.leave.addEventListener('click', () => void call?.leave().catch(() => {}))

// For the end-to-end tests (and the curious): which transports this page went through.
socket.io.on('open', () => {
  const { engine } = socket.io
  document.documentElement.dataset.firstTransport ??= engine.transport.name
  document.documentElement.dataset.transport = engine.transport.name
  engine.on('upgrade', () => (document.documentElement.dataset.transport = engine.transport.name))
})
// Outside a call; in one, the call's reconnecting/reconnected events say it.
socket.on('connect', () => call || setStatus('Connected'))
socket.on('disconnect', () => call || setStatus('Reconnecting…', true))
socket.on('connect_error', (err) => {
  if (call) return
  setStatus('Cannot reach the server. Retrying…', true)
  if (err.message.startsWith('Authentication')) showError(err.message)
})
