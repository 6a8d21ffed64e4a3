import fastifyEnv from '@fastify/env'
import { Type, type Static } from '@sinclair/typebox'
import fp from 'fastify-plugin'

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
type LogLevel = (typeof LOG_LEVELS)[number]

/**
 * Every setting the service reads, in one schema. `@fastify/env` coerces and validates it at
 * boot, so a bad value stops the process with a message that names the variable.
 */
export const ConfigSchema = Type.Object({
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 5000 }),
  HOST: Type.String({ minLength: 1, default: '0.0.0.0' }),
  LOG_LEVEL: Type.Unsafe<LogLevel>({ type: 'string', enum: LOG_LEVELS, default: 'info' }),
  /** Serve the reference video-call page at `/`. */
  DEMO_PAGE: Type.Boolean({ default: true }),
  /** Comma-separated origins allowed to call HTTP routes and Socket.IO; `*` allows any. */
  CORS_ORIGINS: Type.String({ default: '*' }),
  MAX_USERS_PER_ROOM: Type.Integer({ minimum: 2, maximum: 16, default: 4 }),
  /** Largest Socket.IO message accepted (its `maxHttpBufferSize`); bigger frames close the transport. */
  MAX_MESSAGE_BYTES: Type.Integer({ minimum: 1024, maximum: 16 * 1024 * 1024, default: 64 * 1024 }),
  /** Largest `signal` payload relayed, measured as its JSON text; a real SDP offer is 3–10 KB. */
  MAX_SIGNAL_BYTES: Type.Integer({ minimum: 256, maximum: 16 * 1024 * 1024, default: 32 * 1024 }),
  /** Token bucket per socket: this many events at once (trickle ICE to three peers is a few hundred)… */
  RATE_LIMIT_BURST: Type.Integer({ minimum: 1, default: 400 }),
  /** …refilled at this many events per second. */
  RATE_LIMIT_PER_SECOND: Type.Number({ exclusiveMinimum: 0, default: 50 }),
  /** A socket refused this many times within RATE_LIMIT_WINDOW_MS is disconnected. */
  RATE_LIMIT_MAX_REFUSALS: Type.Integer({ minimum: 1, default: 200 }),
  RATE_LIMIT_WINDOW_MS: Type.Integer({ minimum: 100, default: 10_000 }),
  /** Failed `join-room` attempts one socket may make before joins are refused, against brute force. */
  MAX_FAILED_JOINS: Type.Integer({ minimum: 1, default: 10 }),
  /** Rooms one connection may create per minute (that many at once, refilled over the minute). */
  ROOMS_PER_MINUTE: Type.Integer({ minimum: 1, default: 10 }),
  /**
   * A member whose connection drops abnormally keeps its seat (and its socket id, through Socket.IO
   * connection state recovery) this long; 0 frees seats at once.
   */
  RECONNECT_GRACE_MS: Type.Integer({ minimum: 0, default: 20_000 }),
  /**
   * Without Redis: the most bytes the packet log that keeps sent packets for resumes may hold. It
   * allocates as traffic needs and gives back what it prunes; past the cap the oldest packets go
   * early (logged, and counted in signaling_recovery_log_dropped_total). Unset: 256 MiB, or a
   * quarter of the process's memory limit (a container's) when less (recovery/log-cap.ts).
   * docs/recovery.md sizes it.
   */
  RECOVERY_LOG_BYTES: Type.Optional(Type.Integer({ minimum: 1 << 20, maximum: 2 ** 32 })),
  /**
   * Socket.IO heartbeat: a connection whose client misses a ping for PING_INTERVAL_MS +
   * PING_TIMEOUT_MS is dropped (and its seat kept for the grace window). Lower than Socket.IO's
   * 25 s + 20 s so a dead connection is noticed within 15 s.
   */
  PING_INTERVAL_MS: Type.Integer({ minimum: 1000, default: 10_000 }),
  PING_TIMEOUT_MS: Type.Integer({ minimum: 1000, default: 5000 }),
  /** On SIGTERM: how long to answer /ready 503 before moving sockets off, so the load balancer stops sending clients. */
  DRAIN_DELAY_MS: Type.Integer({ minimum: 0, default: 5000 }),
  /** How long shutdown waits for disconnected sockets' clean-up before closing the store. */
  SHUTDOWN_TIMEOUT_MS: Type.Integer({ minimum: 0, default: 10_000 }),
  /** Set: rooms live in Redis and events cross instances through it. Unset: one process's memory. */
  REDIS_URL: Type.Optional(Type.String({ pattern: '^$|^(redis|rediss|redis\\+sentinel|redis\\+cluster)://' })),
  /** Every Redis key and stream of this deployment starts with it (a `{tag}` keeps Cluster slots together). */
  REDIS_KEY_PREFIX: Type.String({ minLength: 1, default: 'signaling:' }),
  REDIS_CONNECT_TIMEOUT_MS: Type.Integer({ minimum: 100, default: 5000 }),
  /** A store command unanswered this long fails with UNAVAILABLE instead of stalling the socket. */
  REDIS_COMMAND_TIMEOUT_MS: Type.Integer({ minimum: 50, default: 2000 }),
  /** How often an instance renews its heartbeat key and looks for dead instances. */
  INSTANCE_HEARTBEAT_MS: Type.Integer({ minimum: 100, default: 5000 }),
  /** An instance silent this long is dead; its members are removed (so within timeout + heartbeat). */
  INSTANCE_TIMEOUT_MS: Type.Integer({ minimum: 300, default: 15_000 }),
  /** Entries kept in the Redis stream that carries events between instances (and replays them on recovery). */
  REDIS_STREAM_MAX_LEN: Type.Integer({ minimum: 1000, default: 100_000 }),
  /** Room keys expire this long after their last change, so nothing in Redis grows forever. */
  ROOM_TTL_S: Type.Integer({ minimum: 60, default: 86_400 }),

  /** Set: every connection must carry an HS256 JWT signed with this secret (`auth: { token }`). */
  AUTH_JWT_SECRET: Type.Optional(Type.String({ minLength: 32 })),
  /** Set: every connection must carry a JWT verifiable with this JWKS (Firebase, Auth0, Keycloak ID tokens). */
  AUTH_JWKS_URL: Type.Optional(Type.String({ pattern: '^$|^https?://' })),
  AUTH_ISSUER: Type.Optional(Type.String()),
  AUTH_AUDIENCE: Type.Optional(Type.String()),
  /** After fetching the JWKS, wait this long before fetching it again for an unknown key id. */
  AUTH_JWKS_COOLDOWN_MS: Type.Integer({ minimum: 0, default: 30_000 }),

  /**
   * Which proxies to believe about the client address (X-Forwarded-For): `false`, `true` (any),
   * a hop count, or comma-separated addresses/CIDRs. Only the per-address limits use the address.
   */
  TRUST_PROXY: Type.String({ default: 'false' }),
  /** Open connections one client address may hold; 0 = no limit (behind a proxy without TRUST_PROXY all clients share one address). */
  MAX_CONNECTIONS_PER_IP: Type.Integer({ minimum: 0, default: 0 }),
  /** New connections one client address may open per minute; 0 = no limit. */
  HANDSHAKES_PER_IP_PER_MINUTE: Type.Integer({ minimum: 0, default: 0 }),

  /** An HTTP request (headers and body) must arrive whole within this; a body that never ends is cut off. */
  HTTP_REQUEST_TIMEOUT_MS: Type.Integer({ minimum: 1000, default: 30_000 }),
  /** Its headers within this (at most HTTP_REQUEST_TIMEOUT_MS). */
  HTTP_HEADERS_TIMEOUT_MS: Type.Integer({ minimum: 1000, default: 10_000 }),
  /** An idle keep-alive connection is closed after this. */
  HTTP_KEEP_ALIVE_TIMEOUT_MS: Type.Integer({ minimum: 1000, default: 10_000 }),

  /** Comma-separated STUN URLs handed to clients, e.g. `stun:stun.example.org:3478`. */
  STUN_URLS: Type.String({ default: '' }),
  /** Comma-separated TURN URLs, e.g. `turn:turn.example.org:3478?transport=udp,turns:turn.example.org:5349`. */
  TURN_URLS: Type.String({ default: '' }),
  /** coturn's `static-auth-secret` (TURN REST credentials); required with TURN_URLS. */
  TURN_SECRET: Type.Optional(Type.String({ minLength: 16 })),
  TURN_TTL_S: Type.Integer({ minimum: 60, default: 3600 }),

  /**
   * `GET /metrics` is served on this port only, never on PORT, so that the public listener (what the
   * load balancer forwards) does not show it; Prometheus scrapes the instance here. 0 = any free port.
   */
  METRICS_PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 9464 }),
  /** The metrics port's listen address; HOST when unset. */
  METRICS_HOST: Type.Optional(Type.String({ minLength: 1 })),
  /** Set: `GET /metrics` also needs `Authorization: Bearer <token>`. */
  METRICS_TOKEN: Type.Optional(Type.String({ minLength: 16 })),

  /** Over any of these the instance sheds load: HTTP routes answer 503 and new handshakes are refused (0 = off). */
  PRESSURE_MAX_EVENT_LOOP_DELAY_MS: Type.Integer({ minimum: 0, default: 1000 }),
  PRESSURE_MAX_HEAP_USED_BYTES: Type.Integer({ minimum: 0, default: 0 }),
  PRESSURE_MAX_RSS_BYTES: Type.Integer({ minimum: 0, default: 0 }),
  PRESSURE_SAMPLE_INTERVAL_MS: Type.Integer({ minimum: 10, default: 1000 }),
  PRESSURE_RETRY_AFTER_S: Type.Integer({ minimum: 1, default: 10 })
})

