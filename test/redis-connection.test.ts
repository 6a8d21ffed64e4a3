/**
 * The client handed to the streams adapter: its PUBLISH failures (which the adapter never catches)
 * are reported, not left as unhandled rejections that would stop the process.
 */
import { Redis } from 'ioredis'
import t from 'tap'
import { catchingUnawaitedWrites } from '../src/rooms/redis-connection.js'
import { freePort } from './helper.js'

t.test('a PUBLISH or SET that fails is reported and answers as if nobody got it; the rest is the client itself', async (t) => {
  // Nothing listens there, and with no offline queue every command fails at once.
  const client = new Redis({ port: await freePort(), lazyConnect: true, enableOfflineQueue: false, retryStrategy: () => null })
  client.on('error', () => {})
  t.teardown(() => client.disconnect())
  await t.rejects(client.publish('channel', 'message'), 'the bare client rejects: what the adapter would leave unhandled')

  const errors: Error[] = []
  const wrapped = catchingUnawaitedWrites(client, (err) => errors.push(err))
  t.equal(await wrapped.publish('channel', 'message'), 0, 'the wrapped one answers that nobody got it')
  t.equal(errors.length, 1, 'and reports the failure')
  await t.rejects(client.set('session', 'data', 'PX', 1000), 'the bare client rejects a SET too (the adapter saves sessions so)')
  t.equal(await wrapped.set('session', 'data', 'PX', 1000), null, 'the wrapped one answers null')
  t.equal(errors.length, 2, 'and reports it')
  t.equal(wrapped.status, client.status, 'fields are the client’s')
  await t.rejects(wrapped.get('key'), 'other commands fail as they would')
  const copy = wrapped.duplicate()
  t.ok(copy instanceof Redis, 'methods run on the client (duplicate gives a client of its own)')
  copy.disconnect()
})

t.test('with Redis there, PUBLISH goes through', async (t) => {
  const client = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true, retryStrategy: () => null })
  client.on('error', () => {})
  try {
    await client.connect()
  } catch {
    if (process.env.CI === 'true') t.fail('Redis at 127.0.0.1:6379 is not running')
    else t.pass('Redis at 127.0.0.1:6379 is not running', { skip: true })
    return
  }
  t.teardown(() => client.disconnect())
  const listener = client.duplicate()
  t.teardown(() => listener.disconnect())
  const channel = `signaling-test-${process.pid}-${Date.now()}`
  await listener.subscribe(channel)
  const received = new Promise<string>((resolve) => listener.on('message', (_channel: string, message: string) => resolve(message)))
  const wrapped = catchingUnawaitedWrites(client, (err) => t.fail(`no failure expected: ${err.message}`))
  t.equal(await wrapped.publish(channel, 'hello'), 1, 'one subscriber got it')
  t.equal(await received, 'hello')
})
