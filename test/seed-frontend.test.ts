/**
 * The seed app's real frontend (shared/seed/FRONTEND.md), modelled by test/seed-frontend.ts, in
 * every flow it has: calls, failed joins, reloads, on one instance and across two through Redis.
 */
import t, { type Test } from 'tap'
import { buildServer, collect, nextEvent, type Client, type TestServer, until } from './helper.js'
import { useRedis } from './redis-helper.js'
import { SeedFrontend } from './seed-frontend.js'

/** Every page has traded an offer and an answer with each of the others, and nothing else. */
async function meshed(pages: SeedFrontend[], what: string): Promise<void> {
  await until(async () => pages.every((page) => {
    const others = pages.filter((other) => other !== page).map((other) => other.socket.id).sort()
    return JSON.stringify(page.connectedPeers().sort()) === JSON.stringify(others) && page.peers.size === others.length
  }), what)
}

/** A call of `names.length` pages: the first creates the room, the others join it by its id. */
async function call(t: Test, servers: TestServer[], names: string[]): Promise<{ pages: SeedFrontend[]; roomId: string }> {
  const creator = await SeedFrontend.open(t, servers[0]!.url, names[0]!)
  t.equal(await creator.createRoom(), true, 'create-room with only a callback succeeds')
  await until(async () => creator.roomId !== undefined, 'the creator to enter the call on room-id')
  const roomId = creator.roomId!
  const pages = [creator]
  for (const [i, name] of names.slice(1).entries()) {
    const page = await SeedFrontend.open(t, servers[(i + 1) % servers.length]!.url, name)
    t.equal(await page.joinRoom(roomId), true, `${name} joins with the bare id and a callback`)
    pages.push(page)
  }
  await meshed(pages, `a ${names.length}-way mesh`)
  return { pages, roomId }
}

function noFailures(t: Test, pages: SeedFrontend[]): void {
  for (const page of pages) {
    t.equal(page.crash, undefined, `${page.username}'s page did not crash`)
    t.same(page.shown, [], `${page.username}'s page showed no failure text`)
  }
}

/**
 * One member reloads its tab. It first waits until the server has seen the old tab's transport go
 * (a real reload takes longer than that: the new page must load first), then the new page rejoins.
 */
function reload(page: SeedFrontend, witness: SeedFrontend): Promise<SeedFrontend> {
  return page.reload(nextEvent(witness.socket as unknown as Client, 'user-away'))
}

t.test('a four-way call the way the frontend makes one: no failure text on success', async (t) => {
  const server = await buildServer(t)
  const { pages } = await call(t, [server], ['ada', 'grace', 'edsger', 'barbara'])
  noFailures(t, pages)
})

t.test('a fifth joiner and a mistyped id get the message as a string, and the page lives', async (t) => {
  const server = await buildServer(t)
  const { pages, roomId } = await call(t, [server], ['ada', 'grace', 'edsger', 'barbara'])
  const fifth = await SeedFrontend.open(t, server.url, 'alan')
  t.equal(await fifth.joinRoom(roomId), false)
  const typo = await SeedFrontend.open(t, server.url, 'kathleen')
  t.equal(await typo.joinRoom('abc-defg-hjk'), false)
  t.equal(fifth.crash, undefined, 'no crash on "Room is full."')
  t.equal(typo.crash, undefined, 'no crash on a wrong id')
  t.same(fifth.shown, ['Room is full.'])
  t.same(typo.shown, ['Room ID not found.'])
  t.notOk(fifth.storage.has('roomId'), 'a failed join saves nothing to rejoin')
  noFailures(t, pages)
})

for (const size of [4, 2]) {
  t.test(`a reload in a ${size === 4 ? 'full room' : 'room of two'} takes the old seat over at once`, async (t) => {
    const server = await buildServer(t, { RECONNECT_GRACE_MS: '60000' })
    const names = ['ada', 'grace', 'edsger', 'barbara'].slice(0, size)
    const { pages } = await call(t, [server], names)
    const [first, ...others] = pages as [SeedFrontend, ...SeedFrontend[]]
    const leaving = others.at(-1)!
    const oldId = leaving.socket.id!
    const reloaded = await reload(leaving, first)
    const staying = [first, ...others.slice(0, -1)]
    await meshed([...staying, reloaded], 'the reloaded page back in the mesh')
    t.not(reloaded.socket.id, oldId, 'a new connection')
    for (const page of staying) {
      t.same(page.roster.slice(-2), [`left:${oldId}`, `joined:${reloaded.socket.id}`], `${page.username} dropped the old peer, then met the new one`)
      t.equal(page.peers.size, size - 1, `${page.username} has ${size - 1} peers, no frozen one`)
    }
    t.same(reloaded.shown, [], 'the reload was not refused')
    noFailures(t, staying)
    const list = await reloaded.socket.timeout(5000).emitWithAck('user-list', reloaded.roomId)
    t.equal(list.users.length, size, 'still one seat each')
  })
}

