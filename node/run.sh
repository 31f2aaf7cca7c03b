#!/usr/bin/env bash
# Builds the package to JavaScript in node/dist (one ESM file per entrypoint plus shared chunks, so
# classes are shared between entrypoints; npm:croner bundled in) and runs node/smoke.mjs under Node
# against @deno/kv (node/package.json: kept out of the root package.json so that Deno's tasks never
# install it). Needs deno on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d node/node_modules/@deno/kv ]; then
  npm ci --prefix node --no-audit --no-fund --loglevel=error
fi

rm -rf node/dist
deno bundle --quiet --platform deno --format esm --code-splitting --outdir node/dist \
  mod.ts kv.ts scheduler.ts testing.ts
printf '{ "type": "module" }\n' >node/dist/package.json
node node/smoke.mjs
