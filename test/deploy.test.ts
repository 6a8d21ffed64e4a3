/**
 * What operators run, checked against the server itself: the Dockerfile, deploy/docker-compose.yml,
 * deploy/nginx.conf, the Kubernetes manifests and the Grafana dashboard. Settings come from the
 * env schema's defaults as overridden by the image and the manifests, never restated here; probe
 * paths are asked of a built app; metric names of its real /metrics.
 */
import Fastify from 'fastify'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import t from 'tap'
import { parse, parseAllDocuments } from 'yaml'
import { probeAddress } from '../src/healthcheck.js'
import { parseTrustProxy } from '../src/plugins/admission.js'
import envPlugin, { ConfigSchema, type Config } from '../src/plugins/env.js'
import { startScriptCommand } from '../bench/shipped-node-flags.js'
import { buildServer, createRoom, freePort, joinRoom, nextEvent, request } from './helper.js'

const ROOT = new URL('../', import.meta.url)
const read = (path: string): string => readFileSync(new URL(path, ROOT), 'utf8')

/** Variables the image or a manifest may set that are Node's, or glibc's as npm start sets them
 * (server-process.test.ts names those and holds the image to them), not the server's. */
const NODE_VARIABLES = new Set(['NODE_ENV', 'NODE_OPTIONS', ...Object.keys(startScriptCommand((JSON.parse(read('package.json')) as { scripts: { start: string } }).scripts.start).env)])

/** The settings the server would run with, given these variables: read by its own env plugin, as at boot. */
async function settings(env: Record<string, string>): Promise<Config> {
  const fastify = Fastify()
  await fastify.register(envPlugin, { env: Object.fromEntries(Object.entries(env).filter(([name]) => !NODE_VARIABLES.has(name))) })
  await fastify.ready()
  const { config } = fastify
  await fastify.close()
  return config
}

/** Variable names that are neither the server's settings nor Node's: typos, or settings removed. */
function unknownVariables(names: Iterable<string>): string[] {
  return [...names].filter((name) => !(name in ConfigSchema.properties) && !NODE_VARIABLES.has(name))
}

/** How long a stop (SIGTERM) may take with these settings: the drain, then the shutdown's wait. */
const stopSeconds = (config: Config): number => (config.DRAIN_DELAY_MS + config.SHUTDOWN_TIMEOUT_MS) / 1000

/** The runtime stage of the Dockerfile: its ENV variables, EXPOSEd ports and other instructions. */
function dockerfile() {
  const text = read('Dockerfile')
  const runtime = text.slice(text.lastIndexOf('\nFROM '))
  const env: Record<string, string> = {}
  for (const [, assignments] of runtime.matchAll(/^ENV (.+)$/gm)) {
    for (const assignment of assignments!.trim().split(/\s+/)) {
      const [name, ...value] = assignment.split('=')
      env[name!] = value.join('=')
    }
  }
  const expose = [...runtime.matchAll(/^EXPOSE (.+)$/gm)].flatMap(([, ports]) => ports!.trim().split(/\s+/).map(Number))
  const healthcheck = /^HEALTHCHECK .*?CMD (\[.*\])$/m.exec(runtime.replaceAll('\\\n', ' '))?.[1]
  return { text, runtime, env, expose, healthcheck: healthcheck && (JSON.parse(healthcheck) as string[]), stopSignal: /^STOPSIGNAL (\S+)$/m.exec(runtime)?.[1] }
}

/** A Compose or Kubernetes duration (`15s`, `1m30s`) in seconds. */
function seconds(duration: string): number {
  const parts = [...duration.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)]
  if (parts.length === 0 || parts.map(([part]) => part).join('') !== duration) throw new Error(`not a duration: ${duration}`)
  const unit = { ms: 0.001, s: 1, m: 60, h: 3600 } as const
  return parts.reduce((sum, [, value, u]) => sum + Number(value) * unit[u as keyof typeof unit], 0)
}

