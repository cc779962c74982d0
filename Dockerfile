# Connectivity Callbacks server image. Untested here: no Docker engine runs where this project is
# built and tested (see docs/operations.md, "Containers").
FROM node:24-bookworm-slim AS build
# better-sqlite3 is compiled from source.
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY . .
# npm ci also builds both packages and the dashboard; the build tools are dropped afterwards.
RUN npm ci && npm prune --omit=dev

FROM node:24-bookworm-slim
ENV NODE_ENV=production \
  HOST=0.0.0.0 \
  PORT=8080 \
  DATABASE_URL=sqlite:/var/lib/ccb/ccb.sqlite
WORKDIR /app
COPY --from=build /app /app
RUN mkdir -p /var/lib/ccb && chown node:node /var/lib/ccb
USER node
VOLUME /var/lib/ccb
EXPOSE 8080
# The port the server reads (PORT, else CCB_PORT, else 8080), so a different PORT at run time is checked too.
HEALTHCHECK --interval=30s --timeout=5s CMD node -e "fetch('http://127.0.0.1:' + (process.env.PORT || process.env.CCB_PORT || 8080) + '/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
# CCB_ADMIN_TOKEN and CCB_ENCRYPTION_KEY must be given at run time; the server refuses to start without them.
CMD ["node", "packages/server/bin/ccb.js", "serve"]
