#!/usr/bin/env bash
# Runs bench/peer-webllm (kvchat against web-llm, issue 8) on the GPU machine from what
# scripts/peer-prepare.sh collected (carried as bench/.carry-peer and .gl); arguments go to the
# benchmark. Unpacks Node and Dawn under /tmp once per machine; the random weights are written to
# /tmp/kvchat-peer on the first run and reused by later runs on the same machine.
#   bash bench/peer-run.sh --out "$OUT/peer.json"
set -euo pipefail
cd "$(dirname "$0")/.."

carry=bench/.carry-peer
stage=/tmp/kvchat-peer-bench
# shellcheck source=bench/device-stage.sh
source bench/device-stage.sh
stage_node "$carry/device" "$stage"
# The bundle resolves `webgpu` from the node_modules beside it.
rm -rf "$stage/chunks"
cp -r "$carry"/peer-webllm.mjs "$carry"/chunks "$stage/"

export VK_DRIVER_FILES="${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}"
"$stage/node" --max-old-space-size=16384 "$stage/peer-webllm.mjs" --lib-dir "$carry/lib" "$@"
