/** The bench's command line (see run.ts for what each option does). */
import { parseArgs } from 'node:util'

export const { values: args } = parseArgs({
  options: {
    sockets: { type: 'string', default: '10000' },
    rates: { type: 'string', default: '1000,2500,5000,7500' },
    duration: { type: 'string', default: '10' },
    workers: { type: 'string', default: '2' },
    url: { type: 'string' },
    json: { type: 'string' },
    svg: { type: 'string' },
    only: { type: 'string' },
    repeat: { type: 'string', default: '1' },
    'server-env': { type: 'string', multiple: true, default: [] },
    'server-cpus': { type: 'string' },
    'floor-node-flags': { type: 'string', default: '' },
    'floor-recovery': { type: 'boolean', default: false },
    'ours-node-flags': { type: 'string' },
    'from-json': { type: 'string' },
    profile: { type: 'string', default: 'relay' },
    lanes: { type: 'string', default: '40' },
    'rooms-per-second': { type: 'string', default: '0' },
    round: { type: 'string', default: '30' },
    'max-rss-mb': { type: 'string', default: '400' },
    step: { type: 'string', default: '1000' }
  }
})
/** relay: the join storm then paced signals; churn: rooms made and ended continuously; ceiling: sockets until an RSS. */
export const PROFILE = args.profile
if (!['relay', 'churn', 'ceiling'].includes(PROFILE)) throw new Error(`--profile is relay, churn or ceiling, not ${PROFILE}`)
/** Extra settings for our server, `--server-env RECONNECT_GRACE_MS=0`: to measure what a feature costs. */
export const SERVER_ENV = Object.fromEntries(
  (args['server-env']).map((pair) => {
    const equals = pair.indexOf('=')
    if (equals < 1) throw new Error(`--server-env takes KEY=VALUE, not ${pair}`)
    return [pair.slice(0, equals), pair.slice(equals + 1)]
  })
)
export const SOCKETS = Number(args.sockets)
export const RATES = args.rates.split(',').map(Number)
export const DURATION_MS = Number(args.duration) * 1000
export const WORKERS = Number(args.workers)
export const REPEAT = Number(args.repeat)
if (!Number.isInteger(REPEAT) || REPEAT < 1) throw new Error(`--repeat must be a whole number from 1, not ${args.repeat}`)
export const SERVER_CPUS = args['server-cpus']
