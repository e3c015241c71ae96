# Sourced by every experiments/<name>/run.sh: locates the checkout, its built
# CLI and Python, and the output folder (the run script's first argument,
# default <experiment>/results).
#   TIEBREAK   the tiebreak binary (default: this checkout's build)
#   TIEBREAK_DATA  dataset folders (default: ../shared/data beside the checkout)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
source "$root/scripts/env.sh"
tiebreak="${TIEBREAK:-$TIEBREAK_BUILD_DIR/bin/tiebreak}"
python="$(tiebreak_python)"
export TIEBREAK_DATA="${TIEBREAK_DATA:-$root/../shared/data}"
out="${1:-$here/results}"
mkdir -p "$out"
