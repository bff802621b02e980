# syntax=docker/dockerfile:1
# tokenguard admission webhook image.
#
#   docker build -t ghcr.io/tokenguard/tokenguard:0.1.0 .
#
# The base image is pinned by digest (the multi-platform index of node:24-bookworm-slim, Node.js
# 24.18.0), so a release builds from exactly this base; the release workflow checks that it
# holds linux/amd64 and linux/arm64. Move it forward with the tag's current digest
# (`docker buildx imagetools inspect node:24-bookworm-slim`). Node 24 is also what CI tests on.
ARG NODE_IMAGE=node:24-bookworm-slim@sha256:6f7b03f7c2c8e2e784dcf9295400527b9b1270fd37b7e9a7285cf83b6951452d

# ---- build: compile TypeScript with the full (dev) dependency set ----------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# No install scripts: nothing the build needs runs one, and it keeps dependency code out of the build.
# npm ci refuses a lockfile that lacks other platforms' optional binaries (a lockfile written
# against a registry mirror that serves only some of them); npm install from it is the fallback.
RUN npm ci --ignore-scripts --no-audit --no-fund || npm install --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# ---- deps: production dependencies only -------------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN (npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
      || npm install --omit=dev --ignore-scripts --no-audit --no-fund) \
 && npm cache clean --force

# ---- runtime -----------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
# The webhook needs node and its own files only: drop the package managers from the image.
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
      /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack /opt/yarn-* \
      /usr/local/bin/yarn /usr/local/bin/yarnpkg
WORKDIR /app
ENV NODE_ENV=production
# package.json is needed at run time: it makes dist/*.js ES modules ("type": "module").
COPY --from=deps --chown=0:0 /app/package.json ./package.json
COPY --from=deps --chown=0:0 /app/node_modules ./node_modules
COPY --from=build --chown=0:0 /app/dist ./dist
COPY --chown=0:0 policies ./policies
# Files stay owned by root and read-only for the process; it runs as an unprivileged user
# (deploy/base also sets runAsUser 65532 and readOnlyRootFilesystem).
USER 65532:65532
EXPOSE 8443
# --initial-old-space-size: V8 shrinks its first old-generation limit to about what start-up
# has loaded (13 MB on Node 20), so a mark-compact ran while the server started; that one sets
# V8's memory reducer off, which then ran full GCs (14-35 ms pauses) every ~100 s under steady
# load. 48 MB holds start-up's 10-15 MB plus one young generation (V8 starts marking once less
# than that is left): no full GC then (docs/benchmarks.md, decision 27). Not allowed in
# NODE_OPTIONS, where the heap cap is (deploy/base).
ENTRYPOINT ["node", "--initial-old-space-size=48", "dist/cli/main.js"]
CMD ["serve"]
