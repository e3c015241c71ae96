#!/usr/bin/env bash
# Packs what scripts/gpu/check.sh needs on a GPU machine that has CUDA, Python
# and torch==2.11.0 but none of tiebreak's Debian libraries and no network:
# this checkout's CUDA-enabled build (library, CLI, test and benchmark
# programs, stripped), the shared libraries they need beyond LibTorch and the C
# runtime, and the real data the checks read (../shared/data). Everything goes
# to .gpu/ (ignored by git), which the device tool carries.
#   scripts/gpu/bundle.sh            after scripts/build.sh on a machine with nvcc
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$here/env.sh"
root="$TIEBREAK_ROOT"
build="$TIEBREAK_BUILD_DIR"
out="$root/.gpu"
"$build/bin/tiebreak" --version | grep -q "CUDA kernels compiled: yes" || {
  echo "error: $build was built without the CUDA kernels (needs nvcc; TIEBREAK_CUDA=ON)" >&2
  exit 1
}
rm -rf "$out"
mkdir -p "$out/bin" "$out/lib" "$out/data"
programs=("$build/bin/tiebreak")
for p in "$build"/bin/tiebreak_bench_*; do [ -x "$p" ] && programs+=("$p"); done
# Only the test programs that hold CUDA tests (the carried tree is limited to 64 MiB).
for m in ops ops_heavy data nn; do
  [ -x "$build/tests/tiebreak_${m}_tests" ] && programs+=("$build/tests/tiebreak_${m}_tests")
done
for p in "${programs[@]}"; do cp "$p" "$out/bin/"; done
cp "$build/src/libtiebreak.so" "$build/src/ops/libtiebreak_ops.so" "$out/lib/"
# pytest for the opcheck stage: the GPU machine's Python has torch but maybe not
# pytest (and no index to install it from); its pure-Python packages travel along.
site="$("$(tiebreak_python)" -c 'import os, pytest; print(os.path.dirname(os.path.dirname(pytest.__file__)))')"
mkdir -p "$out/pylib"
for pkg in pytest _pytest pluggy iniconfig packaging pygments py.py; do
  [ -e "$site/$pkg" ] && cp -r "$site/$pkg" "$out/pylib/"
done
# Libraries beyond LibTorch (its wheel is on the GPU machine) and the C/C++
# runtime (newer there): spdlog, fmt, turbojpeg, matio and its HDF5, ...
torch_lib="$("$(tiebreak_python)" -c 'import os, torch; print(os.path.dirname(torch.__file__))')"
{
  for p in "${programs[@]}" "$build/src/libtiebreak.so" "$build/src/ops/libtiebreak_ops.so"; do ldd "$p"; done
} | awk '/=> \// {print $3}' | sort -u | while read -r lib; do
  case "$lib" in
    "$torch_lib"/* | */nvidia/* | */libc.so* | */libm.so* | */libpthread.so* | */libdl.so* | */librt.so* | \
      */ld-linux* | */libstdc++.so* | */libgcc_s.so* | */libgomp.so* | */libcuda.so*) ;;
    *) cp -L "$lib" "$out/lib/" ;;
  esac
done
strip --strip-unneeded "$out"/bin/* "$out"/lib/*.so* 2>/dev/null || true
shared="${TIEBREAK_DATA:-$root/../shared/data}"
if [ -d "$shared" ]; then
  cp -r "$shared/mnist" "$shared/cifar-10" "$out/data/" 2>/dev/null || true
fi
du -sh "$out" "$out"/*
