/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * Real browsers, real WebRTC: headless Chromium (Debian's, driven by playwright-core) with fake
 * cameras sets up four-way calls through the demo page, clicking as a person would.
 */
import { mkdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import type { Browser, Page } from 'playwright-core'
import t, { type Test } from 'tap'
import { launchChromium as launch, openPage as open, playingVideos, serveFiles, settled } from './browser-helper.js'
import { buildServer } from './helper.js'

const SCREENSHOT_DIR = new URL('../test-results/', import.meta.url)
const ROOT = new URL('../', import.meta.url)
const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js')

async function enter(page: Page, name: string): Promise<void> {
  await page.getByLabel('Your name').fill(name)
  await page.locator('#enter').click()
}

/** Resolves once `count` remote videos have a picture and their frames keep advancing. */
function playingRemotes(page: Page, count: number): Promise<void> {
  return playingVideos(page, '.tile:not([data-peer-id="local"]) video', count)
}

/**
 * People joining one call through the UI, as they would: the first creates it, the others follow
 * its invitation link. Resolves once every page plays every other camera.
 */
async function callThroughUi(t: Test, browser: Browser, pageUrl: string, names: string[]): Promise<{ pages: Page[]; link: string }> {
  const first = await open(browser, pageUrl)
  await enter(first, names[0]!)
  await first.locator('#call').waitFor({ state: 'visible' })
  const roomLink = /[?&]room=[a-z]{3}-[a-z]{4}-[a-z]{3}/
  const link = (await settled(() => first.locator('#room-link').getAttribute('href'), (href) => roomLink.test(href ?? '')))!
  t.match(link, roomLink, 'the page offers a link to the room')
  const pages = [first]
  for (const name of names.slice(1)) {
    const page = await open(browser, link)
    const room = new URL(link).searchParams.get('room')
    t.equal(await settled(() => page.getByLabel('Room code').inputValue(), (value) => value === room), room, 'the link fills in the room')
    await enter(page, name)
    pages.push(page)
  }
  await Promise.all(pages.map((page) => playingRemotes(page, pages.length - 1)))
  return { pages, link }
}

for (const [label, query] of [['default transports (polling, then upgrade)', ''], ['WebSocket only', '?transports=websocket']] as const) {
  t.test(`four people in one call through the UI, ${label}`, async (t) => {
    const browser = await launch(t)
    if (!browser) return
    const { url } = await buildServer(t)
    const { pages, link } = await callThroughUi(t, browser, `${url}/${query}`, ['Ada', 'Grace', 'Edsger', 'Barbara'])
    t.pass('every page plays the three other cameras')
    const [ada, grace, edsger, barbara] = pages as [Page, Page, Page, Page]
    const expectedFirst = query === '' ? 'polling' : 'websocket'
    for (const page of pages) {
      await page.waitForFunction(() => document.documentElement.dataset.transport === 'websocket')
      // Set once, at the first connection, long before the upgrade: read once, it cannot be on its way.
      t.equal(await page.evaluate(() => document.documentElement.dataset.firstTransport), expectedFirst,
        `began on ${expectedFirst}, now on WebSocket`)
    }

    if (query === '') {
      mkdirSync(SCREENSHOT_DIR, { recursive: true })
      await ada.screenshot({ path: new URL('four-way-call.png', SCREENSHOT_DIR).pathname, fullPage: true })
    }

    const fifth = await open(browser, link)
    await enter(fifth, 'Alan')
    await t.resolves(fifth.getByRole('alert').filter({ hasText: 'Room is full.' }).waitFor(), 'a fifth sees "Room is full."')

    await ada.getByRole('button', { name: 'Camera on' }).click()
    for (const page of [grace, edsger, barbara]) {
      await page.locator('.tile', { hasText: 'Ada' }).filter({ hasText: 'Camera off' }).waitFor()
    }
    t.pass('turning a camera off shows on the other pages')

    await barbara.getByRole('button', { name: 'Leave' }).click()
    for (const page of [ada, grace, edsger]) {
      await page.locator('.tile', { hasText: 'Barbara' }).waitFor({ state: 'detached' })
      t.equal(await page.locator('.tile').count(), 3, 'the leaver\'s tile is gone')
    }
  })
}

t.test('the page works from another origin, against the server cross-origin', async (t) => {
  const browser = await launch(t)
  if (!browser) return
  // A second origin serving the same built page: what a frontend hosted elsewhere is.
  const siteOrigin = await serveFiles(t, {
    '/': [new URL('public/index.html', ROOT), 'text/html'],
    '/demo.css': [new URL('public/demo.css', ROOT), 'text/css'],
    '/demo.js': [new URL('dist/public/demo.js', ROOT), 'text/javascript']
  })
  const { url } = await buildServer(t, { CORS_ORIGINS: siteOrigin })

  const { link } = await callThroughUi(t, browser, `${siteOrigin}/?server=${encodeURIComponent(url)}`, ['Ada', 'Grace'])
  t.ok(link.startsWith(siteOrigin), 'the invitation points at the page\'s own origin')
  t.pass('a call between two pages of another origin')
  // Browser first: its pages would otherwise keep retrying against servers that are closing.
  await browser.close()
})

t.test('a dropped connection shows "Reconnecting…", and the call goes on in the same seat', async (t) => {
  const browser = await launch(t)
  if (!browser) return
  const { url, app } = await buildServer(t)
  const { pages } = await callThroughUi(t, browser, `${url}/`, ['Ada', 'Grace'])
  const [ada, grace] = pages as [Page, Page]
  const inRoom = (await settled(() => grace.locator('#status').textContent(), (text) => /^In room /.test(text ?? '')))!
  t.match(inRoom, /^In room /)

  // The states pass quickly (the client retries within about a second): record them in the pages.
  await grace.evaluate(() => {
    const status = document.getElementById('status')!
    const seen: string[] = ((window as unknown as { seen: string[] }).seen = [])
    new MutationObserver(() => seen.push(`${status.textContent} ${status.className}`)).observe(status, {
      attributes: true, childList: true, characterData: true, subtree: true
    })
  })
  await ada.evaluate(() => {
    const flags: boolean[] = ((window as unknown as { awaySeen: boolean[] }).awaySeen = [])
    new MutationObserver(() => {
      if (document.querySelector('.tile.away')) flags.push(true)
    }).observe(document.body, { attributes: true, subtree: true, attributeFilter: ['class'] })
  })
  const socket = [...app.io.of('/').sockets.values()].find((s) => s.data.username === 'Grace')!
  const graceId = socket.id
  socket.conn.close() // the transport goes, as in a network drop; the seat is held for the grace window

  await grace.waitForFunction((text) => {
    const status = document.getElementById('status')!
    return status.textContent === text && !status.classList.contains('reconnecting') &&
      (window as unknown as { seen: string[] }).seen.length > 0
  }, inRoom, { timeout: 30_000 })
  const seen = await grace.evaluate(() => (window as unknown as { seen: string[] }).seen)
  t.ok(seen.some((state) => state === 'Reconnecting… reconnecting'), `Grace's page said it was reconnecting (${seen.join(' | ')})`)
  t.ok(app.io.of('/').sockets.get(graceId)?.recovered, 'recovered with the same socket id')
  await ada.waitForFunction(() => (window as unknown as { awaySeen: boolean[] }).awaySeen.length > 0 && !document.querySelector('.tile.away'))
  t.pass('Ada saw Grace\'s tile marked away, then back')
  await Promise.all([playingRemotes(ada, 1), playingRemotes(grace, 1)])
  t.pass('both still play each other\'s camera')
  await browser.close()
})

t.test('accessibility: labelled controls, no serious axe violations, usable by keyboard', async (t) => {
  const browser = await launch(t)
  if (!browser) return
  const { url } = await buildServer(t)
  // Only so the audit script can be injected; the page itself runs under its real policy elsewhere.
  const page = await open(browser, url, { bypassCSP: true })
  const audit = async (): Promise<Array<{ id: string; impact: string }>> => {
    await page.addScriptTag({ path: AXE })
    return page.evaluate(async () => {
      const axe = (window as unknown as { axe: { run(): Promise<{ violations: Array<{ id: string; impact: string }>}> } }).axe
      return (await axe.run()).violations.map(({ id, impact }) => ({ id, impact }))
    })
  }
  const serious = (violations: Array<{ impact: string }>) => violations.filter((v) => ['serious', 'critical'].includes(v.impact))
  t.same(serious(await audit()), [], 'the lobby')

  // Keyboard only: the name field, then Enter.
  await page.keyboard.press('Tab')
  t.equal(await settled(() => page.evaluate(() => document.activeElement?.id), (id) => id === 'name'), 'name', 'Tab reaches the name field first')
  await page.keyboard.type('Ada')
  await page.keyboard.press('Enter')
  await page.locator('#call').waitFor({ state: 'visible' })
  t.same(serious(await audit()), [], 'the call')
  await page.getByRole('button', { name: 'Microphone on' }).focus()
  await page.keyboard.press('Enter')
  const pressed = page.getByRole('button', { name: 'Microphone off' })
  t.equal(await settled(() => pressed.getAttribute('aria-pressed'), (value) => value === 'false'), 'false', 'toggles by keyboard')
})