export type Config = Static<typeof ConfigSchema>

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
  }
}

export interface EnvPluginOptions {
  /** Where settings come from; the process environment unless a test passes its own. */
  env?: Record<string, string | undefined>
}

export default fp<EnvPluginOptions>(
  async function envPlugin(fastify, opts) {
    await fastify.register(fastifyEnv, {
      confKey: 'config',
      schema: ConfigSchema,
      data: opts.env ?? process.env
    })
    const { INSTANCE_HEARTBEAT_MS, INSTANCE_TIMEOUT_MS } = fastify.config
    if (INSTANCE_TIMEOUT_MS < 2 * INSTANCE_HEARTBEAT_MS) {
      throw new Error('env/INSTANCE_TIMEOUT_MS must be at least twice INSTANCE_HEARTBEAT_MS')
    }
    const { REDIS_URL, REDIS_KEY_PREFIX } = fastify.config
    if (REDIS_URL?.startsWith('redis+cluster://') && !/\{[^}]+\}/.test(REDIS_KEY_PREFIX)) {
      // The Lua scripts touch several keys; on a cluster they must share a slot (CROSSSLOT otherwise).
      throw new Error('env/REDIS_KEY_PREFIX must contain a {hash-tag}, e.g. {signaling}:, with a redis+cluster:// REDIS_URL')
    }
    if (fastify.config.HTTP_HEADERS_TIMEOUT_MS > fastify.config.HTTP_REQUEST_TIMEOUT_MS) {
      throw new Error('env/HTTP_HEADERS_TIMEOUT_MS must not be above env/HTTP_REQUEST_TIMEOUT_MS')
    }
    const { AUTH_JWT_SECRET, AUTH_JWKS_URL, TURN_URLS, TURN_SECRET } = fastify.config
    if (AUTH_JWT_SECRET && AUTH_JWKS_URL) {
      throw new Error('env/AUTH_JWT_SECRET and env/AUTH_JWKS_URL are exclusive: set one')
    }
    if (AUTH_JWKS_URL) {
      // Providers such as Firebase sign every project's tokens with one key set: without issuer and
      // audience any of their tokens, for anyone's app, would be accepted.
      if (!fastify.config.AUTH_ISSUER || !fastify.config.AUTH_AUDIENCE) {
        throw new Error('env/AUTH_ISSUER and env/AUTH_AUDIENCE are required with env/AUTH_JWKS_URL')
      }
      const { protocol, hostname } = new URL(AUTH_JWKS_URL)
      if (protocol !== 'https:' && !['127.0.0.1', 'localhost', '[::1]'].includes(hostname)) {
        throw new Error('env/AUTH_JWKS_URL must be https (keys fetched in the clear could be replaced)')
      }
    }
    if (TURN_URLS.trim() !== '' && !TURN_SECRET) {
      throw new Error('env/TURN_SECRET is required with env/TURN_URLS (TURN REST credentials)')
    }
    // The logger is created before the config is read; apply the configured level now.
    fastify.log.level = fastify.config.LOG_LEVEL
  },
  { name: 'env' }
)
