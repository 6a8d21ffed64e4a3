import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose'
import { once } from 'node:events'
import { createServer } from 'node:http'
import t, { type Test } from 'tap'
import { buildServer, connectClient, createRoom, nextEvent, request } from './helper.js'

const SECRET = 'a-test-secret-that-is-long-enough-for-hs256'
const secretKey = new TextEncoder().encode(SECRET)

function hs256(claims: Record<string, unknown>, { expiresIn = '5m', key = secretKey } = {}): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime(expiresIn).sign(key)
}

async function refusal(url: string, t: Test, auth?: Record<string, unknown>): Promise<string> {
  try {
    await connectClient(t, url, { auth })
    return 'connected'
  } catch (error) {
    return (error as Error).message
  }
}


t.test('with AUTH_JWT_SECRET a handshake needs a valid, unexpired token', async (t) => {
  const { url } = await buildServer(t, { AUTH_JWT_SECRET: SECRET, AUTH_AUDIENCE: 'video-app' })
  t.match(await refusal(url, t), /Authentication required/)
  t.match(await refusal(url, t, { token: 'not-a-jwt' }), /not valid/)
  t.match(await refusal(url, t, { token: await hs256({ sub: 'u1', aud: 'video-app' }, { expiresIn: '-1m' }) }), /expired/)
  const forged = await hs256({ sub: 'u1', aud: 'video-app' }, { key: new TextEncoder().encode('x'.repeat(48)) })
  t.match(await refusal(url, t, { token: forged }), /not valid/, 'wrong signature')
  t.match(await refusal(url, t, { token: await hs256({ sub: 'u1', aud: 'other-app' }) }), /"aud" claim/, 'wrong audience')
  const noExpiry = await new SignJWT({ sub: 'u1', aud: 'video-app' }).setProtectedHeader({ alg: 'HS256' }).sign(secretKey)
  t.match(await refusal(url, t, { token: noExpiry }), /"exp" claim/, 'a token must expire')
  t.equal(await refusal(url, t, { token: await hs256({ sub: 'u1', aud: 'video-app' }) }), 'connected')
})

t.test('the token names the user, and register-username cannot override it', async (t) => {
  const { url } = await buildServer(t, { AUTH_JWT_SECRET: SECRET })
  const alice = await connectClient(t, url, { auth: { token: await hs256({ sub: 'u-1', name: '  Alice Liddell ' }) } })
  t.same(await request(alice, 'register-username', 'mallory'), { success: true, ok: true, username: 'Alice Liddell' },
    'the ack shows the name in effect')
  t.match(await request(alice, 'create-room', { username: 'mallory' }), { success: true, users: [{ username: 'Alice Liddell' }] })
  const bob = await connectClient(t, url, { auth: { token: await hs256({ sub: 'bob-sub-id' }) } })
  await createRoom(bob, 'ignored')
  t.match(await request(bob, 'user-list'), { users: [{ username: 'bob-sub-id' }] }, 'sub when there is no name')
})

t.test('with AUTH_JWKS_URL keys come from the JWKS, and a rotated key is picked up', async (t) => {
  const first = await generateKeyPair('RS256')
  const second = await generateKeyPair('RS256')
  type Key = (typeof first)['privateKey']
  const jwk = async (key: Key, kid: string): Promise<JWK> => ({ ...(await exportJWK(key)), kid, alg: 'RS256', use: 'sig' })
  let keys: JWK[] = [await jwk(first.publicKey, 'first')]
  const jwks = createServer((_request, response) => {
    response.setHeader('content-type', 'application/json')
    response.end(JSON.stringify({ keys }))
  }).listen(0, '127.0.0.1')
  await once(jwks, 'listening')
  t.teardown(() => {
    jwks.closeAllConnections()
    jwks.close()
  })
  const jwksUrl = `http://127.0.0.1:${(jwks.address() as { port: number }).port}/.well-known/jwks.json`
  const { url } = await buildServer(t, {
    AUTH_JWKS_URL: jwksUrl,
    AUTH_ISSUER: 'https://issuer.example',
    AUTH_AUDIENCE: 'video-app',
    AUTH_JWKS_COOLDOWN_MS: '0'
  })
  const sign = (key: Key, kid: string, issuer = 'https://issuer.example') =>
    new SignJWT({ name: 'Carol' })
      .setProtectedHeader({ alg: 'RS256', kid })
      .setIssuer(issuer)
      .setAudience('video-app')
      .setSubject('carol')
      .setExpirationTime('5m')
      .sign(key)

  t.equal(await refusal(url, t, { token: await sign(first.privateKey, 'first') }), 'connected')
  t.match(await refusal(url, t, { token: await sign(second.privateKey, 'second') }), /unknown key/, 'not yet served')
  t.match(await refusal(url, t, { token: await sign(first.privateKey, 'first', 'https://evil.example') }), /"iss" claim/)

  keys = [...keys, await jwk(second.publicKey, 'second')]
  t.equal(await refusal(url, t, { token: await sign(second.privateKey, 'second') }), 'connected', 'the rotated key works')
})

