# mcp-v8 node image (cluster-compose.yml runs three of these behind nginx).
# isolated-vm is built from source with our patch (scripts/patch-isolated-vm.mjs), so the build
# stage needs a compiler; the runtime stage carries only the result.
FROM node:24-bookworm-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends python3 g++ make && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
COPY scripts/patch-isolated-vm.mjs scripts/
RUN npm ci
COPY . .
RUN npm run build && npm prune --omit=dev

FROM node:24-bookworm-slim
WORKDIR /app
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist dist
COPY --from=build /app/bin bin
COPY --from=build /app/package.json .
VOLUME /data
# Flags come from the compose file (deploy/topology.ts); a node needs --http-port and --cluster-port.
ENTRYPOINT ["node", "--no-node-snapshot", "dist/cli.js"]
