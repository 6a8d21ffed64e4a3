/**
 * Test hosts on this machine: each a network namespace whose one link (a veth pair) plugs into a
 * bridge in the root namespace, which holds the server's address. A browser runs inside a host
 * through `ip netns exec` (a wrapper script as Playwright's executablePath: its pipe to the browser
 * crosses namespaces). Addresses come from 198.18.0.0/15 (RFC 2544, for test networks) and the hosts
 * get no default route, so nothing they send can leave for anywhere but the bridge.
 */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { CHROMIUM } from './browser-helper.js'

export interface TestHost {
  /** The namespace's name. */
  name: string
  address: string
  /** An executable that starts Chromium inside this host, for Playwright's `executablePath`. */
  chromium: string
  /** The link goes down and loses its address, as when leaving a Wi-Fi network. */
  linkDown(): void
  /** The link comes back with `address` (a new one, as on another network). */
  linkUp(address: string): void
}

export interface TestNetwork {
  /** The bridge's address, in the root namespace: where the server listens. */
  serverAddress: string
  hosts: TestHost[]
  /** An address on the bridge's subnet that no host has yet. */
  freeAddress(): string
}

const ip = (...args: string[]): string => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString()

function hasIp(): boolean {
  try {
    ip('-V')
    return true
  } catch {
    return false
  }
}

/** A /24 of 198.18.0.0/15 that no address or route on this machine uses yet. */
function freeSubnet(): string {
  const used = ip('-4', '-o', 'addr') + ip('-4', 'route')
  const start = randomBytes(1)[0]!
  for (let i = 0; i < 512; i++) {
    const n = (start + i) % 512
    const prefix = `198.${18 + (n >> 8)}.${n & 255}`
    if (!used.includes(`${prefix}.`)) return prefix
  }
  throw new Error('no free /24 left in 198.18.0.0/15')
}

/**
 * `count` hosts on one bridge, removed in teardown (and at exit, should teardown not run). Resolves
 * undefined when it cannot run here: skipped with the reason, or failed under CI, which must run it.
 */
export function createTestNetwork(t: Test, count: number): TestNetwork | undefined {
  const missing = process.getuid?.() !== 0 ? 'needs root (network namespaces)' : !hasIp() ? 'needs `ip` (apt-get install iproute2; .ci/run does)' : undefined
  if (missing !== undefined) {
    if (process.env.CI === 'true') t.fail(missing)
    else t.pass(missing, { skip: missing })
    return undefined
  }
  // Unique per run, so that parallel runs (and a run's leftovers) never collide; ≤ 15 characters.
  const tag = `sg${randomBytes(3).toString('hex')}`
  const bridge = `${tag}br`
  const prefix = freeSubnet()
  const dir = mkdtempSync(join(tmpdir(), `${tag}-`))
  const namespaces: string[] = []
  const links: string[] = []
  const removeAll = (): void => {
    // Deleting one end of a veth pair deletes both. A namespace itself may outlive its name for a
    // few minutes (a TCP socket of a closed browser still retrying from an address that is gone).
    for (const [list, remove] of [[links, ['link', 'del']], [namespaces, ['netns', 'del']]] as const) {
      for (const name of list) {
        try {
          ip(...remove, name)
        } catch {
          // Already gone: the test removed it, or it was never made.
        }
      }
    }
    try {
      ip('link', 'del', bridge)
    } catch {
      // Already gone.
    }
    rmSync(dir, { recursive: true, force: true })
  }
  process.once('exit', removeAll)
  t.teardown(() => {
    removeAll()
    process.off('exit', removeAll)
  })

  ip('link', 'add', bridge, 'type', 'bridge')
  ip('addr', 'add', `${prefix}.1/24`, 'dev', bridge)
  ip('link', 'set', bridge, 'up')
  let next = 10
  const hosts = Array.from({ length: count }, (_, i): TestHost => {
    const name = `${tag}n${i}`
    const outside = `${tag}h${i}`
    const inside = `${tag}p${i}`
    const address = `${prefix}.${next++}`
    ip('netns', 'add', name)
    namespaces.push(name)
    ip('-n', name, 'link', 'set', 'lo', 'up')
    ip('link', 'add', outside, 'type', 'veth', 'peer', 'name', inside, 'netns', name)
    links.push(outside)
    ip('link', 'set', outside, 'master', bridge)
    ip('link', 'set', outside, 'up')
    ip('-n', name, 'addr', 'add', `${address}/24`, 'dev', inside)
    ip('-n', name, 'link', 'set', inside, 'up')
    const chromium = join(dir, `chromium-${i}`)
    writeFileSync(chromium, `#!/bin/sh\nexec ip netns exec ${name} ${CHROMIUM} "$@"\n`)
    chmodSync(chromium, 0o755)
    return {
      name,
      address,
      chromium,
      linkDown() {
        ip('-n', name, 'link', 'set', inside, 'down')
        ip('-n', name, 'addr', 'flush', 'dev', inside)
      },
      linkUp(newAddress) {
        ip('-n', name, 'addr', 'add', `${newAddress}/24`, 'dev', inside)
        ip('-n', name, 'link', 'set', inside, 'up')
        this.address = newAddress
      }
    }
  })
  return { serverAddress: `${prefix}.1`, hosts, freeAddress: () => `${prefix}.${next++}` }
}
