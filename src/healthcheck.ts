/**
 * The image's HEALTHCHECK: exits 0 when this container's server answers `GET /health`, else 1.
 * It asks the address the server listens on (HOST), so a HOST bound to one interface works too;
 * a wildcard HOST is asked on loopback. Plain Node, since the runtime image has no curl.
 */
import { pathToFileURL } from 'node:url'

/** The address to reach a server listening on `host`, as a URL's host part. */
export function probeAddress(host: string | undefined): string {
  const value = host?.trim() ?? ''
  if (value === '' || value === '0.0.0.0') return '127.0.0.1'
  if (value === '::' || value === '[::]') return '[::1]'
  // A bare IPv6 address needs brackets in a URL.
  return value.includes(':') && !value.startsWith('[') ? `[${value}]` : value
}

/** The URL of /health for the server these settings start. */
export function healthUrl(env: Record<string, string | undefined>): string {
  return `http://${probeAddress(env.HOST)}:${env.PORT?.trim() || '5000'}/health`
}

// Run as a script (the HEALTHCHECK), not when a test imports it.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  // Within the HEALTHCHECK's --timeout, so a hung server reads as unhealthy rather than killed.
  fetch(healthUrl(process.env), { signal: AbortSignal.timeout(2500) }).then(
    (response) => process.exit(response.ok ? 0 : 1),
    () => process.exit(1)
  )
}
