/**
 * signaling-server/client as a browser gets it: bundled for the browser (which fails on any
 * Node-only import), minified and gzipped without socket.io-client, under the 12 KB; and
 * the package's subpath export resolves to the built files.
 */
import { build } from 'esbuild'
import { gzipSync } from 'node:zlib'
import t from 'tap'

const BUDGET_BYTES = 12 * 1024

t.test('the client bundle: browser-only imports, no runtime protocol schemas, min+gzip within 12 KB', async (t) => {
  const result = await build({
    entryPoints: [new URL('../client/index.ts', import.meta.url).pathname],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    external: ['socket.io-client'],
    write: false,
    metafile: true,
    logLevel: 'silent'
  })
  const code = result.outputFiles[0]!.contents
  const gzipped = gzipSync(code, { level: 9 }).length
  t.comment(`signaling-server/client: ${code.length} bytes minified, ${gzipped} bytes (${(gzipped / 1024).toFixed(1)} KB) min+gzip, socket.io-client excluded`)
  t.ok(gzipped <= BUDGET_BYTES, `min+gzip ${gzipped} bytes, within ${BUDGET_BYTES}`)
  const output = Object.values(result.metafile.outputs)[0]!
  t.same(output.imports.map((entry) => entry.path), ['socket.io-client'], 'its one import is socket.io-client')
  const inputs = Object.keys(result.metafile.inputs)
  // The error table (no dependencies) is the one piece of src/ a browser needs; protocol.ts, with
  // its runtime schemas, must not come along.
  t.ok(inputs.every((input) => input.startsWith('client/') || input === 'src/protocol-errors.ts'),
    `only client/ and the error table are bundled, the protocol's types are erased (${inputs.join(', ')})`)
})

t.test('the package exports ./client with its types', async (t) => {
  const client = await import('signaling-server/client')
  t.equal(typeof client.joinCall, 'function')
  const error = new client.CallError('ROOM_FULL', 'Room is full.')
  t.match(error, { name: 'CallError', code: 'ROOM_FULL', message: 'Room is full.' })
  t.ok(error instanceof Error)
})
