# syntax=docker/dockerfile:1
# ImageKit-compatible video delivery proxy.
#   docker build -t ik-video-proxy .
#   docker run --rm -p 8080:8080 -v ik-cache:/var/cache/ik-video-proxy ik-video-proxy
# Without ORIGIN it serves the bundled fixtures/ folder; set ORIGIN=s3://bucket/prefix (plus AWS_*),
# gs://bucket/prefix (HMAC keys in AWS_*), azure://container/prefix (plus AZURE_STORAGE_*),
# https://host/base or a mounted folder for real sources. Smoke test: npm run test:image.
# Keep the base at Node 22 or later: AWS SDK v3 releases after early January 2027 require it.

# --- build: compile TypeScript, then drop dev dependencies --------------------------------------------
FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

# --- runtime: node + ffmpeg, non-root ---------------------------------------------------------------
FROM node:22-bookworm-slim AS runtime
# fonts-dejavu-core: the fonts text and subtitle layers may name (src/layers/fonts.ts).
# tini is PID 1: it forwards SIGTERM to node (graceful shutdown) and reaps any ffmpeg orphans.
RUN apt-get update \
  && apt-get install -y --no-install-recommends ffmpeg tini fonts-dejavu-core \
  && rm -rf /var/lib/apt/lists/*

ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    CACHE_DIR=/var/cache/ik-video-proxy

WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY fixtures ./fixtures

# The image's own `node` user (uid 1000) runs the proxy; only the cache directory is writable.
RUN mkdir -p "$CACHE_DIR" && chown node:node "$CACHE_DIR"
USER node
VOLUME ["/var/cache/ik-video-proxy"]

EXPOSE 8080
# No curl in the image: node's fetch does the probe.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/index.js"]
