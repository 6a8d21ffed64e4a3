/**
 * One RTCPeerConnection to one member, negotiated with the W3C "perfect negotiation" pattern and
 * kept alive across network changes with ICE restarts. Why it is built this way: docs/client.md.
 */

export type MediaKind = 'audio' | 'video'

/**
 * What travels in `signal { to, signal }`: simple-peer's shapes, so that the seed's frontend
 * understands it. `round` is ours (simple-peer ignores it): an answer names the offer it answers,
 * so that a late answer to an offer rolled back after a reconnect is not applied to a newer one.
 */
export type Signal =
  | { type: 'offer' | 'answer'; sdp: string; round?: number }
  | { type?: 'candidate'; candidate: RTCIceCandidateInit }
  /** simple-peer's non-initiator asking the initiator (us) for an offer. */
  | { type?: 'renegotiate'; renegotiate: true }
  | { type?: 'transceiverRequest'; transceiverRequest: { kind: MediaKind; init?: RTCRtpTransceiverInit } }

/** A connection that stays `disconnected` this long gets an ICE restart; `failed` gets one at once. */
export const DISCONNECTED_RESTART_MS = 3000
/** While it has not recovered, the restart is tried again this often. */
export const RESTART_RETRY_MS = 5000
/** An offer unanswered this long is rolled back (it was lost), and negotiation starts again. */
export const OFFER_TIMEOUT_MS = 10_000

export interface PeerLinkOptions {
  /** The polite side gives way when both offer at once (it rolls its offer back). */
  polite: boolean
  /**
   * We joined after them, so we make the first offer, as the seed's frontend does. Otherwise we
   * wait for theirs and add our tracks to the transceivers it brings: no glare at the start.
   */
  offerFirst: boolean
  /** Our tracks; the call keeps it current (replaceTrack). */
  stream: MediaStream
  configuration: RTCConfiguration
  /** Sends a signal to the member; false when the signaling socket is down (nothing was sent). */
  send: (signal: Signal) => boolean
  onTrack(stream: MediaStream): void
  onStateChange(): void
  /** Resolves true when the signaling socket answers; false when it is down (and being reconnected). */
  checkSignaling(): Promise<boolean>
}

export interface PeerLink {
  readonly connection: RTCPeerConnection
  receive(signal: unknown): void
  replaceTrack(kind: MediaKind, track: MediaStreamTrack | null): Promise<void>
  restartIce(): void
  /** After the signaling socket was recovered: whatever was in flight may be lost, start again. */
  resync(): void
  setIceServers(iceServers: RTCIceServer[]): void
  close(): void
}

function parse(signal: unknown): Signal | undefined {
  if (typeof signal === 'string') {
    try {
      signal = JSON.parse(signal)
    } catch {
      return undefined
    }
  }
  return typeof signal === 'object' && signal !== null ? (signal as Signal) : undefined
}

