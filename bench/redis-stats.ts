/** What Redis says of itself: commands run, by name, and its CPU time (for a Redis on this machine). */
import { Redis } from 'ioredis'

export interface RedisSnapshot {
  /** Calls per command since Redis started, from INFO commandstats. */
  calls: Record<string, number>
  /** user + system CPU seconds, from INFO cpu. */
  cpuSeconds: number
}

export async function redisSnapshot(url: string): Promise<RedisSnapshot> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 })
  try {
    await client.connect()
    const stats = await client.info('commandstats')
    const cpu = await client.info('cpu')
    const calls: Record<string, number> = {}
    for (const match of stats.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls[match[1]!] = Number(match[2])
    const seconds = (name: string): number => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(cpu)?.[1] ?? 0)
    return { calls, cpuSeconds: seconds('used_cpu_user') + seconds('used_cpu_sys') }
  } finally {
    client.disconnect()
  }
}

/** Commands run between two snapshots, by name, largest first (`config` and `info`, the bench's own, left out). */
export function commandsBetween(before: RedisSnapshot, after: RedisSnapshot): Record<string, number> {
  const delta: Record<string, number> = {}
  for (const [name, calls] of Object.entries(after.calls)) {
    const more = calls - (before.calls[name] ?? 0)
    if (more > 0 && name !== 'info' && name !== 'config' && name !== 'client|setinfo') delta[name] = more
  }
  return Object.fromEntries(Object.entries(delta).sort(([, a], [, b]) => b - a))
}
