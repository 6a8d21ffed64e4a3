/// <reference lib="dom" />
/**
 * The four-way call page of docs/client.md, exactly as written there (but for the server's URL):
 * four people open it, each plays the three others. Also holds the docs to their "under 30 lines".
 */
import { readFileSync } from 'node:fs'
import t from 'tap'
import { launchChromium, playingVideos } from './browser-helper.js'
import { openClientPage } from './client-helper.js'
import { buildServer } from './helper.js'

const DOC = readFileSync(new URL('../docs/client.md', import.meta.url), 'utf8')

t.test('the four-way call page of docs/client.md works, and is under 30 lines', async (t) => {
  const page = /<!-- four-way-call-page -->\n```html\n([\s\S]*?)```/.exec(DOC)?.[1]
  if (!t.ok(page, 'docs/client.md has the page') || !page) return
  const lines = page.trimEnd().split('\n').length
  t.ok(lines < 30, `${lines} lines`)
  t.match(page, "url: 'https://signal.example'", 'it names its server where the test can replace it')

  const browser = await launchChromium(t)
  if (!browser) return
  const { url } = await buildServer(t)
  const files = { '/call.html': [page.replace('https://signal.example', url), 'text/html'] as [string, string] }
  const first = await openClientPage(browser, { path: '/call.html?name=Ada', files })
  await first.waitForURL(/room=/)
  const room = new URL(first.url()).searchParams.get('room')!
  const pages = [first]
  for (const name of ['Grace', 'Edsger', 'Barbara']) pages.push(await openClientPage(browser, { path: `/call.html?name=${name}&room=${room}`, files }))
  await Promise.all(pages.map((page) => playingVideos(page, 'video:not(#me)', 3)))
  t.pass('four pages, each playing the three others')
})
