/// <reference lib="dom" />
/**
 * A real network change. Three browsers, each on its own test host (test-network.ts), in one call
 * through the client. One host's link goes down for 8 s and comes back with a new address, as when
 * a laptop moves from Wi-Fi to a phone's hotspot: its signaling socket is stuck on a dead transport
 * and its peer connections on a dead address. The media must flow again between all pages within
 * 10 s of the link's return, with nobody seeing user-left and everyone in the same seat.
 */
import type { Browser, Page } from 'playwright-core'
import t from 'tap'
import type { Call } from 'signaling-server/client'
import { launchChromium, playingVideos } from './browser-helper.js'
import { openClientPage, pageEvents, receivingMedia, startCall, type Joined } from './client-helper.js'
import { buildServer } from './helper.js'
import { createTestNetwork } from './test-network.js'

declare const call: Call

const OUTAGE_MS = 8000
/** The bound for the media to be back after the link returns. */
const MEDIA_BACK_MS = 10_000

/** The local address of each of the page's selected candidate pairs: where its media flows from. */
function mediaAddresses(page: Page): Promise<Array<string | undefined>> {
  return page.evaluate(() =>
    Promise.all(
      [...call.peers.values()].map(async (peer) => {
        const stats = [...(await peer.connection.getStats()).values()] as Array<Record<string, string>>
        const transport = stats.find((report) => report.type === 'transport' && report.selectedCandidatePairId)
        const pair = stats.find((report) => report.id === transport?.selectedCandidatePairId)
        return stats.find((report) => report.id === pair?.localCandidateId)?.address
      })
    )
  )
}

t.test('a host loses its network for 8 s and comes back with a new address: media back within 10 s, same seats', async (t) => {
  const network = createTestNetwork(t, 3)
  if (!network) return
  const { url, app } = await buildServer(t, {}, { host: network.serverAddress })
  const browsers: Browser[] = []
  for (const host of network.hosts) {
    const browser = await launchChromium(t, { executablePath: host.chromium })
    if (!browser) return
    browsers.push(browser)
  }
  const pages = await Promise.all(browsers.map((browser) => openClientPage(browser)))
  const names = ['Ada', 'Grace', 'Edsger']
  const first = await startCall(pages[0]!, { server: url, username: names[0]! })
  const joined: Joined[] = [first]
  for (const [i, page] of pages.slice(1).entries()) joined.push(await startCall(page, { server: url, username: names[i + 1]!, roomId: first.roomId }))
  /** Every page receives both others' media (the connections' statistics) and plays their videos. */
  const mediaFlows = (timeout?: number): Promise<unknown> =>
    Promise.all(pages.flatMap((page) => [receivingMedia(page, 2, timeout), playingVideos(page, '.tile.remote video', 2, timeout)]))
  await mediaFlows()
  const moving = network.hosts[2]!
  const movingPage = pages[2]!
  t.same(await mediaAddresses(movingPage), [moving.address, moving.address], `${names[2]}'s media flows from its address, ${moving.address}`)

  moving.linkDown()
  // The outage itself: how long the host is off the network is the scenario, not a wait for a state.
  await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS))
  const newAddress = network.freeAddress()
  moving.linkUp(newAddress)
  const back = Date.now()

  await mediaFlows(60_000)
  const seconds = (Date.now() - back) / 1000
  t.comment(`media flowed again between all three pages ${seconds.toFixed(1)} s after the link came back with a new address`)
  t.ok(seconds * 1000 < MEDIA_BACK_MS, `media back within ${MEDIA_BACK_MS / 1000} s of the link's return`)
  t.same(await mediaAddresses(movingPage), [newAddress, newAddress], `${names[2]}'s media now flows from its new address, ${newAddress}`)

  for (const [i, page] of pages.entries()) {
    const events = await pageEvents(page)
    t.same(events.filter(([, event]) => event === 'user-left' || event === 'peer-left' || event === 'ended'), [], `${names[i]} saw no user-left (nor peer-left, nor the call ending)`)
    t.equal(await page.evaluate(() => call.socket.id), joined[i]!.id, `${names[i]} is on the same socket id`)
    const peerIds = await page.evaluate(() => [...call.peers.keys()].sort())
    t.same(peerIds, joined.map((member) => member.id).filter((id) => id !== joined[i]!.id).sort(), `${names[i]} still has the same two peers`)
  }
  const movingEvents = (await pageEvents(movingPage)).map(([, event]) => event)
  t.ok(movingEvents.includes('reconnecting') && movingEvents.includes('reconnected'), `${names[2]}'s signaling was recovered (reconnecting, reconnected)`)
  t.ok(app.io.of('/').sockets.get(joined[2]!.id)?.recovered, 'the server recovered the moving member\'s session: same id, same seat')
  // Browsers first: their pages would otherwise keep retrying against a server that is closing.
  await Promise.all(browsers.map((browser) => browser.close()))
})
