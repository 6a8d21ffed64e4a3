/// <reference lib="dom" />
/**
 * Glare: two pages renegotiate at the same instant (ICE restarts, as both sides of a broken link
 * make them), so that their offers cross. Perfect negotiation must settle it (the polite side rolls
 * its offer back), with no deadlock, and the media must play afterwards. Each page counts, beneath
 * the client, the offers it applied while an offer of its own was outstanding (proof that the
 * offers did cross) and every local description it set. Replacing tracks, a camera turned on later
 * included, must need no negotiation at all.
 */
import type { Page } from 'playwright-core'
import t from 'tap'
import type { Call } from 'signaling-server/client'
import { launchChromium, playingVideos } from './browser-helper.js'
import { openClientPage, receivingMedia, startCall } from './client-helper.js'
import { buildServer } from './helper.js'

declare const call: Call
declare function newCameraTrack(): Promise<MediaStreamTrack>

interface Observed {
  /** Remote offers applied over an offer of this page's own: a glare settled by rollback. */
  glare: number
  /** Local descriptions set: offers, answers, rollbacks. */
  described: number
}

/** Runs before the page's scripts: watches its peer connections from the outside. */
function countGlare(): void {
  const observed = window as unknown as Observed
  observed.glare = 0
  observed.described = 0
  type Describe = (this: RTCPeerConnection, description?: RTCSessionDescriptionInit) => Promise<void>
  const proto = RTCPeerConnection.prototype as unknown as { setLocalDescription: Describe; setRemoteDescription: Describe }
  const { setLocalDescription, setRemoteDescription } = proto
  const settingLocal = new WeakMap<RTCPeerConnection, number>()
  proto.setLocalDescription = function (description) {
    observed.described++
    settingLocal.set(this, (settingLocal.get(this) ?? 0) + 1)
    return setLocalDescription.call(this, description).finally(() => settingLocal.set(this, settingLocal.get(this)! - 1))
  }
  proto.setRemoteDescription = function (description) {
    const ownOffer = this.signalingState === 'have-local-offer' || (settingLocal.get(this) ?? 0) > 0
    if (description?.type === 'offer' && ownOffer) observed.glare++
    return setRemoteDescription.call(this, description)
  }
}

const glareCount = (page: Page): Promise<number> => page.evaluate(() => (window as unknown as Observed).glare)
const describedCount = (page: Page): Promise<number> => page.evaluate(() => (window as unknown as Observed).described)
/** Both others' media arrive (the statistics) and the remote video plays. */
const mediaFlows = (pages: Page[]): Promise<unknown> =>
  Promise.all(pages.flatMap((page) => [receivingMedia(page, 1, 30_000), playingVideos(page, '.tile.remote video', 1, 30_000)]))

/** Runs `action` in every page at the same instant (one clock: the pages share a machine). */
async function atOnce(pages: Page[], action: 'replace-video' | 'restart-ice'): Promise<void> {
  const at = Date.now() + 500
  await Promise.all(
    pages.map((page) =>
      page.evaluate(
        ({ at, action }) =>
          new Promise<void>((resolve, reject) => {
            setTimeout(() => {
              const done = action === 'restart-ice' ? Promise.resolve(call.restartIce()) : call.replaceTrack('video', (window as unknown as { nextTrack: MediaStreamTrack }).nextTrack)
              done.then(resolve, reject)
            }, at - Date.now())
          }),
        { at, action }
      )
    )
  )
}

/** A fresh camera track in each page, ready for replaceTrack. */
const prepareTracks = (pages: Page[]): Promise<unknown> =>
  Promise.all(pages.map((page) => page.evaluate(async () => void ((window as unknown as { nextTrack: MediaStreamTrack }).nextTrack = await newCameraTrack()))))

/** The ICE username fragment of the page's remote description (changes with each ICE restart). */
const remoteUfrag = (page: Page): Promise<string | undefined> =>
  page.evaluate(() => /a=ice-ufrag:(\S+)/.exec([...call.peers.values()][0]?.connection.currentRemoteDescription?.sdp ?? '')?.[1])

/** Settled: connected, stable, nothing waiting for an answer. */
function settled(page: Page): Promise<unknown> {
  return page.waitForFunction(
    () => [...call.peers.values()].every((peer) => peer.connection.connectionState === 'connected' && peer.connection.signalingState === 'stable'),
    undefined,
    { timeout: 30_000 }
  )
}

t.test('glare: both sides renegotiate at the same instant, both succeed, the media plays', async (t) => {
  const browser = await launchChromium(t)
  if (!browser) return
  const { url } = await buildServer(t)
  const pages = await Promise.all([0, 1].map(() => openClientPage(browser, { initScript: countGlare })))
  const [ada, grace] = pages as [Page, Page]
  // Both start without a camera.
  const { roomId } = await startCall(ada, { server: url, username: 'Ada', audioOnly: true })
  await startCall(grace, { server: url, username: 'Grace', roomId, audioOnly: true })
  await Promise.all(pages.map(settled))
  t.same(await Promise.all(pages.map(glareCount)), [0, 0], 'joining makes no glare: the joiner offers, the other waits for it')

  // Turned on at the same instant: each connection negotiated a video sender from the start.
  await prepareTracks(pages)
  const describedBefore = await Promise.all(pages.map(describedCount))
  await atOnce(pages, 'replace-video')
  await mediaFlows(pages)
  t.same(await Promise.all(pages.map(describedCount)), describedBefore, 'both turned a camera on at once with no negotiation at all')
  t.pass('each plays the other\'s camera')

  // ICE restarts at the same instant, until the offers have crossed (they nearly always do at the
  // first try; the loop keeps the test from depending on the machine's timing).
  let glare = 0
  for (let round = 1; round <= 5 && glare === 0; round++) {
    const before = await Promise.all(pages.map(remoteUfrag))
    await atOnce(pages, 'restart-ice')
    await Promise.all(pages.map((page, i) => page.waitForFunction(
      (old) => /a=ice-ufrag:(\S+)/.exec([...call.peers.values()][0]?.connection.currentRemoteDescription?.sdp ?? '')?.[1] !== old,
      before[i], { timeout: 30_000 }
    )))
    await Promise.all(pages.map(settled))
    await mediaFlows(pages)
    glare = (await Promise.all(pages.map(glareCount))).reduce((a, b) => a + b)
    t.pass(`round ${round}: both restarted ICE at once; new ICE credentials on both sides, media flows (${glare} crossed offers)`)
  }
  t.ok(glare > 0, 'the offers crossed, and the polite side rolled its own back')

  // Replacing a track that is already sent needs no negotiation at all: nothing to cross.
  await prepareTracks(pages)
  const sent = await Promise.all(pages.map((page) => page.evaluate(() => (window as unknown as { nextTrack: MediaStreamTrack }).nextTrack.id)))
  await atOnce(pages, 'replace-video')
  await Promise.all(pages.map(settled))
  for (const [i, page] of pages.entries()) {
    const sending = await page.evaluate(() => [...call.peers.values()][0]!.connection.getSenders().map((sender) => sender.track?.id))
    t.ok(sending.includes(sent[i]), 'the new camera track is the one sent')
  }
  await mediaFlows(pages)
  t.pass('both replaced their video track with a new one at once: the videos still play')
})
