/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * Real browsers for the end-to-end tests: Debian's Chromium driven by playwright-core, with fake
 * cameras, one browser context per person, and pages served from an origin of their own.
 */
import { existsSync, readFileSync } from 'node:fs'
import { once } from 'node:events'
import { createServer } from 'node:http'
import { chromium, type Browser, type LaunchOptions, type Page } from 'playwright-core'
import type { Test } from 'tap'

export const CHROMIUM = '/usr/bin/chromium'

/** Flags every test browser needs on these machines (no network beyond loopback, no GPU, root). */
export const CHROMIUM_ARGS = [
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  // Several pages share one machine; background tabs must not be throttled.
  '--disable-background-timer-throttling',
  '--disable-renderer-backgrounding',
  '--disable-backgrounding-occluded-windows'
]

/** Chromium, closed in teardown; undefined (skipped, or failed under CI) when it is not installed. */
export async function launchChromium(t: Test, options: LaunchOptions = {}): Promise<Browser | undefined> {
  if (!existsSync(CHROMIUM)) {
    const message = `${CHROMIUM} is missing (apt-get install chromium; .ci/run does)`
    if (process.env.CI === 'true') t.fail(message)
    else t.pass(message, { skip: message })
    return undefined
  }
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, ...options })
  t.teardown(() => browser.close())
  return browser
}

export interface OpenOptions {
  bypassCSP?: boolean
  /** Runs in the page before its own scripts, on every load (reloads included). */
  initScript?: () => void
}

/** A participant in its own browser context, as a separate person would be. */
export async function openPage(browser: Browser, url: string, { bypassCSP = false, initScript }: OpenOptions = {}): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1100, height: 800 }, bypassCSP })
  if (initScript) await context.addInitScript(initScript)
  const page = await context.newPage()
  page.on('pageerror', (error) => console.error('page error:', error.message))
  await page.goto(url)
  return page
}

/**
 * Resolves once exactly `count` videos match `selector`, each with a picture and frames that keep
 * advancing: more frames at each of two polls half a second apart. The predicate is synchronous on
 * purpose: waitForFunction takes any truthy return as success, and an async one returns a Promise.
 */
export async function playingVideos(page: Page, selector: string, count: number, timeout = 60_000): Promise<void> {
  const key = `playing-${Math.random()}`
  await page.waitForFunction(
    ({ selector, count, key }) => {
      const seen = ((window as unknown as Record<string, WeakMap<HTMLVideoElement, number>>)[key] ??= new WeakMap())
      const videos = [...document.querySelectorAll<HTMLVideoElement>(selector)]
      let advancing = videos.length === count
      for (const video of videos) {
        const frames = video.getVideoPlaybackQuality().totalVideoFrames
        if (video.videoWidth === 0 || !(frames > (seen.get(video) ?? Infinity))) advancing = false
        seen.set(video, frames)
      }
      return advancing
    },
    { selector, count, key },
    { timeout, polling: 500 }
  )
}

/**
 * A second origin serving files (path → [file, content type]): what a frontend hosted elsewhere
 * is. Resolves with its origin, on `localhost` so that it differs from the server's 127.0.0.1.
 */
export async function serveFiles(t: Test, files: Record<string, [URL | string, string]>): Promise<string> {
  const site = createServer((request, response) => {
    const file = files[new URL(request.url ?? '/', 'http://x').pathname]
    if (!file) return void response.writeHead(404).end()
    response.writeHead(200, { 'content-type': file[1], 'cache-control': 'no-store' }).end(readFileSync(file[0]))
  }).listen(0, '127.0.0.1')
  await once(site, 'listening')
  t.teardown(() => {
    // The browser may still hold keep-alive connections; close() alone would wait for them.
    site.closeAllConnections()
    site.close()
  })
  return `http://localhost:${(site.address() as { port: number }).port}`
}

/**
 * What the page shows once it shows what `accept` takes, polled every 50 ms (the UI settles
 * asynchronously, and a read once could catch a state on its way past); after `timeoutMs`, the
 * last value read, for the caller's assertion to fail on with a diff.
 */
export async function settled<T>(read: () => Promise<T>, accept: (value: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await read()
    if (accept(value) || Date.now() > deadline) return value
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
