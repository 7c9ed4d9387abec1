#!/usr/bin/env bash
# Runs a Node benchmark (decode, kivi, zigzag, profile or gemv-sweep) on the GPU machine from what scripts/device-prepare.sh
# collected (carried as bench/.carry and .gl); the first argument names the benchmark, the rest go
# to it. Unpacks Node and Dawn under /tmp once per machine, so several runs in one command pay for
# it once. KVCHAT_CARRY_DIR names another bundle folder (built with the same variable, see
# bench/vite.config.ts) holding its own device/ files.
#   bash bench/device-run.sh decode --model llama-q4f16
#   bash bench/device-run.sh kivi --out "$OUT/kivi.json"
set -euo pipefail
cd "$(dirname "$0")/.."

bench="${1:?usage: bash bench/device-run.sh decode|kivi|zigzag|profile|gemv-sweep [options]}"
shift
carry="${KVCHAT_CARRY_DIR:-bench/.carry}"
case "$bench" in
  decode) set -- --fixtures "$carry/device/fixtures" "$@" ;;
  kivi | zigzag | profile | gemv-sweep) ;;
  *) echo "device-run: no benchmark $bench (decode, kivi, zigzag, profile or gemv-sweep)" >&2; exit 2 ;;
esac

stage=/tmp/kvchat-bench
# shellcheck source=bench/device-stage.sh
source bench/device-stage.sh
stage_node "$carry/device" "$stage"
# The bundles resolve `webgpu` from the node_modules beside them.
rm -rf "$stage/chunks"
cp -r "$carry"/*.mjs "$carry/chunks" "$stage/"

export VK_DRIVER_FILES="${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}"
"$stage/node" "$stage/$bench.mjs" "$@"