export function createPeerLink(options: PeerLinkOptions): PeerLink {
  const { polite, stream, send } = options
  const pc = new RTCPeerConnection(options.configuration)
  const senders: Partial<Record<MediaKind, RTCRtpSender>> = {}
  let tracksAdded = false
  let makingOffer = false
  let ignoreOffer = false
  let closed = false
  /** Our offers are numbered; the one we wait an answer for, and the remote one we answer. */
  let rounds = 0
  let awaitedRound: number | undefined
  let answeringRound: number | undefined
  /** An answer made while the socket was down, sent once it is back. */
  let unsentAnswer: Signal | undefined
  /** Remote candidates that came before any remote description. */
  const early: RTCIceCandidateInit[] = []
  /** Our candidates, held while our description is being set, so that it goes out first. */
  const held: Signal[] = []
  let describing = 0
  let inbound = Promise.resolve()
  let healTimer: ReturnType<typeof setTimeout> | undefined

  /**
   * One sending transceiver per kind, with our track or none yet: turning a camera on later (or
   * switching it) is then `replaceTrack`, never a renegotiation. Before the first offer we add them;
   * answering the first offer, we take over the transceivers it brought.
   */
  function addTracks(): void {
    if (tracksAdded) return
    tracksAdded = true
    for (const kind of ['audio', 'video'] as const) {
      const track = stream.getTracks().find((candidate) => candidate.kind === kind)
      const offered = pc.getTransceivers().find((transceiver) => transceiver.receiver.track.kind === kind && !transceiver.sender.track && transceiver.mid !== null)
      // addTrack takes over an offered transceiver of its kind by itself.
      if (track) senders[kind] = pc.addTrack(track, stream)
      else if (!offered) senders[kind] = pc.addTransceiver(kind, { direction: 'sendrecv', streams: [stream] }).sender
      else {
        offered.direction = 'sendrecv'
        offered.sender.setStreams(stream)
        senders[kind] = offered.sender
      }
    }
  }

  /** Sets the next local description (offer or answer, as the state asks) and sends it. */
  async function describe(): Promise<void> {
    describing++
    try {
      await pc.setLocalDescription()
      const { type, sdp } = pc.localDescription!
      if (type === 'offer') {
        const round = (awaitedRound = ++rounds)
        unsentAnswer = undefined
        send({ type, sdp, round })
        setTimeout(() => {
          if (!closed && awaitedRound === round && pc.signalingState === 'have-local-offer') void rollback()
        }, OFFER_TIMEOUT_MS)
      } else if (type === 'answer') {
        const answer: Signal = { type, sdp, round: answeringRound }
        unsentAnswer = send(answer) ? undefined : answer
      }
    } finally {
      if (--describing === 0) for (const candidate of held.splice(0)) send(candidate)
    }
  }

  async function negotiate(): Promise<void> {
    if (closed) return
    try {
      makingOffer = true
      await describe()
    } catch (err) {
      console.warn('negotiation failed', err)
    } finally {
      makingOffer = false
    }
  }

  /** Back to stable; negotiationneeded fires again for whatever still needs negotiating. */
  function rollback(): Promise<void> {
    awaitedRound = undefined
    return pc.setLocalDescription({ type: 'rollback' }).catch(() => {})
  }

  async function addCandidate(candidate: RTCIceCandidateInit): Promise<void> {
    try {
      await pc.addIceCandidate(candidate)
    } catch {
      // A candidate of an offer we ignored, or of an ICE generation already replaced: harmless.
    }
  }

  async function handle(signal: Signal): Promise<void> {
    if (closed) return
    if ('sdp' in signal) {
      const { type, sdp, round } = signal
      if (type === 'answer') {
        // Not the answer to the offer we are waiting on: a late one, or a repeat.
        if (pc.signalingState !== 'have-local-offer' || (round !== undefined && round !== awaitedRound)) return
      } else {
        const collision = makingOffer || pc.signalingState !== 'stable'
        ignoreOffer = !polite && collision
        if (ignoreOffer) return
        answeringRound = round
        awaitedRound = undefined
      }
      // On the polite side, an offer over our own rolls ours back (implicit rollback).
      await pc.setRemoteDescription({ type, sdp })
      if (type === 'answer') awaitedRound = undefined
      for (const candidate of early.splice(0)) await addCandidate(candidate)
      if (type === 'offer') {
        addTracks()
        await describe()
      }
    } else if ('candidate' in signal) {
      if (!signal.candidate) return
      if (pc.remoteDescription) await addCandidate(signal.candidate)
      else early.push(signal.candidate)
    } else if ('renegotiate' in signal) {
      if (pc.signalingState === 'stable' && !makingOffer) await negotiate()
    } else if ('transceiverRequest' in signal) {
      pc.addTransceiver(signal.transceiverRequest.kind, signal.transceiverRequest.init)
    }
  }

  function restartIce(): void {
    if (!closed && pc.currentRemoteDescription) pc.restartIce()
  }

  /** While the connection is down: make sure signaling works, then restart ICE; again until it recovers. */
  async function heal(): Promise<void> {
    healTimer = undefined
    const state = pc.connectionState
    if (closed || state === 'connected' || state === 'new' || state === 'closed') return
    if (await options.checkSignaling()) restartIce()
    if (!closed && healTimer === undefined) healTimer = setTimeout(heal, RESTART_RETRY_MS)
  }

  function scheduleHeal(delay: number): void {
    clearTimeout(healTimer)
    healTimer = setTimeout(heal, delay)
  }

  pc.onnegotiationneeded = negotiate
  pc.onicecandidate = ({ candidate }) => {
    if (!candidate?.candidate) return
    const signal: Signal = { type: 'candidate', candidate: candidate.toJSON() }
    if (describing > 0) held.push(signal)
    else send(signal)
  }
  let remoteStream: MediaStream | undefined
  pc.ontrack = ({ track, streams }) => {
    let remote = streams[0]
    if (!remote) (remote = remoteStream ??= new MediaStream()).addTrack(track)
    options.onTrack(remote)
  }
  pc.onconnectionstatechange = () => {
    const state = pc.connectionState
    if (state === 'failed') scheduleHeal(0)
    else if (state === 'disconnected') scheduleHeal(DISCONNECTED_RESTART_MS)
    else if (state === 'connected') clearTimeout(healTimer)
    options.onStateChange()
  }

  if (options.offerFirst) addTracks()

  return {
    connection: pc,
    receive(raw) {
      const signal = parse(raw)
      if (signal) inbound = inbound.then(() => handle(signal)).catch((err: unknown) => console.warn('signal failed', err))
    },
    async replaceTrack(kind, track) {
      const sender = senders[kind]
      if (sender) await sender.replaceTrack(track)
      // Only when their first offer had no such kind (or has not come yet: the track goes in then).
      else if (track && tracksAdded) senders[kind] = pc.addTrack(track, stream)
    },
    restartIce,
    resync() {
      if (closed) return
      if (unsentAnswer && send(unsentAnswer)) unsentAnswer = undefined
      // Our offer may have died with the old connection; a late answer to it carries its round.
      if (pc.signalingState === 'have-local-offer') void rollback()
      restartIce()
    },
    setIceServers(iceServers) {
      try {
        pc.setConfiguration({ ...pc.getConfiguration(), iceServers })
      } catch (err) {
        console.warn('could not update the ICE servers', err)
      }
    },
    close() {
      closed = true
      clearTimeout(healTimer)
      pc.close()
    }
  }
}
