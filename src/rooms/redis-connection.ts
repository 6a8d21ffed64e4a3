import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis'

export type RedisClient = Redis | Cluster

/** Host and port pairs of `host:port,host:port`. */
function parseNodes(list: string, defaultPort: number): Array<{ host: string; port: number }> {
  return list.split(',').map((node) => {
    const [host = '', port] = node.trim().split(':')
    return { host, port: port ? Number(port) : defaultPort }
  })
}

/** The URL with any password replaced, fit for an error message or a log line. */
export function redactRedisUrl(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, (_match, auth: string) => `//${auth.includes(':') ? auth.split(':')[0] + ':***' : '***'}@`)
}

/**
 * A client for REDIS_URL, not yet connected:
 * - `redis://[user:password@]host:port[/db]` and `rediss://…` (TLS): one server;
 * - `redis+sentinel://[:password@]host:port[,host:port…]/masterName`: a Sentinel-managed primary;
 * - `redis+cluster://[:password@]host:port[,host:port…]`: a Redis Cluster (keys share one hash slot
 *   through the `{…}` in REDIS_KEY_PREFIX, so the Lua scripts stay atomic).
 */
export function createRedisClient(url: string, options: RedisOptions): RedisClient {
  const parsed = /^(redis\+sentinel|redis\+cluster):\/\/(?:([^@]*)@)?([^/]+)(?:\/(.*))?$/.exec(url)
  if (parsed === null) return new Redis(url, { ...options, lazyConnect: true })
  const [, scheme, auth, nodes = '', rest] = parsed
  const password = auth ? decodeURIComponent(auth.includes(':') ? auth.slice(auth.indexOf(':') + 1) : auth) : undefined
  if (scheme === 'redis+sentinel') {
    return new Redis({
      ...options,
      lazyConnect: true,
      sentinels: parseNodes(nodes, 26379),
      name: rest || 'mymaster',
      password,
      sentinelPassword: password
    })
  }
  const clusterOptions: ClusterOptions = {
    lazyConnect: true,
    enableOfflineQueue: options.enableOfflineQueue,
    redisOptions: { ...options, password }
  }
  return new Cluster(parseNodes(nodes, 6379), clusterOptions)
}

/**
 * Connects, or fails fast with a message naming REDIS_URL: a service that cannot reach its shared
 * store should not start taking calls it cannot share.
 */
export async function connectRedis(url: string, options: RedisOptions, timeoutMs: number): Promise<RedisClient> {
  const client = createRedisClient(url, { connectTimeout: timeoutMs, ...options })
  let timer: NodeJS.Timeout | undefined
  try {
    await Promise.race([
      client.connect(),
      new Promise((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)
      })
    ])
    return client
  } catch (error) {
    client.disconnect()
    throw new Error(`Cannot reach Redis at REDIS_URL=${redactRedisUrl(url)}: ${(error as Error).message}`, { cause: error })
  } finally {
    clearTimeout(timer)
  }
}

/**
 * The client to hand @socket.io/redis-streams-adapter (0.3): it sends serverSideEmit messages
 * with PUBLISH and saves sessions with SET, and drops both promises, so with Redis away each failure
 * would be an unhandled rejection, which stops Node. Here those two report a failure and answer as
 * if nobody got it (0, null); everything else, awaited by the adapter, goes to the client itself.
 */
export function catchingUnawaitedWrites(client: RedisClient, onError: (err: Error) => void): RedisClient {
  const publish = (...args: Parameters<Redis['publish']>): Promise<number> =>
    (client as Redis).publish(...args).catch((err: unknown) => {
      onError(err as Error)
      return 0
    })
  const set = (...args: unknown[]): Promise<unknown> =>
    (client.set as (...given: unknown[]) => Promise<unknown>).apply(client, args).catch((err: unknown) => {
      onError(err as Error)
      return null
    })
  // Bound once per method, not on every call: the adapter reads `xadd` for every broadcast.
  const bound = new Map<PropertyKey, unknown>([['publish', publish], ['set', set]])
  return new Proxy(client, {
    get(target, property) {
      const known = bound.get(property)
      if (known !== undefined) return known
      const value: unknown = Reflect.get(target, property, target)
      if (typeof value !== 'function') return value
      const method = (value as (...args: unknown[]) => unknown).bind(target)
      bound.set(property, method)
      return method
    }
  })
}
