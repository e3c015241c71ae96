#!/usr/bin/env bash
# weight_divergence: VGG11 side by side, several beta
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
source "$root/scripts/env.sh"
tiebreak="${TIEBREAK:-$TIEBREAK_BUILD_DIR/bin/tiebreak}"
python="$(tiebreak_python)"
out="${1:-$here/results}"
mkdir -p "$out"
# Data: $TIEBREAK_DATA (or data.root) must hold the dataset folders, e.g. export TIEBREAK_DATA=../shared/data

for beta in 0 1 10 1000; do
  "$tiebreak" zones "$here/vgg11_cifar10.json" --pair nonsmooth.beta=0,$beta --precision fp32 --train \
    --epochs "${EPOCHS:-20}" --out "$out/beta_0_$beta" ${EXTRA_ARGS:-}
done
"$python" "$root/scripts/plot_zones.py" "$out"/beta_0_*/zones.json --group pair --out "$out"
