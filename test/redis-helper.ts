/**
 * Redis for tests: the machine's server at 127.0.0.1:6379 (REDIS_TEST_URL to point elsewhere), a
 * unique key prefix per test so runs never see each other, and every key removed afterwards.
 * Redis unreachable: the test fails with a clear message under CI=true and is skipped elsewhere.
 */
import { Redis } from 'ioredis'
import { randomBytes } from 'node:crypto'
import type { Test } from 'tap'

export const REDIS_TEST_URL = process.env.REDIS_TEST_URL ?? 'redis://127.0.0.1:6379'

async function reachable(url: string): Promise<boolean> {
  const probe = new Redis(url, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, retryStrategy: () => null })
  probe.on('error', () => {})
  try {
    await probe.connect()
    await probe.ping()
    return true
  } catch {
    return false
  } finally {
    probe.disconnect()
  }
}

export interface TestRedis {
  url: string
  prefix: string
  /** A plain client for looking at (or tampering with) what the service stored. */
  client: Redis
  /** The env a server needs to share this Redis and prefix. */
  env: Record<string, string>
}

/** Undefined when the test was skipped (or failed, under CI) because Redis is unreachable. */
export async function useRedis(t: Test, url = REDIS_TEST_URL): Promise<TestRedis | undefined> {
  if (!(await reachable(url))) {
    const message = `Redis is unreachable at ${url}: the Redis tests need it (start redis-server, or set REDIS_TEST_URL)`
    if (process.env.CI === 'true') t.fail(message)
    else t.pass(message, { skip: message })
    return undefined
  }
  const prefix = `signaling-test:${randomBytes(6).toString('hex')}:`
  const client = new Redis(url)
  t.teardown(async () => {
    const keys = await client.keys(`${prefix}*`)
    if (keys.length > 0) await client.del(...keys)
    await client.quit()
  })
  return {
    url,
    prefix,
    client,
    env: { REDIS_URL: url, REDIS_KEY_PREFIX: prefix, INSTANCE_HEARTBEAT_MS: '200', INSTANCE_TIMEOUT_MS: '1000' }
  }
}
