#!/usr/bin/env bash
# Configures and builds tiebreak into the build cache outside the source tree.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/env.sh"
root="$(dirname "$here")"
jobs="${TIEBREAK_JOBS:-$(nproc)}"
cmake -S "$root" -B "$TIEBREAK_BUILD_DIR" -G Ninja -DTIEBREAK_PYTHON="$(tiebreak_python)" ${TIEBREAK_CMAKE_ARGS:-} >/dev/null
# Arguments name targets (scripts/build.sh tiebreak_app builds the CLI alone); none: everything.
targets=()
(($#)) && targets=(--target "$@")
cmake --build "$TIEBREAK_BUILD_DIR" -j "$jobs" "${targets[@]}"
echo "[build] $TIEBREAK_BUILD_DIR/bin/tiebreak"
