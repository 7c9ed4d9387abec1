#!/usr/bin/env bash
# Runs the quality benchmark (bench/quality.ts) on the GPU machine, which has no Node and no network.
# Carry ['bench/.carry-quality', '.gl'], prepared on the CPU machine by `bash bench/quality-run.sh --prepare`:
#   bench/.carry-quality/quality.mjs, chunks/   the benchmark bundled with the engine (bench/vite.config.ts)
#   bench/.carry-quality/device/node.xz         Node for linux-x64, xz-compressed (scripts/device-prepare.sh)
#   bench/.carry-quality/device/webgpu.tar.xz   the `webgpu` package's index.js, package.json, linux-x64 dawn.node
#   bench/.carry-quality/device/eval.jsonl.gz   the held-out documents (scripts/train/prep_corpus.py)
#   .gl/*.deb                                   the Vulkan loader that Dawn loads
# The demo model travels as part of the tree (public/models/kvchat-demo is tracked), not in the carry:
# tree and carry share the 64 MiB limit.
# Then, there:  bash bench/quality-run.sh --out "$OUT/quality.json"   (other options go to the benchmark)
set -euo pipefail
cd "$(dirname "$0")/.."

carry=bench/.carry-quality
device="$carry/device"

if [ "${1:-}" = "--prepare" ]; then
  if [ ! -f bench/.carry/device/node.xz ] || [ ! -f bench/.carry/device/webgpu.tar.xz ]; then
    echo "quality-run: bench/.carry/device/{node.xz,webgpu.tar.xz} are missing; run scripts/device-prepare.sh first" >&2
    exit 1
  fi
  eval_docs=scripts/train/.data/corpus/eval.jsonl.gz
  if [ ! -f "$eval_docs" ]; then
    echo "quality-run: $eval_docs is missing; run python3 scripts/train/prep_corpus.py first" >&2
    exit 1
  fi
  # Chunk names carry a content hash: drop the previous build's so that only the current one travels.
  rm -rf "$carry/chunks" "$carry"/*.mjs "$device/kvchat-demo"
  mkdir -p "$device"
  KVCHAT_CARRY_DIR="$carry" npx vite build --config bench/vite.config.ts
  # Only the quality bundle and the chunks it imports travel (the carry limit is 64 MiB): the other
  # entries, and chunks only they use, are deleted.
  find "$carry" -maxdepth 1 -name '*.mjs' ! -name quality.mjs -delete
  node -e '
    const fs = require("fs"), path = require("path");
    const [carry] = process.argv.slice(1), keep = new Set(), todo = [path.join(carry, "quality.mjs")];
    while (todo.length) {
      const file = todo.pop();
      if (keep.has(file)) continue;
      keep.add(file);
      for (const m of fs.readFileSync(file, "utf8").matchAll(/(?:from|import\()\s*["\x27](\.[^"\x27]+)["\x27]/g)) todo.push(path.join(path.dirname(file), m[1]));
    }
    for (const name of fs.readdirSync(path.join(carry, "chunks"))) if (!keep.has(path.join(carry, "chunks", name))) fs.rmSync(path.join(carry, "chunks", name));
  ' "$carry"
  cp bench/.carry/device/node.xz bench/.carry/device/webgpu.tar.xz "$device/"
  cp "$eval_docs" "$device/eval.jsonl.gz"
  du -sh "$carry" .gl
  exit 0
fi

stage=/tmp/kvchat-quality
# shellcheck source=bench/device-stage.sh
source bench/device-stage.sh
stage_node "$device" "$stage"
# The bundle resolves `webgpu` from the node_modules beside it.
rm -rf "$stage/chunks"
cp -r "$carry/quality.mjs" "$carry/chunks" "$stage/"

export VK_DRIVER_FILES="${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}"
"$stage/node" "$stage/quality.mjs" --model-dir public/models/kvchat-demo --eval "$device/eval.jsonl.gz" "$@"
