/// <reference lib="dom" />
/**
 * The seed app's real frontend in Chromium, as test/fixtures/seed-frontend stands in for it
 * (shared/seed/FRONTEND.md): socket.io-client and simple-peer (`trickle: false`), callbacks read for
 * `success` and `error`, the error rendered as text, a saved room id that a reload rejoins.
 */
import { createRequire } from 'node:module'
import type { Browser, Page } from 'playwright-core'
import t from 'tap'
import { launchChromium, openPage, playingVideos, serveFiles, settled } from './browser-helper.js'
import { buildServer } from './helper.js'

const require = createRequire(import.meta.url)
/** socket.io-client's browser bundle (its package exports do not name it). */
const SOCKET_IO_BUNDLE = new URL('../node_modules/socket.io-client/dist/socket.io.min.js', import.meta.url)
const FIXTURE = new URL('./fixtures/seed-frontend/', import.meta.url)
const GRACE_MS = 60_000

interface Recorded {
  /** Every text the page's message line showed, each time it changed. */
  shownTexts: string[]
  crashed?: string
  signaling?: { id?: string; connected: boolean }
}

/** Runs before the page's own scripts, on every load: records each text the message line shows. */
function recordShownTexts(): void {
  const recorded = window as unknown as Recorded
  recorded.shownTexts = []
  let last = ''
  new MutationObserver(() => {
    const text = document.getElementById('message')?.textContent ?? ''
    if (text !== '' && text !== last) recorded.shownTexts.push(text)
    last = text
  }).observe(document, { subtree: true, childList: true, characterData: true })
}

const recorded = (page: Page): Promise<Recorded> =>
  page.evaluate(() => {
    const { shownTexts, crashed } = window as unknown as Recorded
    return { shownTexts, crashed }
  })

/** The socket id of the page's current connection, once it has one. */
async function socketId(page: Page): Promise<string> {
  await page.waitForFunction(() => (window as unknown as Recorded).signaling?.connected === true)
  return page.evaluate(() => (window as unknown as Recorded).signaling!.id!)
}

/** The ids of the peers whose tiles the page shows. */
const remoteTiles = (page: Page): Promise<string[]> =>
  page.evaluate(() => [...document.querySelectorAll<HTMLElement>('.tile.remote')].map((tile) => tile.dataset.id!).sort())

const playingRemotes = (page: Page, count: number): Promise<void> => playingVideos(page, '.tile.remote video', count)

t.test('the seed frontend in Chromium: no failure text on success, refusals as text, a reload back in the call', async (t) => {
  const browser: Browser | undefined = await launchChromium(t)
  if (!browser) return
  const { url } = await buildServer(t, { RECONNECT_GRACE_MS: String(GRACE_MS) })
  const site = await serveFiles(t, {
    '/': [new URL('index.html', FIXTURE), 'text/html'],
    '/app.js': [new URL('app.js', FIXTURE), 'text/javascript'],
    '/socket.io.min.js': [SOCKET_IO_BUNDLE, 'text/javascript'],
    '/simplepeer.min.js': [require.resolve('simple-peer/simplepeer.min.js'), 'text/javascript']
  })
  /** A person's page, once it is connected (its buttons work from then on). */
  const open = async (name: string): Promise<Page> => {
    const page = await openPage(browser, `${site}/?server=${encodeURIComponent(url)}&name=${name}`, { initScript: recordShownTexts })
    await socketId(page)
    return page
  }

  const ada = await open('ada')
  await ada.locator('#create').click()
  await ada.locator('#call').waitFor({ state: 'visible' })
  const roomId = (await settled(() => ada.locator('#room-id').textContent(), (text) => (text ?? '') !== ''))!
  t.match(roomId, /\S/, 'the page shows the room id')
  const pages = [ada]
  for (const name of ['grace', 'edsger', 'barbara']) {
    const page = await open(name)
    await page.locator('#room-input').fill(roomId)
    await page.locator('#join').click()
    await page.locator('#call').waitFor({ state: 'visible' })
    pages.push(page)
  }
  await Promise.all(pages.map((page) => playingRemotes(page, 3)))
  t.pass('four pages, each playing the three others')
  for (const [i, page] of pages.entries()) {
    t.same(await recorded(page), { shownTexts: [] }, `page ${i + 1}: no failure text, not even for a moment, and no crash`)
  }

  for (const [name, id, expected] of [['alan', roomId, 'Room is full.'], ['kathleen', 'abc-defg-hjk', 'Room ID not found.']] as const) {
    const page = await open(name)
    await page.locator('#room-input').fill(id)
    await page.locator('#join').click()
    await page.locator('#message').filter({ hasText: expected }).waitFor()
    t.same(await recorded(page), { shownTexts: [expected] }, `${name} sees "${expected}" as text, and the page lives`)
  }

  const [, grace, edsger, barbara] = pages as [Page, Page, Page, Page]
  const oldId = await socketId(barbara)
  const started = Date.now()
  await barbara.reload()
  const newId = await socketId(barbara)
  t.not(newId, oldId, 'the reloaded page is a new connection')
  await playingRemotes(barbara, 3)
  const others = [ada, grace, edsger]
  for (const page of others) {
    await page.waitForFunction(
      ({ oldId, newId }) => {
        const ids = [...document.querySelectorAll<HTMLElement>('.tile.remote')].map((tile) => tile.dataset.id)
        return ids.length === 3 && ids.includes(newId) && !ids.includes(oldId)
      },
      { oldId, newId }
    )
    await playingRemotes(page, 3)
  }
  const seconds = (Date.now() - started) / 1000
  t.comment(`the reloaded page played every camera again, and every page showed three remote tiles, ${seconds.toFixed(1)} s after the reload`)
  // Held for the grace window, the old seat would have kept a full room closed for a minute.
  t.ok(seconds * 1000 < GRACE_MS / 2, 'back in the call long before the old seat\'s grace would have run out')
  for (const page of others) t.equal((await remoteTiles(page)).length, 3, 'three remote tiles, not four')
  t.same(await recorded(barbara), { shownTexts: [] }, 'the reload was not refused')
})