t.test('a JWKS needs an issuer and an audience, and https off loopback', async (t) => {
  await t.rejects(buildServer(t, { AUTH_JWKS_URL: 'https://keys.example/jwks.json' }), { message: /AUTH_ISSUER and env\/AUTH_AUDIENCE are required/ })
  await t.rejects(
    buildServer(t, { AUTH_JWKS_URL: 'http://keys.example/jwks.json', AUTH_ISSUER: 'i', AUTH_AUDIENCE: 'a' }),
    { message: /must be https/ }
  )
})

t.test('with sign-in on, a recovered session is checked again: same user only, unexpired token', async (t) => {
  const { url } = await buildServer(t, { AUTH_JWT_SECRET: SECRET, RECONNECT_GRACE_MS: '5000' })
  let token = await hs256({ sub: 'alice-1', name: 'Alice' })
  const alice = await connectClient(t, url, {
    auth: (callback: (data: object) => void) => callback({ token }),
    reconnection: true,
    reconnectionDelay: 20
  })
  const joined = nextEvent(alice, 'room-joined')
  await createRoom(alice, 'ignored')
  await joined
  const aliceId = alice.id

  const resume = async (): Promise<string> => {
    alice.io.reconnection(false)
    alice.io.engine.close()
    const outcome = new Promise<string>((resolve) => {
      alice.once('connect', () => resolve(alice.recovered ? 'recovered' : 'new session'))
      alice.once('connect_error', (error) => resolve(error.message))
    })
    alice.connect()
    return outcome
  }
  t.equal(await resume(), 'recovered', 'the same user with a valid token resumes')
  t.equal(alice.id, aliceId)
  token = await hs256({ sub: 'mallory', name: 'Mallory' })
  t.match(await resume(), /another user/, 'another user\'s token cannot resume the session')
  token = await hs256({ sub: 'alice-1', name: 'Alice' }, { expiresIn: '-1m' })
  t.match(await resume(), /expired/, 'an expired token cannot either')
})

t.test('with sign-in on, a reload takes over the away seat of the same subject only, whatever the name', async (t) => {
  const { url } = await buildServer(t, { AUTH_JWT_SECRET: SECRET, RECONNECT_GRACE_MS: '60000', MAX_USERS_PER_ROOM: '2' })
  const signedIn = async (sub: string, name: string) => connectClient(t, url, { auth: { token: await hs256({ sub, name }) } })
  const alice = await signedIn('sub-alice', 'Alice')
  const bob = await signedIn('sub-bob', 'Bob')
  const roomId = await createRoom(alice, 'ignored')
  await request(bob, 'join-room', roomId)
  const bobId = bob.id
  const away = nextEvent(alice, 'user-away')
  bob.io.engine.close()
  await away

  const namesake = await signedIn('sub-someone-else', 'Bob')
  t.match(await request(namesake, 'join-room', roomId), { success: false, code: 'ROOM_FULL' }, 'the same name is not the same person')
  const roster: string[] = []
  alice.on('user-left', (id) => roster.push(`left:${id}`))
  alice.on('user-joined', ({ id }) => roster.push(`joined:${id}`))
  const reloaded = await signedIn('sub-bob', 'Robert')
  const joined = nextEvent(alice, 'user-joined')
  t.match(await request(reloaded, 'join-room', roomId), { success: true, users: [{ id: alice.id }, { id: reloaded.id, username: 'Robert' }] })
  await joined
  t.same(roster, [`left:${bobId}`, `joined:${reloaded.id}`], 'the room saw the old seat go, then the new one come')
})
