/// <reference lib="dom" />
/**
 * The client and the seed app's frontend in one call: test/fixtures/seed-frontend stands in for that
 * frontend (simple-peer 9, trickle: false; the joiner is the initiator, signals from unknown peers
 * are dropped, shared/seed/FRONTEND.md). The client speaks simple-peer's signal shapes, and makes
 * the first offer only as the joiner, so that it meets simple-peer's roles in both join orders.
 */
import type { Page } from 'playwright-core'
import t from 'tap'
import type { Call } from 'signaling-server/client'
import { launchChromium, playingVideos } from './browser-helper.js'
import { openClientPage, startCall } from './client-helper.js'
import { buildServer } from './helper.js'

declare const call: Call

const playingRemotes = (page: Page, count: number): Promise<void> => playingVideos(page, '.tile.remote video', count)

t.test('a client page and a simple-peer page in one call, whichever joins first', async (t) => {
  const browser = await launchChromium(t)
  if (!browser) return
  const { url } = await buildServer(t)

  // Ada (client) creates the room; Grace (seed) joins it: simple-peer offers to the client.
  const ada = await openClientPage(browser)
  const { roomId } = await startCall(ada, { server: url, username: 'Ada' })
  const grace = await openClientPage(browser, { path: `/seed/?server=${encodeURIComponent(url)}&name=grace` })
  // The page's module sets window.signaling once it has loaded: until then there is nothing to read.
  await grace.waitForFunction(() => (window as unknown as { signaling?: { connected: boolean } }).signaling?.connected === true)
  await grace.locator('#room-input').fill(roomId)
  await grace.locator('#join').click()
  await grace.locator('#call').waitFor({ state: 'visible' })
  await Promise.all([playingRemotes(ada, 1), playingRemotes(grace, 1)])
  t.pass('the seed frontend joined the client\'s room (simple-peer made the offer): each plays the other')

  // Edsger (client) joins after both: the client offers to simple-peer, which answers.
  const edsger = await openClientPage(browser)
  await startCall(edsger, { server: url, username: 'Edsger', roomId })
  await Promise.all([ada, grace, edsger].map((page) => playingRemotes(page, 2)))
  t.pass('a client joined a room with the seed frontend in it (the client made the offer): all three play both others')

  const graceId = await grace.evaluate(() => (window as unknown as { signaling: { id: string } }).signaling.id)
  await grace.locator('#toggle-camera').click()
  for (const page of [ada, edsger]) await page.waitForFunction((id) => call.peers.get(id)?.camera === false, graceId)
  t.pass('the seed frontend\'s camera-mic-status reaches the client as peer.camera')

  const ufrag = (page: Page, id: string): Promise<string | undefined> =>
    page.evaluate((id) => /a=ice-ufrag:(\S+)/.exec(call.peers.get(id)?.connection.currentRemoteDescription?.sdp ?? '')?.[1], id)
  const before = await ufrag(ada, graceId)
  await ada.evaluate(() => call.restartIce())
  await ada.waitForFunction(({ id, before }) => /a=ice-ufrag:(\S+)/.exec(call.peers.get(id)?.connection.currentRemoteDescription?.sdp ?? '')?.[1] !== before, { id: graceId, before })
  await ada.waitForFunction((id) => call.peers.get(id)?.connection.connectionState === 'connected', graceId)
  await Promise.all([playingRemotes(ada, 2), playingRemotes(grace, 2)])
  t.pass('an ICE restart from the client: simple-peer answers the restart offer (its peer lives on), and the media plays on')

  await grace.locator('#leave').click()
  for (const page of [ada, edsger]) await page.waitForFunction((id) => !call.peers.has(id), graceId)
  await Promise.all([ada, edsger].map((page) => playingRemotes(page, 1)))
  t.pass('the seed frontend left: the clients dropped it and still play each other')
})
