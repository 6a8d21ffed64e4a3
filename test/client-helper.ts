/// <reference lib="dom" />
/**
 * Pages on signaling-server/client in Chromium. The pages are served by Playwright itself
 * (`context.route`), from an origin of their own on `localhost` (a secure context, so the camera is
 * allowed): no web server is needed, which lets a browser inside a network namespace load them too.
 */
import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import type { Call } from 'signaling-server/client'

declare const call: Call

const require = createRequire(import.meta.url)
const ROOT = new URL('../', import.meta.url)
const CLIENT_BUNDLE = new URL('dist/client/index.js', ROOT)
const FIXTURES = new URL('fixtures/', import.meta.url)
/** socket.io-client's browser bundles (its package exports do not name them). */
const SOCKET_IO_DIST = new URL('node_modules/socket.io-client/dist/', ROOT)

/** The pages' origin. Nothing listens there: every request to it is answered by the route below. */
export const PAGE_ORIGIN = 'http://localhost:4173'

const FILES: Record<string, [URL | string, string]> = {
  '/': [new URL('client-page/index.html', FIXTURES), 'text/html'],
  '/app.js': [new URL('client-page/app.js', FIXTURES), 'text/javascript'],
  '/client.js': [CLIENT_BUNDLE, 'text/javascript'],
  '/socket.io.esm.min.js': [new URL('socket.io.esm.min.js', SOCKET_IO_DIST), 'text/javascript'],
  // The seed app's frontend, as test/fixtures/seed-frontend stands in for it.
  '/seed/': [new URL('seed-frontend/index.html', FIXTURES), 'text/html'],
  '/seed/app.js': [new URL('seed-frontend/app.js', FIXTURES), 'text/javascript'],
  '/seed/socket.io.min.js': [new URL('socket.io.min.js', SOCKET_IO_DIST), 'text/javascript'],
  '/seed/simplepeer.min.js': [require.resolve('simple-peer/simplepeer.min.js'), 'text/javascript']
}

/** Pages given as text: path → [content, content type]. */
export type InlineFiles = Record<string, [string, string]>

async function serveFixtures(context: BrowserContext, inline: InlineFiles): Promise<void> {
  if (!existsSync(CLIENT_BUNDLE)) throw new Error(`${CLIENT_BUNDLE.pathname} is missing: run \`npm run build\` (npm test does)`)
  await context.route(`${PAGE_ORIGIN}/**`, (route) => {
    const path = new URL(route.request().url()).pathname
    const file = FILES[path]
    const body = inline[path]?.[0] ?? (file && readFileSync(file[0]))
    if (body === undefined) return route.fulfill({ status: 404 })
    return route.fulfill({ body, contentType: inline[path]?.[1] ?? file![1], headers: { 'cache-control': 'no-store' } })
  })
}

export interface PageOptions {
  /** Runs in the page before its own scripts. */
  initScript?: () => void
  /** A path under PAGE_ORIGIN: `/` (the client page) unless given, `/seed/?…` for the seed frontend. */
  path?: string
  /** More pages, served next to the fixtures (the client at /client.js, socket.io-client at /socket.io.esm.min.js). */
  files?: InlineFiles
}

/** A person's page, in a browser context of its own. */
export async function openClientPage(browser: Browser, { initScript, path = '/', files = {} }: PageOptions = {}): Promise<Page> {
  // Served by the route, the page has no address of its own, so Chromium takes it for a public one
  // and would ask before letting it reach a server on loopback (Local Network Access).
  const context = await browser.newContext({ viewport: { width: 800, height: 600 }, permissions: ['local-network-access', 'camera', 'microphone'] })
  await serveFixtures(context, files)
  if (initScript) await context.addInitScript(initScript)
  const page = await context.newPage()
  page.on('pageerror', (error) => console.error('page error:', error.message))
  await page.goto(`${PAGE_ORIGIN}${path}`)
  // The test page's module (and the client with it) has loaded.
  if (path === '/') await page.waitForFunction(() => 'startCall' in window)
  return page
}

export interface StartOptions {
  server: string
  username: string
  roomId?: string
  audioOnly?: boolean
}

export interface Joined {
  roomId: string
  /** The member id (socket id). */
  id: string
}

/** Joins (or, without roomId, creates) a call in the page through joinCall. */
export function startCall(page: Page, options: StartOptions): Promise<Joined> {
  return page.evaluate((options) => (window as unknown as { startCall(o: StartOptions): Promise<Joined> }).startCall(options), options)
}

/** What the page recorded: [time, event, ...details]. */
export function pageEvents(page: Page): Promise<Array<[number, string, ...unknown[]]>> {
  return page.evaluate(() => (window as unknown as { events: Array<[number, string, ...unknown[]]> }).events)
}

/**
 * Resolves once every peer connection of the page's call receives media: its inbound video frames
 * decoded and audio packets received both grew between two polls half a second apart. What the
 * network tests call "media flows", read from the connections' own statistics.
 */
export async function receivingMedia(page: Page, count: number, timeout = 60_000): Promise<void> {
  const key = `receiving-${Math.random()}`
  await page.waitForFunction(
    ({ count, key }) => {
      type Totals = { video: number; audio: number }
      const state = ((window as unknown as Record<string, { last: Map<string, Totals>; next?: Promise<Map<string, Totals>>; result?: Map<string, Totals> }>)[key] ??= { last: new Map() })
      // getStats is asynchronous and the predicate must not be (waitForFunction): each poll reads
      // the figures the previous poll asked for, and asks for the next ones.
      const fresh = state.result
      state.result = undefined
      state.next ??= Promise.all(
        [...call.peers.values()].map(async (peer) => {
          const totals = { video: 0, audio: 0 }
          for (const report of (await peer.connection.getStats()).values()) {
            if (report.type !== 'inbound-rtp') continue
            if (report.kind === 'video') totals.video += report.framesDecoded ?? 0
            else totals.audio += report.packetsReceived ?? 0
          }
          return [peer.id, totals] as const
        })
      ).then((entries) => {
        state.result = new Map(entries)
        state.next = undefined
        return state.result
      })
      if (!fresh) return false
      const growing = fresh.size === count && [...fresh].every(([id, now]) => {
        const before = state.last.get(id)
        return before !== undefined && now.video > before.video && now.audio > before.audio
      })
      state.last = fresh
      return growing
    },
    { count, key },
    { timeout, polling: 500 }
  )
}
