/**
 * The Node flags in `npm start`'s `node [flags] dist/server.js`: what the bench runs our server
 * with, and what the Dockerfile's NODE_OPTIONS must equal (test/server-process.test.ts).
 */
export function startScriptNodeFlags(startScript: string): string[] {
  const match = /\bnode ((?:--\S+ )*)dist\/server\.js/.exec(startScript)
  if (!match) throw new Error(`npm start does not run \`node [flags] dist/server.js\`: ${startScript}`)
  return match[1]!.split(' ').filter(Boolean)
}
