#!/usr/bin/env bash
# beta x precision, as in the study's precision experiments: the same config
# trained in fp16 (everything half, no loss scaling), amp_fp16 (the study's
# "24 bits") and fp32, for each beta. Each point is a resumable `tiebreak sweep`
# directory; SHARD=i/n and JOBS=N are passed through.
#
# Usage: scripts/sweep_precision.sh CONFIG OUT_DIR [RUNS]
#   e.g. JOBS=4 scripts/sweep_precision.sh configs/paper/cifar10_vgg11_sgd_bn_fp32.json runs/vgg-precision 10
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/env.sh"
tiebreak="${TIEBREAK:-$TIEBREAK_BUILD_DIR/bin/tiebreak}"
config="${1:?usage: $0 CONFIG OUT_DIR [RUNS]}"
out="${2:?usage: $0 CONFIG OUT_DIR [RUNS]}"
runs="${3:-10}"

"$tiebreak" sweep "$config" \
  --grid nonsmooth.beta=0,1,10,100,1000,10000 \
  --grid train.precision=fp16,amp_fp16,fp32 \
  --runs "$runs" --shard "${SHARD:-0/1}" --jobs "${JOBS:-1}" --out "$out"
"$tiebreak" compare "$out"
echo "plot: $(tiebreak_python) $here/plot_curves.py $out"
