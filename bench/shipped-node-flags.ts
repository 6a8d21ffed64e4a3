/**
 * How `npm start` runs the server, `[VAR=value …] node [flags] dist/server.js`: what the bench runs
 * ours with, and what the Dockerfile's ENV and CMD must equal (test/server-process.test.ts).
 */
export function startScriptCommand(startScript: string): { env: Record<string, string>; flags: string[] } {
  const match = /((?:\b[A-Z_]+=\S+ )*)node ((?:--\S+ )*)dist\/server\.js/.exec(startScript)
  if (!match) throw new Error(`npm start does not run \`[VAR=value …] node [flags] dist/server.js\`: ${startScript}`)
  const env = Object.fromEntries(match[1]!.split(' ').filter(Boolean).map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]))
  return { env, flags: match[2]!.split(' ').filter(Boolean) }
}
