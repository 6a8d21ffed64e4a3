/// <reference lib="dom" />
/**
 * TURN credentials expire: the client fetches new ones (`ice-servers`) before they do and gives
 * them to every peer connection (setConfiguration), without disturbing the call. The TURN server is
 * a loopback address nobody answers at; the pages connect directly.
 */
import type { Page } from 'playwright-core'
import t from 'tap'
import type { Call } from 'signaling-server/client'
import { launchChromium, playingVideos } from './browser-helper.js'
import { openClientPage, receivingMedia, startCall } from './client-helper.js'
import { buildServer } from './helper.js'

declare const call: Call

/** The TURN username (`<expiry s>:<socket id>`) each of the page's connections is configured with. */
const turnUsernames = (page: Page): Promise<Array<string | undefined>> =>
  page.evaluate(() => [...call.peers.values()].map((peer) => peer.connection.getConfiguration().iceServers?.find((server) => server.username)?.username))

t.test('TURN credentials are refreshed before they expire, on every connection', async (t) => {
  const browser = await launchChromium(t)
  if (!browser) return
  // 60 s is the shortest lifetime the server allows; the client refreshes a fifth of it early.
  const { url } = await buildServer(t, { TURN_URLS: 'turn:127.0.0.1:9?transport=udp', TURN_SECRET: 'a-test-secret-of-16+', TURN_TTL_S: '60' })
  const pages = await Promise.all([0, 1].map(() => openClientPage(browser)))
  const { roomId } = await startCall(pages[0]!, { server: url, username: 'Ada' })
  await startCall(pages[1]!, { server: url, username: 'Grace', roomId })
  await Promise.all(pages.map((page) => receivingMedia(page, 1)))
  const first = await Promise.all(pages.map(turnUsernames))
  t.ok(first.every(([username]) => /^\d+:/.test(username ?? '')), 'each connection starts with the TURN credentials of room-joined')

  const started = Date.now()
  await Promise.all(pages.map((page, i) => page.waitForFunction(
    (old) => [...call.peers.values()].every((peer) => {
      const username = peer.connection.getConfiguration().iceServers?.find((server) => server.username)?.username
      return username !== undefined && username !== old
    }),
    first[i]![0], { timeout: 90_000, polling: 1000 }
  )))
  t.comment(`new credentials on every connection ${((Date.now() - started) / 1000).toFixed(0)} s later`)
  for (const [i, page] of pages.entries()) {
    const [fresh] = await turnUsernames(page)
    const expiry = (username: string | undefined): number => Number(username?.split(':')[0])
    t.ok(expiry(fresh) > expiry(first[i]![0]) && expiry(first[i]![0]) - Date.now() / 1000 > 0, 'fetched before the old ones expired, and they expire later')
  }
  await Promise.all(pages.flatMap((page) => [receivingMedia(page, 1), playingVideos(page, '.tile.remote video', 1)]))
  t.pass('the call goes on')
})
