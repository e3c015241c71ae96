#!/usr/bin/env bash
# tie_map: one MNIST image, its activation map and tied windows
source "$(dirname "${BASH_SOURCE[0]}")/../experiment_env.sh"

data="${TIEBREAK_DATA:-$root/../shared/data}"
"$python" "$here/tie_map.py" "$data/mnist" "$out"
