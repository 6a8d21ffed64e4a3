import { createHash } from 'node:crypto'
import { EventEmitter } from 'node:events'
import type { Member } from '../protocol.js'
import type { RedisClient } from './redis-connection.js'
import { createRoomId } from './room-id.js'
import {
  StoreUnavailableError,
  type DisplayName,
  type SeatRequest,
  type FreedSeat,
  type JoinOutcome,
  type LeaveOutcome,
  type MemberPatch,
  type RoomStore,
  type RoomStoreOptions
} from './room-store.js'

/**
 * Key layout, every key under `prefix`:
 *   room:<roomId>       hash  memberId → JSON { id, username, key, name, camera, mic, seq, instance, connectionId, subject?,
 *                       away? } (username: the name shown; key: what it looks like; name: the one asked for)
 *                       (exists exactly while the room has members; TTL refreshed on each write)
 *   seats:<instanceId>  set   "<roomId>\n<memberId>" for every seat held by that instance's sockets
 *   away                zset  the same entries for members whose connection dropped, scored by the
 *                       deadline (epoch ms) of their grace window; held by no instance meanwhile
 *   alive:<instanceId>  string, expires unless the instance keeps renewing it (its heartbeat)
 *   instances           set   instance ids that may hold seats
 * Scripts compute `seats:`/`room:` keys from the prefix, so under Redis Cluster the prefix must
 * carry a hash tag (`{signaling}:`) to keep every key in one slot.
 */

type Script = (redis: RedisClient, keys: string[], ...args: Array<string | number>) => Promise<unknown>

/** A Lua script run by its SHA1 (EVALSHA), sending the source only when Redis does not know it yet. */
function createScript(source: string): Script {
  const sha = createHash('sha1').update(source).digest('hex')
  return async (redis, keys, ...args) => {
    try {
      return await redis.evalsha(sha, keys.length, ...keys, ...args)
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error
      return redis.eval(source, keys.length, ...keys, ...args)
    }
  }
}

/**
 * The first of the names in ARGV[n] (JSON [[username, key], …]) whose key no member of `values`
 * but `skip` has; the last one if every key is taken. Shared by JOIN and RENAME (see firstFreeName).
 */
const FIRST_FREE_NAME = `
local function first_free_name(values, names_json, skip)
  local taken = {}
  for _, value in ipairs(values) do
    local seated = cjson.decode(value)
    if seated.id ~= skip then taken[seated.key] = true end
  end
  local names = cjson.decode(names_json)
  for _, name in ipairs(names) do
    if not taken[name[2]] then return name end
  end
  return names[#names]
end
`

/**
 * Seats the member in ARGV[2] unless the room is missing or full, under the first of its names
 * (ARGV[9]) that looks like no other member's; returns 'joined', the id of the away seat it took
 * over ('' for none), then the members in any order. An away seat of the same person (ARGV[6] the
 * subject, or '' and ARGV[7] the asked-for name) is freed in the same step, so a reloaded page gets
 * back into a full room and the seat count never passes the capacity.
 */
const JOIN = createScript(FIRST_FREE_NAME + `
if redis.call('EXISTS', KEYS[1]) == 0 then return {'not-found'} end
local replaced = ''
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then
  local values = redis.call('HVALS', KEYS[1])
  local seq = 0
  local taken = nil
  for _, value in ipairs(values) do
    local seated = cjson.decode(value)
    if seated.seq > seq then seq = seated.seq end
    if seated.away and (taken == nil or seated.seq < taken.seq) then
      local same
      if ARGV[6] ~= '' then same = seated.subject == ARGV[6] else same = seated.subject == nil and seated.name == ARGV[7] end
      if same then taken = seated end
    end
  end
  if taken then
    redis.call('HDEL', KEYS[1], taken.id)
    redis.call('ZREM', KEYS[3], ARGV[8] .. '\\n' .. taken.id)
    replaced = taken.id
    values = redis.call('HVALS', KEYS[1])
  elseif #values >= tonumber(ARGV[3]) then
    return {'full'}
  end
  local member = cjson.decode(ARGV[2])
  local name = first_free_name(values, ARGV[9], '')
  member.seq = seq + 1
  member.username = name[1]
  member.key = name[2]
  redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(member))
  redis.call('SADD', KEYS[2], ARGV[5])
  redis.call('EXPIRE', KEYS[2], ARGV[4])
end
redis.call('EXPIRE', KEYS[1], ARGV[4])
local out = redis.call('HVALS', KEYS[1])
table.insert(out, 1, replaced)
table.insert(out, 1, 'joined')
return out
`)

