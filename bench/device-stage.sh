# Sourced by the GPU-machine run scripts (device-run.sh, quality-run.sh, peer-run.sh), from the
# repository root: `stage_node DEVICE STAGE` unpacks, once per machine, the Vulkan loader (.gl/*.deb)
# into / and Node (DEVICE/node.xz) with Dawn (DEVICE/webgpu.tar.xz, the `webgpu` package) into
# STAGE, where the bundles are copied to resolve `webgpu` from STAGE/node_modules.
stage_node() {
  local device="$1" stage="$2"
  [ -x "$stage/node" ] && return 0
  for deb in .gl/*.deb; do dpkg -x "$deb" /; done
  ldconfig
  mkdir -p "$stage/node_modules/webgpu"
  # python3 rather than xz: the machine's image is not known to have xz-utils.
  python3 - "$stage" "$device" <<'PY'
import lzma, shutil, sys, tarfile
stage, device = sys.argv[1], sys.argv[2]
with lzma.open(f'{device}/node.xz') as src, open(f'{stage}/node', 'wb') as dst:
    shutil.copyfileobj(src, dst)
with tarfile.open(f'{device}/webgpu.tar.xz') as tar:
    tar.extractall(f'{stage}/node_modules/webgpu', filter='data')
PY
  chmod +x "$stage/node"
}
