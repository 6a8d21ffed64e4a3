# syntax=docker/dockerfile:1
# The same steps as the README: `npm ci` (the README's `npm install`, locked) and the TypeScript
# build that `npm start` runs, then `node dist/server.js` with npm start's Node flags. No Docker
# engine runs on our CI machines, so CI proves these steps through `npm test`, which builds and
# boots dist/server.js.

FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY client ./client
RUN npm run build

FROM node:24-slim AS runtime
ENV NODE_ENV=production HOST=0.0.0.0 PORT=5000
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY public ./public
USER node
EXPOSE 5000
# Liveness only; the load balancer should probe /ready, which turns 503 while draining.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||5000)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# npm start's Node flags (a test keeps them equal), as NODE_OPTIONS so that `docker run -e
# NODE_OPTIONS=` can change them: a young generation large enough that relayed signals die in it
# rather than being promoted, which took a quarter or more off CPU per signal and most of the relay
# p99, for a young generation of up to 384 MB (three semi-spaces; docs/performance.md).
ENV NODE_OPTIONS=--max-semi-space-size=128
# node directly (not npm) so SIGTERM reaches the server and it shuts down gracefully.
CMD ["node", "dist/server.js"]