/** Creates the room with its owner unless the id is taken (then the caller draws another). */
const CREATE = createScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local member = cjson.decode(ARGV[2])
member.seq = 1
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(member))
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('SADD', KEYS[2], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 1
`)

/** Gives a seated member the asked-for name ARGV[2] under the first of ARGV[3] free in the room; returns it. */
const RENAME = createScript(FIRST_FREE_NAME + `
local value = redis.call('HGET', KEYS[1], ARGV[1])
if not value then return false end
local member = cjson.decode(value)
local name = first_free_name(redis.call('HVALS', KEYS[1]), ARGV[3], ARGV[1])
member.name = ARGV[2]
member.username = name[1]
member.key = name[2]
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(member))
redis.call('EXPIRE', KEYS[1], ARGV[4])
return member.username
`)

/** Frees a seat (and its entry in the holding instance's seat set); the hash vanishes when empty. */
const LEAVE = createScript(`
local value = redis.call('HGET', KEYS[1], ARGV[1])
if not value then return {0, 0} end
local member = cjson.decode(value)
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('SREM', ARGV[2] .. 'seats:' .. member.instance, ARGV[3])
redis.call('ZREM', ARGV[2] .. 'away', ARGV[3])
if redis.call('EXISTS', KEYS[1]) == 0 then return {1, 1} end
return {1, 0}
`)

const UPDATE = createScript(`
local value = redis.call('HGET', KEYS[1], ARGV[1])
if not value then return 0 end
local member = cjson.decode(value)
for key, field in pairs(cjson.decode(ARGV[2])) do member[key] = field end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(member))
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
`)

/** Keeps the seat of a dropped connection until a deadline, unless another connection holds it now. */
const MARK_AWAY = createScript(`
local value = redis.call('HGET', KEYS[1], ARGV[1])
if not value then return 0 end
local member = cjson.decode(value)
if member.connectionId ~= ARGV[2] then return 0 end
redis.call('SREM', ARGV[4] .. 'seats:' .. member.instance, ARGV[5])
member.instance = ''
member.away = tonumber(ARGV[3])
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(member))
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[5])
return 1
`)

/** Hands a kept seat to the connection that came back, on whichever instance it came back to. */
const MARK_BACK = createScript(`
local value = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[4])
if not value then return 0 end
local member = cjson.decode(value)
if member.instance ~= '' and member.instance ~= ARGV[3] then
  redis.call('SREM', ARGV[6] .. 'seats:' .. member.instance, ARGV[4])
end
member.away = nil
member.connectionId = ARGV[2]
member.instance = ARGV[3]
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(member))
redis.call('SADD', KEYS[3], ARGV[4])
redis.call('EXPIRE', KEYS[3], ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
`)

/** Frees the seats whose grace window has passed; returns roomId, memberId, roomId, memberId… */
const EXPIRE_AWAY = createScript(`
local freed = {}
for _, entry in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])) do
  redis.call('ZREM', KEYS[1], entry)
  local split = string.find(entry, '\\n', 1, true)
  local roomId = string.sub(entry, 1, split - 1)
  local memberId = string.sub(entry, split + 1)
  local roomKey = ARGV[2] .. 'room:' .. roomId
  local value = redis.call('HGET', roomKey, memberId)
  if value then
    local member = cjson.decode(value)
    if member.away and member.away <= tonumber(ARGV[1]) then
      redis.call('HDEL', roomKey, memberId)
      table.insert(freed, roomId)
      table.insert(freed, memberId)
    end
  end
end
return freed
`)

/**
 * Removes every seat an instance held and forgets the instance, in one step, so that when several
 * survivors notice the same dead instance only one of them reports each seat. Returns the freed
 * seats as a flat list roomId, memberId, roomId, memberId…
 */
const REAP = createScript(`
if redis.call('EXISTS', KEYS[2]) == 1 then return {} end
local seatsKey = ARGV[1] .. 'seats:' .. ARGV[2]
local freed = {}
for _, seat in ipairs(redis.call('SMEMBERS', seatsKey)) do
  local split = string.find(seat, '\\n', 1, true)
  local roomId = string.sub(seat, 1, split - 1)
  local memberId = string.sub(seat, split + 1)
  local roomKey = ARGV[1] .. 'room:' .. roomId
  local value = redis.call('HGET', roomKey, memberId)
  if value and cjson.decode(value).instance == ARGV[2] then
    redis.call('HDEL', roomKey, memberId)
    table.insert(freed, roomId)
    table.insert(freed, memberId)
  end
