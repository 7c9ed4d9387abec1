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
if [ ! -x "$stage/node" ]; then
  for deb in .gl/*.deb; do dpkg -x "$deb" /; done
  ldconfig
  mkdir -p "$stage/node_modules/webgpu"
  # python3 rather than xz: the machine's image is not known to have xz-utils.
  python3 - "$stage" "$carry" <<'PY'
import lzma, shutil, sys, tarfile
stage, carry = sys.argv[1], sys.argv[2]
with lzma.open(f'{carry}/device/node.xz') as src, open(f'{stage}/node', 'wb') as dst:
    shutil.copyfileobj(src, dst)
with tarfile.open(f'{carry}/device/webgpu.tar.xz') as tar:
    tar.extractall(f'{stage}/node_modules/webgpu', filter='data')
PY
  chmod +x "$stage/node"
fi
# The bundle resolves `webgpu` from the node_modules beside it.
rm -rf "$stage/chunks"
cp -r "$carry"/peer-webllm.mjs "$carry"/chunks "$stage/"

export VK_DRIVER_FILES="${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}"
"$stage/node" --max-old-space-size=16384 "$stage/peer-webllm.mjs" --lib-dir "$carry/lib" "$@"