t.test('the image: its ports are the server\'s, its HEALTHCHECK is its liveness route, its stop inside docker stop\'s 10 s', async (t) => {
  const image = dockerfile()
  const config = await settings(image.env)
  t.notMatch(image.text, /^# *syntax=/m, 'no syntax line: an offline build needs no BuildKit frontend')
  t.equal([...image.text.matchAll(/^RUN .*\bnpm ci\b/gm)].length, 1, 'one npm ci, in the build stage: the runtime copies pruned node_modules')
  t.match(image.text, /^RUN .*npm prune --omit=dev/m, 'dev dependencies pruned before the copy')
  t.same(image.expose.sort(), [config.PORT, config.METRICS_PORT].sort(), 'EXPOSE names PORT and METRICS_PORT as the image sets them')
  t.same(unknownVariables(Object.keys(image.env)), [], 'every ENV is a setting of the server (or Node\'s)')
  t.same(image.healthcheck, ['node', 'dist/healthcheck.js'], 'the HEALTHCHECK runs the built healthcheck script')
  t.ok(existsSync(new URL('src/healthcheck.ts', ROOT)), 'which the build compiles from src/healthcheck.ts')
  t.equal(image.stopSignal, 'SIGTERM', 'stopped with SIGTERM, on which the server drains (SIGINT skips the drain)')
  // docker stop and Compose send SIGKILL 10 s after the signal; keep 2 s for the process to exit.
  t.ok(stopSeconds(config) <= 8, `drain + shutdown is ${stopSeconds(config)} s, well inside 10 s`)
})

t.test('the HEALTHCHECK asks the address HOST names, and a draining server still passes it', async (t) => {
  t.equal(probeAddress(undefined), '127.0.0.1')
  t.equal(probeAddress('0.0.0.0'), '127.0.0.1', 'the IPv4 wildcard on loopback')
  t.equal(probeAddress('::'), '[::1]', 'the IPv6 wildcard on its loopback')
  t.equal(probeAddress('10.1.2.3'), '10.1.2.3', 'one address as itself')
  t.equal(probeAddress('fd00::5'), '[fd00::5]', 'an IPv6 address in brackets')
  t.equal(probeAddress('signaling.internal'), 'signaling.internal')

  const script = new URL('dist/healthcheck.js', ROOT)
  if (!existsSync(script)) return void t.fail('dist/healthcheck.js is missing: run `npm run build` (npm test does)')
  const check = async (env: Record<string, string>): Promise<number | null> => {
    const child = spawn(process.execPath, [script.pathname], { env: { PATH: process.env.PATH, ...env }, stdio: 'ignore' })
    const [code] = (await once(child, 'exit')) as [number | null]
    return code
  }
  // As Docker does (--retries=3): one try may miss its 2.5 s on a loaded machine; a live server passes one of them.
  const checkWithRetries = async (env: Record<string, string>): Promise<number | null> => {
    let code: number | null = null
    for (let attempt = 0; attempt < 3 && code !== 0; attempt++) code = await check(env)
    return code
  }
  const { app, url } = await buildServer(t)
  const port = new URL(url).port
  t.equal(await checkWithRetries({ HOST: '127.0.0.1', PORT: port }), 0, 'passes against the server at HOST and PORT')
  t.equal(await checkWithRetries({ HOST: '0.0.0.0', PORT: port }), 0, 'and with the wildcard HOST the image sets')
  t.equal(await check({ HOST: '127.0.0.1', PORT: String(await freePort()) }), 1, 'fails where nothing listens')
  app.readiness.draining = true
  t.equal(await checkWithRetries({ HOST: '127.0.0.1', PORT: port }), 0, 'passes while draining: liveness, not readiness')
})

t.test('the probe routes the manifests use: /ready turns 503 while draining, /health stays 200', async (t) => {
  const { app } = await buildServer(t)
  t.equal((await app.inject('/ready')).statusCode, 200)
  t.equal((await app.inject('/health')).statusCode, 200)
  app.readiness.draining = true
  t.equal((await app.inject('/ready')).statusCode, 503, 'readiness fails while draining: no new clients')
  t.equal((await app.inject('/health')).statusCode, 200, 'liveness holds: a draining pod is not restarted')
})

interface ComposeService {
  image?: string
  build?: unknown
  environment?: Record<string, string>
  depends_on?: Record<string, { condition?: string }>
  healthcheck?: unknown
  stop_grace_period?: string
  ports?: string[]
}

t.test('compose: one image built once, healthy instances before the balancer, a grace that covers the stop', async (t) => {
  const { services } = parse(read('deploy/docker-compose.yml'), { merge: true }) as { services: Record<string, ComposeService> }
  const image = dockerfile()
  const instances = Object.entries(services).filter(([, service]) => service.image === services['signaling-1']?.image)
  t.same(instances.map(([name]) => name), ['signaling-1', 'signaling-2'], 'both instances run one image')
  t.same(instances.filter(([, service]) => service.build !== undefined).map(([name]) => name), ['signaling-1'], 'built by one service only')
  t.ok(existsSync(new URL(`deploy/${String(services['signaling-1']!.build)}/Dockerfile`, ROOT)), 'from the repository\'s Dockerfile')

  for (const [name, service] of instances) {
    const config = await settings({ ...image.env, ...service.environment })
    t.same(unknownVariables(Object.keys(service.environment ?? {})), [], `${name}: every variable is a setting of the server`)
    t.ok(service.environment?.REDIS_URL?.startsWith('redis://redis:'), `${name}: shares the compose Redis`)
    t.equal(service.depends_on?.redis?.condition, 'service_healthy', `${name}: waits for a healthy Redis`)
    t.ok(parseTrustProxy(config.TRUST_PROXY)('172.18.0.5', 0), `${name}: believes nginx's X-Forwarded-For (TRUST_PROXY=${config.TRUST_PROXY})`)
    t.equal(service.healthcheck, undefined, `${name}: healthy by the image's HEALTHCHECK`)
    const grace = seconds(service.stop_grace_period ?? '10s')
    t.ok(grace >= stopSeconds(config) + 1, `${name}: stop_grace_period ${grace} s covers drain + shutdown (${stopSeconds(config)} s)`)
  }
  t.ok(services.redis?.healthcheck, 'Redis has a healthcheck to wait for')

  const lb = services.lb!
  t.same(Object.entries(lb.depends_on ?? {}).map(([name, { condition }]) => [name, condition]),
    instances.map(([name]) => [name, 'service_healthy']), 'nginx starts once every instance is healthy')
  const nginx = read('deploy/nginx.conf')
  const upstreams = [...nginx.matchAll(/^\s*server ([\w-]+):(\d+);/gm)].map(([, host, port]) => [host, Number(port)])
  t.same(upstreams, await Promise.all(instances.map(async ([name, service]) => [name, (await settings({ ...image.env, ...service.environment })).PORT])), 'nginx\'s upstreams are the instances on their PORT')
  const listen = Number(/^\s*listen (\d+);/m.exec(nginx)?.[1])
  t.same(lb.ports?.map((mapping) => Number(mapping.split(':').at(-1))), [listen], 'the published port is the one nginx listens on')
  const config = await settings(image.env)
  const readTimeout = seconds(/proxy_read_timeout (\S+);/.exec(nginx)?.[1] ?? '60s')
  t.ok(readTimeout > (config.PING_INTERVAL_MS + config.PING_TIMEOUT_MS) / 1000, `proxy_read_timeout (${readTimeout} s) is above the heartbeat, so nginx never cuts a live call`)
  t.match(nginx, /proxy_next_upstream [^;]*\bhttp_503\b/, 'a draining instance\'s 503 sends the client to the next upstream')
})

interface Probe {
  httpGet?: { path?: string; port?: string | number }
  periodSeconds?: number
  timeoutSeconds?: number
}
interface Container {
  image: string
  ports?: Array<{ name?: string; containerPort: number }>
  env?: Array<{ name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }>
  readinessProbe?: Probe
  livenessProbe?: Probe
  lifecycle?: { preStop?: { sleep?: { seconds: number }; exec?: { command: string[] } } }
  securityContext?: { allowPrivilegeEscalation?: boolean; readOnlyRootFilesystem?: boolean; capabilities?: { drop?: string[] } }
}
interface Manifest {
  kind: string
  metadata: { name: string; annotations?: Record<string, string> }
  spec: any
}

t.test('Kubernetes: probes on the real routes and ports, a grace that covers preStop, drain and shutdown', async (t) => {
  const dir = new URL('deploy/kubernetes/', ROOT)
  const files = readdirSync(dir).filter((file) => file.endsWith('.yaml')).sort()
  const manifests = files.filter((file) => file !== 'kustomization.yaml').flatMap((file) =>
    parseAllDocuments(readFileSync(new URL(file, dir), 'utf8')).map((document) => document.toJS() as Manifest))
  const kustomization = parse(readFileSync(new URL('kustomization.yaml', dir), 'utf8')) as { resources: string[] }
  t.same([...kustomization.resources].sort(), files.filter((file) => file !== 'kustomization.yaml'), 'kustomization lists every manifest')
  const byKind = (kind: string): Manifest => {
    const found = manifests.filter((manifest) => manifest.kind === kind)
    if (found.length !== 1) throw new Error(`expected one ${kind}, found ${found.length}`)
    return found[0]!
  }
  const deployment = byKind('Deployment')
  const pod = deployment.spec.template
  const [container, ...others] = pod.spec.containers as Container[]
  t.equal(others.length, 0, 'one container')
  if (container === undefined) return

  const env = Object.fromEntries((container.env ?? []).flatMap(({ name, value }) => (value === undefined ? [] : [[name, value]])))
  t.same(unknownVariables((container.env ?? []).map(({ name }) => name)), [], 'every variable is a setting of the server')
  const config = await settings({ ...dockerfile().env, ...env })
  t.ok(container.env?.find(({ name }) => name === 'REDIS_URL')?.valueFrom?.secretKeyRef, 'REDIS_URL comes from a Secret (it may hold a password)')
  t.ok(parseTrustProxy(config.TRUST_PROXY)('10.0.0.5', 0), 'the ingress controller\'s X-Forwarded-For is believed')

  const ports = new Map((container.ports ?? []).map(({ name, containerPort }) => [name, containerPort]))
  t.same(Object.fromEntries(ports), { http: config.PORT, metrics: config.METRICS_PORT }, 'ports http and metrics are PORT and METRICS_PORT')
  t.equal(pod.metadata.annotations?.['prometheus.io/port'], String(config.METRICS_PORT), 'Prometheus scrapes the metrics port')
  t.equal(pod.metadata.annotations?.['prometheus.io/path'], '/metrics')

  const { app } = await buildServer(t)
  const probes = { readinessProbe: '/ready', livenessProbe: '/health' } as const
  for (const [probe, path] of Object.entries(probes)) {
    const { httpGet } = container[probe as keyof typeof probes] ?? {}
    t.equal(httpGet?.path, path, `${probe} on ${path}`)
    t.equal(httpGet?.port, 'http', `${probe} on the http port`)
    t.equal((await app.inject(httpGet?.path ?? '/')).statusCode, 200, `${probe}: the server answers ${httpGet?.path} 200 when serving`)
  }
  app.readiness.draining = true
  t.equal((await app.inject(container.readinessProbe?.httpGet?.path ?? '/')).statusCode, 503, 'readiness fails while the pod drains')
  t.equal((await app.inject(container.livenessProbe?.httpGet?.path ?? '/')).statusCode, 200, 'liveness holds while it drains')

  const preStop = container.lifecycle?.preStop?.sleep?.seconds ?? 0
  t.ok(preStop > 0, 'a preStop pause, so the endpoint removal reaches the proxies before the drain')
  const grace = pod.spec.terminationGracePeriodSeconds as number
  const needed = preStop + stopSeconds(config)
  t.ok(grace >= needed + 1, `terminationGracePeriodSeconds (${grace}) covers preStop + drain + shutdown (${needed} s)`)

  t.match(pod.spec.securityContext, { runAsNonRoot: true, runAsUser: 1000 }, 'non-root, as the image\'s uid 1000 node user (test/image.test.ts)')
  t.match(container.securityContext, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
    'no privilege escalation, a read-only root (the image test runs it so), no capabilities')

  const labels = pod.metadata.labels as Record<string, string>
  const selects = (selector: Record<string, string> | undefined): boolean =>
    selector !== undefined && Object.keys(selector).length > 0 && Object.entries(selector).every(([key, value]) => labels[key] === value)
  t.ok(selects(deployment.spec.selector.matchLabels), 'the Deployment selects its pods')

  const service = byKind('Service')
  t.ok(selects(service.spec.selector), 'the Service selects the pods')
  const servicePorts = service.spec.ports as Array<{ name: string; port: number; targetPort: string | number }>
  t.ok(servicePorts.every(({ targetPort }) => ports.has(String(targetPort))), 'every Service port targets a named container port')

  const ingress = byKind('Ingress')
  const backends = (ingress.spec.rules as Array<{ http: { paths: Array<{ backend: { service: { name: string; port: { name: string } } } }> } }>)
    .flatMap(({ http }) => http.paths.map(({ backend }) => backend.service))
  t.ok(backends.length > 0 && backends.every(({ name, port }) => name === service.metadata.name && port.name === 'http'), 'the ingress routes to the Service\'s http port only')
  t.equal(ingress.metadata.annotations?.['nginx.ingress.kubernetes.io/affinity'], 'cookie', 'sticky: long-polling sessions stay on their pod')
  t.ok(Number(ingress.metadata.annotations?.['nginx.ingress.kubernetes.io/proxy-read-timeout']) > (config.PING_INTERVAL_MS + config.PING_TIMEOUT_MS) / 1000,
    'the ingress\'s read timeout is above the heartbeat')

  const budget = byKind('PodDisruptionBudget')
  t.ok(selects(budget.spec.selector.matchLabels), 'the PodDisruptionBudget covers the pods')
  t.ok(budget.spec.maxUnavailable >= 1 && budget.spec.maxUnavailable < deployment.spec.replicas, 'and lets a node drain go on while other pods serve')
  const autoscaler = byKind('HorizontalPodAutoscaler')
  t.match(autoscaler.spec.scaleTargetRef, { kind: 'Deployment', name: deployment.metadata.name }, 'the autoscaler scales the Deployment')
  t.ok(autoscaler.spec.minReplicas > budget.spec.maxUnavailable, 'never down to pods the budget may all take')
})

/** Metric names a PromQL expression reads (Grafana's `label_values(metric, label)` too). */
function metricNames(expr: string): string[] {
  const labelValues = /^label_values\(\s*([a-zA-Z_]\w*)/.exec(expr)
  if (labelValues) return [labelValues[1]!]
  const keywords = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'bool', 'and', 'or', 'unless',
    'sum', 'min', 'max', 'avg', 'count', 'stddev', 'stdvar', 'topk', 'bottomk', 'quantile', 'count_values', 'group'])
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '')
  // A name followed by `(` is a function.
  return [...bare.matchAll(/\b[a-zA-Z_]\w*\b(?!\s*\()/g)].map(([name]) => name).filter((name) => !keywords.has(name))
}

