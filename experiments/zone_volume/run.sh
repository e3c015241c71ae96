#!/usr/bin/env bash
# zone_volume: VGG11/CIFAR-10, beta 0 vs 1, fp16/fp32/fp64
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
source "$root/scripts/env.sh"
tiebreak="${TIEBREAK:-$TIEBREAK_BUILD_DIR/bin/tiebreak}"
python="$(tiebreak_python)"
out="${1:-$here/results}"
mkdir -p "$out"
# Data: $TIEBREAK_DATA (or data.root) must hold the dataset folders, e.g. export TIEBREAK_DATA=../shared/data

"$tiebreak" zones "$here/vgg11_cifar10.json" --pair nonsmooth.beta=0,1 --precision fp16,fp32,fp64 \
  --out "$out/vgg11_b128" ${EXTRA_ARGS:-}
"$python" "$root/scripts/plot_zones.py" "$out/vgg11_b128/zones.json" --out "$out"
