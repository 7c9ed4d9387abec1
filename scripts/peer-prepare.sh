#!/usr/bin/env bash
# Collects, into ignored folders, what the GPU machine needs to run bench/peer-webllm (issue 8):
#   bench/.carry-peer/peer-webllm.mjs, chunks/  the benchmark bundled with the engine and web-llm 0.2.79
#   bench/.carry-peer/device/                   node.xz and webgpu.tar.xz, as scripts/device-prepare.sh makes them
#   bench/.carry-peer/lib/*.wasm                the web-llm model libraries, which must already be there:
#       copy them from mlc-ai/binary-mlc-llm-libs, folder web-llm-models/v0_2_48/
#       (Qwen2-0.5B-Instruct-q4f32_1-ctx4k_cs1k-webgpu.wasm, Llama-3.2-1B-Instruct-q0f32-ctx4k_cs1k-webgpu.wasm);
#       they are other people's binaries: never commit them.
#   .gl/*.deb                                   the Vulkan loader (scripts/device-prepare.sh fetches it)
# Then run `bash bench/peer-run.sh [options]` on the GPU machine with carry ['bench/.carry-peer', '.gl'].
# Usage: scripts/peer-prepare.sh
set -euo pipefail
cd "$(dirname "$0")/.."

carry=bench/.carry-peer
mkdir -p "$carry/device" "$carry/lib"
for f in node.xz webgpu.tar.xz; do
  if [ ! -f "bench/.carry/device/$f" ]; then
    echo "peer-prepare: bench/.carry/device/$f is missing; run scripts/device-prepare.sh first" >&2
    exit 1
  fi
  cp "bench/.carry/device/$f" "$carry/device/$f"
done
if ! ls "$carry"/lib/*.wasm > /dev/null 2>&1; then
  echo "peer-prepare: no model library in $carry/lib (see the header of this script)" >&2
  exit 1
fi

echo "peer-prepare: bundling bench/peer-webllm.ts into $carry"
# Chunk names carry a content hash: drop the previous build's so that only the current one travels.
rm -rf "$carry/chunks" "$carry"/*.mjs
KVCHAT_CARRY_DIR="$carry" npx vite build --config bench/vite.config.ts
# The build writes every bench entry; only this one travels, with the chunks it imports (the
# carry limit is 64 MiB with the working tree).
find "$carry" -maxdepth 1 -name '*.mjs' ! -name 'peer-webllm.mjs' -delete
node - "$carry" <<'JS'
const { readFileSync, readdirSync, rmSync } = require('node:fs');
const carry = process.argv[2];
const reached = new Set();
const visit = (file) => {
  if (reached.has(file)) return;
  reached.add(file);
  const text = readFileSync(`${carry}/${file}`, 'utf8');
  for (const [, path] of text.matchAll(/(?:from |import\()"\.\/(?:\.\.\/)?((?:chunks\/)?[\w.-]+\.mjs)"/g)) {
    visit(path.startsWith('chunks/') || file === 'peer-webllm.mjs' ? path : `chunks/${path}`);
  }
};
visit('peer-webllm.mjs');
for (const chunk of readdirSync(`${carry}/chunks`)) if (!reached.has(`chunks/${chunk}`)) rmSync(`${carry}/chunks/${chunk}`);
JS
du -sh "$carry" .gl
