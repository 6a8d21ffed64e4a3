/**
 * The log budget: what clients cause to be logged stays bounded per socket and per second, and
 * what is dropped is counted.
 */
import { Writable } from 'node:stream'
import pino from 'pino'
import t from 'tap'
import { createLogBudget } from '../src/log-budget.js'

function budget(level = 'debug') {
  const lines: Array<Record<string, unknown>> = []
  const log = pino({ level }, new Writable({ write: (chunk, _encoding, done) => done(void lines.push(JSON.parse(String(chunk)))) }))
  let suppressed = 0
  return { lines, suppressed: () => suppressed, budget: createLogBudget({ log, windowMs: 60_000, onSuppressed: () => suppressed++ }) }
}

t.test('a socket repeating one line logs it once per window, and every repeat is counted', async (t) => {
  const { lines, suppressed, budget: b } = budget()
  for (let i = 0; i < 1000; i++) b.log('socket-a', 'warn', { socketId: 'socket-a' }, 'room store unavailable')
  t.equal(lines.length, 1)
  t.equal(suppressed(), 999)
})

t.test('a socket logs at most five lines per window, whatever they say', async (t) => {
  const { lines, suppressed, budget: b } = budget()
  for (let i = 0; i < 50; i++) b.log('socket-a', 'error', {}, `failure ${i}`)
  b.log('socket-b', 'error', {}, 'failure 0')
  t.equal(lines.filter((line) => line.level === 50).length, 6, 'five from a, and b has a budget of its own')
  t.equal(suppressed(), 45)
  b.forget('socket-a')
  b.log('socket-a', 'error', {}, 'failure 0')
  t.equal(lines.length, 7, 'a socket forgotten starts afresh')
})

t.test('all sockets together log at most a hundred lines a second', async (t) => {
  const { lines, suppressed, budget: b } = budget()
  for (let i = 0; i < 5000; i++) b.log(`socket-${i}`, 'info', {}, 'socket connected')
  for (let i = 0; i < 50; i++) b.log(undefined, 'warn', {}, 'handshake refused')
  // The second may have turned over once during the loop.
  t.ok(lines.length >= 100 && lines.length <= 200, `${lines.length} lines`)
  t.equal(suppressed(), 5050 - lines.length)
})

t.test('lines the level drops are neither logged nor counted', async (t) => {
  const { lines, suppressed, budget: b } = budget('warn')
  for (let i = 0; i < 10; i++) b.log('socket-a', 'debug', {}, `debug ${i}`)
  t.equal(lines.length, 0)
  t.equal(suppressed(), 0)
})
