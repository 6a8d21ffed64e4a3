/// <reference lib="dom" />
/**
 * signaling-server/client in Chromium, real WebRTC: four pages in one call through joinCall, what
 * each page's Call reports about the others, camera state, refusals with the server's codes, leaving.
 */
import type { Page } from 'playwright-core'
import t from 'tap'
import type { Call } from 'signaling-server/client'
import { launchChromium, playingVideos } from './browser-helper.js'
import { openClientPage, pageEvents, startCall } from './client-helper.js'
import { buildServer } from './helper.js'
import { ERROR_MESSAGES } from '../src/protocol.js'

declare const call: Call

const playingRemotes = (page: Page, count: number): Promise<void> => playingVideos(page, '.tile.remote video', count)

/** Each member the page's call knows, as the page sees them. */
const knownPeers = (page: Page): Promise<Array<{ id: string; username: string }>> =>
  page.evaluate(() => [...call.peers.values()].map(({ id, username }) => ({ id, username })))

t.test('four pages in one call through joinCall: every page plays the three others', async (t) => {
  const browser = await launchChromium(t)
  if (!browser) return
  const { url } = await buildServer(t)
  const names = ['Ada', 'Grace', 'Edsger', 'Barbara']
  const pages = await Promise.all(names.map(() => openClientPage(browser)))
  const first = await startCall(pages[0]!, { server: url, username: 'Ada' })
  t.match(first.roomId, /^[a-z]{3}-[a-z]{4}-[a-z]{3}$/, 'joinCall without a roomId creates a room')
  // The other three join at the same moment: the server orders the joins, the client the offers.
  const others = await Promise.all(
    pages.slice(1).map((page, i) => startCall(page, { server: url, username: names[i + 1]!, roomId: first.roomId.toUpperCase() }))
  )
  const members = [first, ...others]
  t.ok(others.every((joined) => joined.roomId === first.roomId), 'the others joined that room (its id in any case)')

  await Promise.all(pages.map((page) => playingRemotes(page, 3)))
  t.pass('every page plays three remote videos')

  for (const [i, page] of pages.entries()) {
    const peers = (await knownPeers(page)).sort((a, b) => a.username.localeCompare(b.username))
    const expected = members
      .map((member, j) => ({ id: member.id, username: names[j]! }))
      .filter((_, j) => j !== i)
      .sort((a, b) => a.username.localeCompare(b.username))
    t.same(peers, expected, `${names[i]}'s call.peers: the three others, by id and name`)
    // Chromium may report the state a moment after the media flows.
    await page.waitForFunction(() => [...call.peers.values()].every((peer) => peer.state === 'connected'))
    t.pass(`${names[i]}: peer.state says connected for each`)
    const joinedEvents = (await pageEvents(page)).filter(([, event]) => event === 'peer-joined')
    t.equal(joinedEvents.length, 3, `${names[i]}: one peer-joined for each other member`)
  }

  const [ada, grace, edsger, barbara] = pages as [Page, Page, Page, Page]
  await ada.evaluate(() => call.setCamera(false))
  for (const page of [grace, edsger, barbara]) {
    await page.waitForFunction((id) => call.peers.get(id)?.camera === false, first.id)
  }
  t.equal(await ada.evaluate(() => call.camera), false, 'setCamera(false) resolves once the server took it')
  t.pass('the others see Ada\'s camera off (peer.camera, peer-media)')

  await barbara.evaluate(() => call.leave())
  for (const page of [ada, grace, edsger]) {
    await page.waitForFunction((id) => !call.peers.has(id) && !document.querySelector(`.tile[data-id="${id}"]`), others[2]!.id)
  }
  t.pass('leave(): the others get peer-left')
  t.match((await pageEvents(barbara)).at(-1), [Number, 'ended', null], 'the leaver\'s call ended, with no error')
  await Promise.all([ada, grace, edsger].map((page) => playingRemotes(page, 2)))
  t.pass('the three left still play each other')
})

t.test('refusals reject with a CallError carrying the server\'s code and message', async (t) => {
  const browser = await launchChromium(t)
  if (!browser) return
  const { url } = await buildServer(t, { MAX_USERS_PER_ROOM: '2' })
  const [ada, grace, alan] = await Promise.all([0, 1, 2].map(() => openClientPage(browser)))
  const { roomId } = await startCall(ada!, { server: url, username: 'Ada' })
  await startCall(grace!, { server: url, username: 'Grace', roomId })
  const attempt = (options: { roomId: string; username: string }) =>
    alan!.evaluate(
      (options) => (window as unknown as { startCall(o: object): Promise<unknown> }).startCall(options).then(
        () => 'joined',
        (error: Error & { code: string }) => ({ name: error.name, code: error.code, message: error.message })
      ),
      { server: url, ...options }
    )
  t.same(await attempt({ roomId, username: 'Alan' }), { name: 'CallError', code: 'ROOM_FULL', message: 'Room is full.' })
  t.same(await attempt({ roomId: 'abc-defg-hjk', username: 'Alan' }), { name: 'CallError', code: 'ROOM_NOT_FOUND', message: 'Room ID not found.' })
  t.same(await attempt({ roomId, username: ' ' }), {
    name: 'CallError',
    code: 'INVALID_USERNAME',
    message: ERROR_MESSAGES.INVALID_USERNAME
  })
})
