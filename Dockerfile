# ysqlgate image: built with dev dependencies, run with production dependencies only, as a non-root user.
# Config and certificates are mounted, never baked in:
#   docker run -v $PWD/config:/etc/ysqlgate:ro -v $PWD/certs:/etc/ysqlgate/certs:ro -p 5433:5433 -p 9187:9187 ysqlgate
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
RUN npm ci --ignore-scripts --omit=optional --no-audit --no-fund
COPY src ./src
RUN npx tsc -p tsconfig.build.json

FROM node:20-bookworm-slim
ENV NODE_ENV=production YSQLGATE_CONFIG=/etc/ysqlgate/ysqlgate.yaml
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY config/ysqlgate.schema.json ./config/ysqlgate.schema.json
USER node
EXPOSE 5433 9187
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9187/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "dist/cli.js"]
CMD ["serve"]
