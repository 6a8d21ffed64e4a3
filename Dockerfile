# The same steps as the README: `npm ci` (the README's `npm install`, locked) and the TypeScript
# build that `npm start` runs, then `node dist/server.js` with npm start's Node flags.
# test/image.test.ts builds this file unchanged (podman, `--format docker --pull=never`) and runs it.
# No `# syntax=` line: nothing here needs a BuildKit frontend, and fetching one breaks offline builds.
# buildah and podman: build with `--format docker`, since the OCI format drops the HEALTHCHECK.

FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY client ./client
# Pruned here, so the runtime stage copies production dependencies with no second registry trip.
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM node:24-slim AS runtime
# A stop (SIGTERM) drains for DRAIN_DELAY_MS (5 s by default) and then waits at most
# SHUTDOWN_TIMEOUT_MS for sockets' clean-up: 3 s here, not the server's 10 s, so the whole stop
# stays inside the 10 s that `docker stop` and Compose give before SIGKILL (deploy/README.md).
ENV NODE_ENV=production HOST=0.0.0.0 PORT=5000 SHUTDOWN_TIMEOUT_MS=3000
WORKDIR /app
# Only what `node dist/server.js` reads: the build (server and demo bundle), the demo page's HTML
# and CSS, production node_modules, and package.json (`"type": "module"`).
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY public ./public
USER node
# The public port, and the metrics port (GET /metrics, for Prometheus; never forward it publicly).
EXPOSE 5000 9464
# Liveness only; the load balancer should probe /ready, which turns 503 while draining.
# dist/healthcheck.js asks the address HOST names (loopback for 0.0.0.0 or ::).
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 CMD ["node", "dist/healthcheck.js"]
# npm start's variables and Node flags (a test keeps them equal), chosen by measuring CPU and memory
# together (docs/performance.md, fifth session): glibc returns freed large blocks at once and keeps
# every thread's blocks in one arena, so that what V8's helper threads freed is reused (6-9 MB less
# at 10,000 sockets on Node 20, no change measured on Node 24: twelfth session); V8 collects before
# its heap grows past twice what is live, with a 96 MB young generation, starting from a 64 MB old
# generation (fewer collections at boot keep Node's nextTick fast, it appears: tenth session),
# never allocating straight into the old generation what the join storm taught V8 to (the relay's
# short-lived objects then filled it: 5-8% less CPU on Node 24, thirteenth session), and
# --expose-gc lets the recovery log give its memory back once it shrank or emptied.
ENV MALLOC_ARENA_MAX=1 MALLOC_MMAP_THRESHOLD_=131072 MALLOC_TRIM_THRESHOLD_=131072
# SIGTERM drains first; SIGINT would stop at once (src/server.ts). node directly, not npm, so
# the signal reaches the server.
STOPSIGNAL SIGTERM
# The flags are in CMD, not NODE_OPTIONS, which refuses --heap-growing-percent.
CMD ["node", "--expose-gc", "--max-semi-space-size=32", "--heap-growing-percent=100", "--initial-old-space-size=64", "--no-allocation-site-pretenuring", "dist/server.js"]
