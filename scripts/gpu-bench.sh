#!/usr/bin/env bash
# One run of kexue's WebGPU attention benchmark on a Linux x86-64 machine with a GPU and a Vulkan
# driver (bench/attention_webgpu.mjs: the adapter, a check against WASM, then forward and backward
# at n = 1k … 16k, d 64/128, f32/f16, TFLOP/s). Finishes within ~5 minutes; writes its results as
# JSON and text to "$OUT" (default ./gpu-bench-out).
#
# What the GPU machine needs besides this repository's tracked files (no build tools, no network):
#   dist/             the built WASM modules (the reference the GPU results are checked against)
#   .gpu/             made on the build machine by `scripts/gpu-bench.sh --pack`:
#                       node.xz            a Node ≥ 20 binary (used when the machine has no node)
#                       webgpu/            the `webgpu` npm package, linux-x64 only (dawn.node.xz)
#                       lib/libvulkan.so.1 the Vulkan loader (used when the machine has none)
#                       debs/              Debian's libvulkan1 and the GL vendor-neutral dispatch
#                                          libraries (libglvnd0, libegl1, libgl1, libglx0, libgles2,
#                                          libopengl0): NVIDIA's Vulkan driver (libGLX_nvidia.so.0)
#                                          loads only with them; unpacked into / when missing there
# i.e. carry `dist` and `.gpu` (about 33 MiB). bindings/webgpu/shaders.js is regenerated here when
# it is missing (it is a build output).
#
# Vulkan: the loader is found by ldconfig, in .gpu/lib, or in $VULKAN_LIB_DIR (e.g. an unpacked
# libvulkan1 .deb); when no adapter is found with the default driver search, the script retries
# with VK_DRIVER_FILES / VK_ICD_FILENAMES set to the NVIDIA ICD
# (/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json, or $KEXUE_VK_ICD).
#
# Usage:  scripts/gpu-bench.sh --pack     (build machine, from the repository root)
#         scripts/gpu-bench.sh            (GPU machine, from the repository root)
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD

if [ "${1:-}" = "--pack" ]; then
  set -e
  rm -rf .gpu && mkdir -p .gpu/webgpu/dist/linux-x64 .gpu/lib
  node_bin=$(command -v node)
  echo "packing $node_bin ($(node --version)) as .gpu/node.xz"
  xz -T2 -6 -c "$node_bin" > .gpu/node.xz
  pkg=$(node -e "console.log(require('path').dirname(require.resolve('webgpu/package.json')))" 2>/dev/null || echo node_modules/webgpu)
  cp "$pkg/package.json" "$pkg/index.js" .gpu/webgpu/
  xz -T2 -6 -c "$pkg/dist/linux-x64/dawn.node" > .gpu/webgpu/dist/linux-x64/dawn.node.xz
  loader=$(ldconfig -p | awk '/libvulkan\.so\.1 .*x86-64/ { print $NF; exit }')
  if [ -n "$loader" ]; then cp -L "$loader" .gpu/lib/libvulkan.so.1; fi
  # The GL dispatch libraries NVIDIA's ICD needs (amd64 .debs from Debian, whatever this machine is).
  mkdir -p .gpu/debs /tmp/kexue-apt/partial
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/kexue-apt'
  if apt-get $o update >/dev/null 2>&1 && (cd .gpu/debs && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 >/dev/null 2>&1); then
    echo "debs: $(ls .gpu/debs | tr '\n' ' ')"
  else
    echo "could not download the GL dispatch .debs (apt-get): an NVIDIA machine without them may find no Vulkan driver"
  fi
  [ -f dist/kexue.mjs ] || { echo "dist/ is not built: run node scripts/build.mjs first" >&2; exit 1; }
  du -sh .gpu dist
  echo "carry: dist .gpu  (total $(du -sch .gpu dist | tail -1 | cut -f1))"
  exit 0
fi

OUT=${OUT:-$ROOT/gpu-bench-out}
mkdir -p "$OUT"
LOG=$OUT/gpu-bench.log
exec > >(tee "$LOG") 2>&1
echo "kexue gpu-bench: $(date -u +%FT%TZ) on $(uname -srm), out: $OUT"
WORK=$(mktemp -d)

# Node: the machine's (≥ 20) or the carried one.
NODE=""
if command -v node >/dev/null 2>&1 && node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)'; then
  NODE=$(command -v node)
elif [ -x .gpu/node ]; then
  NODE=$ROOT/.gpu/node
elif [ -f .gpu/node.xz ]; then
  xz -dc .gpu/node.xz > "$WORK/node" && chmod +x "$WORK/node" && NODE=$WORK/node
fi
if [ -z "$NODE" ]; then echo "no Node ≥ 20 here and none carried in .gpu/ (run scripts/gpu-bench.sh --pack)"; exit 2; fi
echo "node: $NODE $("$NODE" --version)"

