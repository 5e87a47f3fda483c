# The worker's container image (issue 22): `docker build -t inventory-cdc .`
#
# build:   every dependency, `npm run build` (tsc → dist/, plus the files the product reads at run time)
# runtime: production dependencies only (`npm ci --omit=dev`: no tsx, typescript or test tools),
#          dist/ and bin/, a non-root user. The same image runs the codec server
#          (`node dist/workers/codecServer.js`), the wallboard (`node dist/wallboard/server.js`)
#          and the operator CLI (`node dist/cli/index.js`, or bin/cdc).
# docs/deploy.md, "Build, container and health"; test/unit/packaging/dockerfile.test.ts checks it.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/buildAssets.mjs scripts/
COPY activities activities
COPY cli cli
COPY config config
COPY domain domain
COPY infra infra
COPY wallboard wallboard
COPY workers workers
COPY workflows workflows
RUN npm run build

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist dist
COPY bin bin
# The local stack's key file lives in .stack/ (docker-compose mounts a volume here; production
# sets CDC_PAYLOAD_KEYS or CDC_PAYLOAD_KEY_FILE instead).
RUN mkdir -p .stack && chown node:node .stack
USER node
# Health on all interfaces inside the container (the orchestrator probes it; publish it only
# where it should be reachable). Metrics likewise. Running activities get 5 s to finish on
# SIGTERM before they are cancelled, inside Docker's default 10 s stop timeout.
ENV CDC_HEALTH_PORT=8080 \
    CDC_HEALTH_HOST=0.0.0.0 \
    CDC_METRICS_HOST=0.0.0.0 \
    CDC_SHUTDOWN_GRACE_MS=5000 \
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
EXPOSE 8080 9464
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.CDC_HEALTH_PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/workers/worker.js"]
