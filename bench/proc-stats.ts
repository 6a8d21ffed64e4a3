/** What /proc says of a server process: CPU time, write calls, resident memory. */
import { readFileSync } from 'node:fs'

const CLOCK_TICKS_PER_SECOND = 100 // Linux USER_HZ

/** CPU time (user + system) the process has used, in microseconds, from /proc. */
export function cpuMicros(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS_PER_SECOND
}

/**
 * Minor page faults the process has taken: memory touched for the first time, or given back and
 * touched again. On this project's VMs each costs 10 µs or more, so they explain CPU that profiles
 * spread over whatever touched the page (docs/performance.md, eighth session).
 */
export function minorFaults(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[7])
}

/** Write system calls the process has made (each socket write is one writev), from /proc. */
export function writeCalls(pid: number): number {
  return Number(/syscw: (\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))![1])
}

/** Resident memory in bytes, from /proc. */
export function rssBytes(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'))!
  return Number(line.split(/\s+/)[1]) * 1024
}