# The webgpu package: node_modules/webgpu when it has the linux-x64 binary, else the carried copy.
if [ -f node_modules/webgpu/dist/linux-x64/dawn.node ] && [ -f node_modules/webgpu/index.js ]; then
  echo "webgpu: node_modules/webgpu"
elif [ -f .gpu/webgpu/index.js ]; then
  mkdir -p "$WORK/webgpu/dist/linux-x64"
  cp .gpu/webgpu/index.js .gpu/webgpu/package.json "$WORK/webgpu/"
  if [ -f .gpu/webgpu/dist/linux-x64/dawn.node ]; then cp .gpu/webgpu/dist/linux-x64/dawn.node "$WORK/webgpu/dist/linux-x64/"
  else xz -dc .gpu/webgpu/dist/linux-x64/dawn.node.xz > "$WORK/webgpu/dist/linux-x64/dawn.node"; fi
  export KEXUE_WEBGPU_MODULE=$WORK/webgpu/index.js
  echo "webgpu: carried copy ($KEXUE_WEBGPU_MODULE)"
else
  echo "no webgpu package: neither node_modules/webgpu nor .gpu/webgpu (run scripts/gpu-bench.sh --pack)"; exit 2
fi
[ -f dist/kexue.mjs ] || { echo "dist/ is missing (carry it)"; exit 2; }
[ -f bindings/webgpu/shaders.js ] || "$NODE" scripts/shaders.mjs

# NVIDIA's Vulkan ICD (libGLX_nvidia.so.0) needs the GL vendor-neutral dispatch libraries; a bare
# machine may lack them (and the loader): unpack the carried .debs into / (as root) when missing.
if [ "$(id -u)" = 0 ] && ls .gpu/debs/*.deb >/dev/null 2>&1 && ! ldconfig -p 2>/dev/null | grep -q 'libGLdispatch\.so\.0 '; then
  for f in .gpu/debs/*.deb; do dpkg -x "$f" /; done
  ldconfig
  echo "unpacked into /: $(ls .gpu/debs | tr '\n' ' ')"
fi

# The Vulkan loader.
if ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1 '; then
  echo "vulkan loader: $(ldconfig -p | awk '/libvulkan\.so\.1 / { print $NF; exit }')"
else
  found=""
  for dir in "${VULKAN_LIB_DIR:-}" "$ROOT/.gpu/lib" /usr/lib/x86_64-linux-gnu /usr/local/lib /usr/lib64 /opt/vulkan/lib; do
    if [ -n "$dir" ] && [ -e "$dir/libvulkan.so.1" ]; then found=$dir; break; fi
  done
  if [ -z "$found" ]; then
    found=$(find / -xdev -name 'libvulkan.so.1' -not -path '*/proc/*' 2>/dev/null | head -1 | xargs -r dirname)
  fi
  if [ -z "$found" ]; then echo "no Vulkan loader (libvulkan.so.1): set VULKAN_LIB_DIR"; exit 2; fi
  export LD_LIBRARY_PATH=$found${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  echo "vulkan loader: $found/libvulkan.so.1"
fi
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader

# The adapter: with the loader's default driver search, else with the NVIDIA ICD named.
probe() {
  "$NODE" --input-type=module -e "
    const { create } = await import(process.env.KEXUE_WEBGPU_MODULE || 'webgpu');
    const gpu = create([]);
    const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (!adapter) { console.log('no adapter'); process.exit(1); }
    const limits = {};
    for (const name in adapter.limits) limits[name] = adapter.limits[name];
    console.log(JSON.stringify({ info: { vendor: adapter.info.vendor, architecture: adapter.info.architecture,
      device: adapter.info.device, description: adapter.info.description, subgroupMinSize: adapter.info.subgroupMinSize,
      subgroupMaxSize: adapter.info.subgroupMaxSize }, features: [...adapter.features].sort(), limits }));
    process.exit(/swiftshader|llvmpipe/i.test(adapter.info.architecture + adapter.info.description) ? 3 : 0);
  " > "$OUT/adapter.json" 2> "$WORK/probe.err"
}
probe; status=$?
if [ $status -ne 0 ]; then
  icd=${KEXUE_VK_ICD:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}
  echo "no GPU adapter with the default driver search (status $status: $(tail -c 300 "$WORK/probe.err")); retrying with $icd"
  export VK_DRIVER_FILES=$icd VK_ICD_FILENAMES=$icd
  probe; status=$?
fi
echo "adapter: $(cat "$OUT/adapter.json")"
if [ $status -eq 1 ]; then echo "no WebGPU adapter: $(tail -c 1000 "$WORK/probe.err")"; exit 3; fi

# The benchmark (its own time budget, then a hard stop).
KEXUE_BENCH_SECONDS=${KEXUE_BENCH_SECONDS:-200} timeout 280 "$NODE" bench/attention_webgpu.mjs --out "$OUT"
status=$?
echo "bench exit status: $status"
ls -l "$OUT"
rm -rf "$WORK"
exit $status
