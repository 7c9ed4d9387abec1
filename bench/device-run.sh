#!/usr/bin/env bash
# Runs bench/decode on the GPU machine from what scripts/device-prepare.sh collected (carried as
# bench/.carry and .gl); every argument goes to decode. Unpacks Node and Dawn under /tmp once per
# machine, so several runs in one command pay for it once.
#   bash bench/device-run.sh --model llama-q4f16
set -euo pipefail
cd "$(dirname "$0")/.."

stage=/tmp/kvchat-bench
if [ ! -x "$stage/node" ]; then
  for deb in .gl/*.deb; do dpkg -x "$deb" /; done
  ldconfig
  mkdir -p "$stage/node_modules/webgpu"
  # python3 rather than xz: the machine's image is not known to have xz-utils.
  python3 - "$stage" <<'EOF'
import lzma, shutil, sys, tarfile
stage = sys.argv[1]
with lzma.open('bench/.carry/device/node.xz') as src, open(f'{stage}/node', 'wb') as dst:
    shutil.copyfileobj(src, dst)
with tarfile.open('bench/.carry/device/webgpu.tar.xz') as tar:
    tar.extractall(f'{stage}/node_modules/webgpu', filter='data')
EOF
  chmod +x "$stage/node"
fi
# The bundle resolves `webgpu` from the node_modules beside it.
cp bench/.carry/decode.mjs "$stage/decode.mjs"

export VK_DRIVER_FILES="${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}"
"$stage/node" "$stage/decode.mjs" --fixtures bench/.carry/device/fixtures "$@"
