#!/usr/bin/env bash
# Sets up what is missing, builds, and runs the test suite (heavy real-data
# runs excluded: `ctest -L heavy` in the build directory runs those).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
"$here/setup.sh"
"$here/build.sh"
source "$here/env.sh"
cd "$TIEBREAK_BUILD_DIR"
ctest -LE heavy --output-on-failure -j "${TIEBREAK_JOBS:-$(nproc)}" "$@"