end
redis.call('DEL', seatsKey)
redis.call('SREM', KEYS[1], ARGV[2])
return freed
`)

export interface RedisRoomStoreOptions extends RoomStoreOptions {
  redis: RedisClient
  prefix: string
  /** This process's id; seats it holds are freed by the others if it stops renewing `alive:`. */
  instanceId: string
  /** How often the heartbeat is renewed and dead instances are looked for. */
  heartbeatMs: number
  /** An instance silent this long is dead; its members are removed. */
  instanceTimeoutMs: number
  /** Room and seat keys expire this long after their last write, so nothing grows forever. */
  roomTtlSeconds: number
  /** Whether a member id belongs to a socket this instance still serves (for self-repair). */
  isServedHere: (memberId: string) => boolean
  onError: (error: unknown) => void
}

interface StoredMember extends Member {
  key: string
  name: string
  seq: number
  instance: string
  connectionId: string
  subject?: string
  away?: number
}

function toMembers(values: string[]): Member[] {
  return values
    .map((value) => JSON.parse(value) as StoredMember)
    .sort((a, b) => a.seq - b.seq)
    .map(({ id, username, camera, mic }) => ({ id, username, camera, mic }))
}

/** Rooms shared by every instance through Redis; seats are claimed atomically by Lua scripts. */
export interface RedisRoomStore extends RoomStore {
  /** Redis answers and our heartbeat is current: the instance may take traffic. */
  healthy(): boolean
}

export function createRedisRoomStore(options: RedisRoomStoreOptions): RedisRoomStore {
  const { redis, prefix, instanceId, capacity, roomTtlSeconds } = options
  const events = new EventEmitter()
  const roomKey = (roomId: string): string => `${prefix}room:${roomId}`
  const seatsKey = `${prefix}seats:${instanceId}`
  const aliveKey = (id: string): string => `${prefix}alive:${id}`
  const instancesKey = `${prefix}instances`
  const awayKey = `${prefix}away`
  const seat = (roomId: string, memberId: string): string => `${roomId}\n${memberId}`
  /** The stored form of a seat; JOIN picks its display name, CREATE takes the first. */
  const stored = ({ id, camera, mic, name, names, connectionId, subject }: SeatRequest): string =>
    JSON.stringify({ id, username: names[0]!.username, key: names[0]!.key, camera, mic, name, instance: instanceId, connectionId, subject })
  const namePairs = (names: DisplayName[]): string => JSON.stringify(names.map(({ username, key }) => [username, key]))
  const pairs = (flat: string[]): FreedSeat[] => {
    const seats: FreedSeat[] = []
    for (let i = 0; i + 1 < flat.length; i += 2) seats.push({ roomId: flat[i]!, memberId: flat[i + 1]! })
    return seats
  }

  /** Every Redis failure becomes one error type the event router turns into UNAVAILABLE. */
  async function call<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation()
    } catch (error) {
      throw new StoreUnavailableError(error)
    }
  }

  /** When the last heartbeat was written: readiness, and proof we are still a live instance. */
  let lastHeartbeat = 0
  let registered = false
  /** Since when Redis has been reachable without a break; see reapDeadInstances. */
  let connectedSince = Date.now()

  async function heartbeat(): Promise<void> {
    const replies = await redis
      .multi()
      .set(aliveKey(instanceId), '1', 'PX', options.instanceTimeoutMs)
      .sadd(instancesKey, instanceId)
      .expire(seatsKey, roomTtlSeconds)
      .exec()
    lastHeartbeat = Date.now()
    const added = replies?.[1]?.[1] === 1
    // Back in `instances` after having registered: the others took us for dead (we were cut off or
    // paused for longer than the timeout) and freed our seats. Our sockets are still here.
    if (added && registered) events.emit('reaped')
    registered = true
  }

  async function reapDeadInstances(): Promise<void> {
    // Right after our own outage every other instance's heartbeat may look stale too: they were
    // cut off from the same Redis. Give them one full timeout to renew before judging them.
    if (Date.now() - connectedSince < options.instanceTimeoutMs) return
    const others = (await redis.smembers(instancesKey)).filter((id) => id !== instanceId)
    if (others.length === 0) return
    const alive = await redis.mget(others.map(aliveKey))
    for (const [index, id] of others.entries()) {
      if (alive[index] !== null) continue
      const freed = (await REAP(redis, [instancesKey, aliveKey(id)], prefix, id)) as string[]
      for (const { roomId, memberId } of pairs(freed)) events.emit('evicted', { roomId, memberId })
    }
  }

  /**
   * Leaves that failed (Redis away, a command timed out) leave seats behind; free every seat this
   * instance holds for a socket it no longer serves.
   */
  async function repairOwnSeats(): Promise<void> {
    for (const entry of await redis.smembers(seatsKey)) {
      const [roomId = '', memberId = ''] = entry.split('\n')
      if (options.isServedHere(memberId)) continue
      const [left] = (await LEAVE(redis, [roomKey(roomId)], memberId, prefix, entry)) as [number, number]
      if (left === 1) events.emit('evicted', { roomId, memberId })
      else await redis.srem(seatsKey, entry)
    }
  }

  const onReady = (): void => {
    connectedSince = Date.now()
  }
  redis.on('ready', onReady)

  const tick = (): void => {
    heartbeat()
      .then(repairOwnSeats)
      .then(reapDeadInstances)
      .catch(options.onError)
  }
  const timer = setInterval(tick, options.heartbeatMs)
  timer.unref()
  tick()

  return {
    healthy() {
      return redis.status === 'ready' && Date.now() - lastHeartbeat < options.instanceTimeoutMs
    },

    async create(owner: SeatRequest): Promise<{ roomId: string; member: Member }> {
      return call(async () => {
        for (;;) {
          const roomId = createRoomId()
          const created = await CREATE(redis, [roomKey(roomId), seatsKey], owner.id, stored(owner), roomTtlSeconds, seat(roomId, owner.id))
          const { id, camera, mic } = owner
          if (created === 1) return { roomId, member: { id, username: owner.names[0]!.username, camera, mic } }
        }
      })
    },

    async join(roomId: string, request: SeatRequest): Promise<JoinOutcome> {
      const result = (await call(() =>
        JOIN(
          redis,
          [roomKey(roomId), seatsKey, awayKey],
          request.id,
          stored(request),
          capacity,
          roomTtlSeconds,
          seat(roomId, request.id),
          request.subject ?? '',
          request.name,
          roomId,
          namePairs(request.names)
        )
      )) as string[]
      const [status, replaced, ...values] = result
      if (status === 'not-found' || status === 'full') return { status }
      const members = toMembers(values)
      const member = members.find(({ id }) => id === request.id)!
      return replaced ? { status: 'joined', members, member, replaced } : { status: 'joined', members, member }
    },

    async leave(roomId: string, memberId: string): Promise<LeaveOutcome> {
      const [left, roomDeleted] = (await call(() =>
        LEAVE(redis, [roomKey(roomId)], memberId, prefix, seat(roomId, memberId))
      )) as [number, number]
      return { left: left === 1, roomDeleted: roomDeleted === 1 }
    },

    async members(roomId: string): Promise<Member[] | undefined> {
      const values = await call(() => redis.hvals(roomKey(roomId)))
      return values.length === 0 ? undefined : toMembers(values)
    },

    async isMember(roomId: string, memberId: string): Promise<boolean> {
      return (await call(() => redis.hexists(roomKey(roomId), memberId))) === 1
    },

    async rename(roomId: string, memberId: string, name: string, names: DisplayName[]): Promise<string | undefined> {
      const shown = await call(() => RENAME(redis, [roomKey(roomId)], memberId, name, namePairs(names), roomTtlSeconds))
      return typeof shown === 'string' ? shown : undefined
    },

    async update(roomId: string, memberId: string, patch: MemberPatch): Promise<boolean> {
      const updated = await call(() => UPDATE(redis, [roomKey(roomId)], memberId, JSON.stringify(patch), roomTtlSeconds))
      return updated === 1
    },

    async markAway(roomId, memberId, connectionId, deadline) {
      const marked = await call(() =>
        MARK_AWAY(redis, [roomKey(roomId), awayKey], memberId, connectionId, deadline, prefix, seat(roomId, memberId))
      )
      return marked === 1
    },

    async markBack(roomId, memberId, connectionId) {
      const back = await call(() =>
        MARK_BACK(redis, [roomKey(roomId), awayKey, seatsKey], memberId, connectionId, instanceId, seat(roomId, memberId), roomTtlSeconds, prefix)
      )
      return back === 1
    },

    async expireAway(now) {
      return pairs((await call(() => EXPIRE_AWAY(redis, [awayKey], now, prefix))) as string[])
    },

    on(event: 'evicted' | 'reaped', listener: (seat: FreedSeat) => void) {
      events.on(event, listener)
    },

    async close(): Promise<void> {
      clearInterval(timer)
      redis.off('ready', onReady)
      // A clean exit: seats were freed as sockets disconnected; stop being an instance.
      await redis
        .multi()
        .del(aliveKey(instanceId))
        .srem(instancesKey, instanceId)
        .del(seatsKey)
        .exec()
        .catch(options.onError)
    }
  }
}
