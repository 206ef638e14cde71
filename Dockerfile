# One image for every Parley service; docker-compose picks the entrypoint per service.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.base.json tsconfig.build.json nx.json ./
COPY tools ./tools
COPY apps ./apps
COPY libs ./libs
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
# A 256 MB old space per service: V8 otherwise sizes its heap to the host and collects late
# (a responder streaming 512 replies sat near 300 MB resident with about 100 MB alive).
ENV NODE_OPTIONS=--max-old-space-size=256
# Listen on every interface inside the container (the default is loopback).
ENV HOST=0.0.0.0
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# the demo LLM (compose's demo-llm service) and the Demo Bank knowledge base the migration imports
COPY tools/demo-llm.mjs ./tools/
COPY data/demo-bank ./data/demo-bank
COPY data/README.md ./data/
USER node
# Overridden per service in docker-compose.yml.
CMD ["node", "dist/apps/ingress/src/main.js"]
