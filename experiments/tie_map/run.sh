#!/usr/bin/env bash
# tie_map: one MNIST image, its activation map and tied windows
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
source "$root/scripts/env.sh"
tiebreak="${TIEBREAK:-$TIEBREAK_BUILD_DIR/bin/tiebreak}"
python="$(tiebreak_python)"
out="${1:-$here/results}"
mkdir -p "$out"
# Data: $TIEBREAK_DATA (or data.root) must hold the dataset folders, e.g. export TIEBREAK_DATA=../shared/data

data="${TIEBREAK_DATA:-$root/../shared/data}"
"$python" "$here/tie_map.py" "$data/mnist" "$out"