/** Label names an expression groups or matches by. */
function labelNames(expr: string): string[] {
  const matched = [...expr.matchAll(/\{([^}]*)\}/g)].flatMap(([, body]) => [...body!.matchAll(/(\w+)\s*(?:=~|!~|!=|=)/g)].map(([, name]) => name!))
  const grouped = [...expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)].flatMap(([, list]) => list!.split(',').map((name) => name.trim()))
  return [...matched, ...grouped]
}

t.test('metricNames reads the metrics out of PromQL', async (t) => {
  t.same(metricNames('histogram_quantile(0.99, sum by (le, event) (rate(a_bucket{job=~"$job", x!="y"}[$__rate_interval])))'), ['a_bucket'])
  t.same(metricNames('sum(rate(a_total[5m])) / sum without (kind) (b) or on (instance) c offset 5m'), ['a_total', 'b', 'c'])
  t.same(metricNames('label_values(m{job="x"}, instance)'), ['m'])
  t.same(labelNames('sum by (instance, kind) (rate(m{job=~"$job", outcome!="ok"}[1m]))'), ['job', 'outcome', 'instance', 'kind'])
})

t.test('the Grafana dashboard queries only metrics and labels that /metrics serves', async (t) => {
  interface Panel { title?: string; targets?: Array<{ expr?: string }>; panels?: Panel[] }
  const dashboard = JSON.parse(read('deploy/grafana/signaling-server.json')) as { panels: Panel[]; templating: { list: Array<{ definition?: string }> } }
  const flatten = (panels: Panel[]): Panel[] => panels.flatMap((panel) => [panel, ...flatten(panel.panels ?? [])])
  const expressions = [
    ...flatten(dashboard.panels).flatMap(({ targets }) => (targets ?? []).flatMap(({ expr }) => (expr ? [expr] : []))),
    ...dashboard.templating.list.flatMap(({ definition }) => (definition ? [definition] : []))
  ]
  t.ok(expressions.length >= 15, `${expressions.length} expressions`)

  // A call, a refused event and a relayed signal, so that the labelled series exist.
  const { app, connect } = await buildServer(t)
  const [alice, bob] = [await connect(), await connect()]
  const roomId = await createRoom(alice, 'alice')
  await joinRoom(bob, roomId, 'bob')
  const got = nextEvent(bob, 'signal')
  await request(alice, 'signal', { to: bob.id, signal: { type: 'offer', sdp: 'v=0' } })
  await got
  await request(alice, 'join-room', { roomId, username: 'again' })
  const text = (await app.metricsServer.inject('/metrics')).body

  // Declared metrics (histograms read through their _bucket, _sum and _count series), and the
  // labels each series carries; Prometheus adds job and instance.
  const declared = new Map([...text.matchAll(/^# TYPE (\w+) (\w+)$/gm)].map(([, name, type]) => [name!, type!]))
  const served = (name: string): string | undefined => {
    if (declared.has(name)) return name
    const base = /^(\w+)_(?:bucket|sum|count)$/.exec(name)?.[1]
    return base !== undefined && ['histogram', 'summary'].includes(declared.get(base) ?? '') ? base : undefined
  }
  const labelsOf = (name: string): Set<string> => {
    const labels = new Set(['job', 'instance'])
    for (const [, body] of text.matchAll(new RegExp(`^${name}\\{([^}]*)\\}`, 'gm'))) for (const [, label] of body!.matchAll(/(\w+)="/g)) labels.add(label!)
    return labels
  }
  const used = new Set<string>()
  for (const expr of expressions) {
    const names = metricNames(expr)
    t.ok(names.length > 0, `reads a metric: ${expr}`)
    for (const name of names) {
      used.add(name)
      t.ok(served(name), `${name} is served at /metrics`)
      if (name.startsWith('signaling_')) t.match(text, new RegExp(`^${name}(\\{| )`, 'm'), `${name} has a series after a call`)
    }
    // Labels are read off series; a metric with none yet (no garbage collection so far) has no labels to read.
    if (!names.some((name) => new RegExp(`^${name}(\\{| )`, 'm').test(text))) {
      t.comment(`no series of ${names.join(', ')} yet: its labels are not checked`)
      continue
    }
    const labels = new Set(names.flatMap((name) => [...labelsOf(name)]))
    for (const label of labelNames(expr)) t.ok(labels.has(label), `label ${label} is on ${names.join(', ')}`)
  }
  // The dashboard's purpose: every metric of the service's own on some panel.
  const ours = [...declared.keys()].filter((name) => name.startsWith('signaling_'))
  t.same(ours.filter((name) => ![...used].some((usedName) => served(usedName) === name)), [], 'every signaling_ metric is on the dashboard')
})