t.test('the replaced connection coming back late is refused with SEAT_LOST; nobody else\'s seat is taken', async (t) => {
  const server = await buildServer(t, { RECONNECT_GRACE_MS: '60000', MAX_USERS_PER_ROOM: '2' })
  const { pages, roomId } = await call(t, [server], ['ada', 'grace'])
  const [ada, grace] = pages as [SeedFrontend, SeedFrontend]

  // Someone else, holding the room id, cannot take grace's away seat by another name.
  const away = nextEvent(ada.socket as unknown as Client, 'user-away')
  // Dropped, not closed: the old tab's client could still recover the session.
  grace.socket.io.reconnection(false)
  grace.socket.io.engine.close()
  await away
  const mallory = await SeedFrontend.open(t, server.url, 'mallory')
  t.equal(await mallory.joinRoom(roomId), false)
  t.same(mallory.shown, ['Room is full.'])

  const reloaded = await SeedFrontend.open(t, server.url, 'grace', grace.storage)
  await meshed([ada, reloaded], 'the reloaded page in the call')

  const refused = collect(grace.socket as unknown as Client, 'error')
  const recovered = new Promise<void>((resolve) => grace.socket.once('connect', () => resolve()))
  grace.socket.io.reconnection(true)
  grace.socket.connect()
  await recovered
  t.ok(grace.socket.recovered, 'the old connection resumed its session')
  await until(async () => refused.length > 0, 'the old connection to be told')
  t.same(refused, ['You lost your place in the room while you were away. Join again.'], 'SEAT_LOST, as the error event\'s string')
  const list = await ada.socket.timeout(5000).emitWithAck('user-list', roomId)
  t.same(list.users.map((user: { id: string }) => user.id), [ada.socket.id, reloaded.socket.id], 'two seats: ada and the reloaded page')
})

t.test('across two instances through Redis: failed joins and a reload that lands on the other instance', async (t) => {
  const redis = await useRedis(t)
  if (redis === undefined) return
  const env = { ...redis.env, RECONNECT_GRACE_MS: '60000' }
  const servers = [await buildServer(t, env), await buildServer(t, env)]
  const { pages, roomId } = await call(t, servers, ['ada', 'grace', 'edsger', 'barbara'])
  const fifth = await SeedFrontend.open(t, servers[1]!.url, 'alan')
  t.equal(await fifth.joinRoom(roomId), false)
  t.same(fifth.shown, ['Room is full.'])
  const typo = await SeedFrontend.open(t, servers[0]!.url, 'kathleen')
  t.equal(await typo.joinRoom('nnn-nnnn-nnn'), false)
  t.same(typo.shown, ['Room ID not found.'])

  // grace is on instance 1; its reloaded page loads through instance 0.
  const [ada, grace, edsger, barbara] = pages as [SeedFrontend, SeedFrontend, SeedFrontend, SeedFrontend]
  const oldId = grace.socket.id!
  const away = nextEvent(ada.socket as unknown as Client, 'user-away')
  grace.closeTab()
  await away
  const reloaded = await SeedFrontend.open(t, servers[0]!.url, 'grace', grace.storage)
  t.ok(servers[0]!.app.io.of('/').sockets.has(reloaded.socket.id!), 'the new page is on the other instance')
  await meshed([ada, reloaded, edsger, barbara], 'the mesh across instances again')
  for (const page of [ada, edsger, barbara]) {
    t.same(page.roster.slice(-2), [`left:${oldId}`, `joined:${reloaded.socket.id}`], `${page.username} saw the old peer go, then the new come`)
  }
  noFailures(t, [ada, edsger, barbara, reloaded])
})

t.test('the rest of its flows: names re-sent, status with its own id, bare ids, unknown events', async (t) => {
  const server = await buildServer(t)
  const { pages, roomId } = await call(t, [server], ['ada', 'grace', 'edsger'])
  const [ada, grace, edsger] = pages as [SeedFrontend, SeedFrontend, SeedFrontend]
  for (const name of ['ada', 'ada', 'ada.l']) ada.socket.emit('register-username', name)
  ada.socket.emit('made-up-event', { anything: true })
  const status = nextEvent(grace.socket as unknown as Client, 'camera-mic-status')
  ada.socket.emit('camera-mic-status', { roomId, id: ada.socket.id, camera: false, mic: true })
  t.same(await status, { id: ada.socket.id, camera: false, mic: true })
  const list = nextEvent(grace.socket as unknown as Client, 'user-list')
  grace.socket.emit('user-list', roomId)
  t.same((await list).map((user) => user.username), ['ada.l', 'grace', 'edsger'], 'the latest name shows')
  const left = nextEvent(ada.socket as unknown as Client, 'user-left')
  edsger.leave()
  t.equal(await left, edsger.socket.id)
  await meshed([ada, grace], 'the two who stayed')
  noFailures(t, pages)
})
