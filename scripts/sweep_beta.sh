#!/usr/bin/env bash
# The study's beta sweep done the shell-script way: one `tiebreak train` per
# (beta, run), each resumable, all in one directory tree that `tiebreak compare`
# and scripts/plot_curves.py read. `tiebreak sweep` does the same in one command
# (with --shard/--jobs); this script shows what it amounts to.
#
# Usage: scripts/sweep_beta.sh CONFIG OUT_DIR [RUNS] [BETAS...]
#   e.g. scripts/sweep_beta.sh configs/paper/mnist_lenet5_sgd_nobn_fp32.json runs/mnist-beta 10 0 1 10 100 1000 10000
# Default BETAS: the study's grid, 0,1,10,100,1000,10000.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/env.sh"
tiebreak="${TIEBREAK:-$TIEBREAK_BUILD_DIR/bin/tiebreak}"
config="${1:?usage: $0 CONFIG OUT_DIR [RUNS] [BETAS...]}"
out="${2:?usage: $0 CONFIG OUT_DIR [RUNS] [BETAS...]}"
runs="${3:-10}"
shift $(( $# >= 3 ? 3 : $# ))
betas=("$@")
[ ${#betas[@]} -gt 0 ] || IFS=, read -r -a betas <<< "0,1,10,100,1000,10000"

for beta in "${betas[@]}"; do
  for ((run = 0; run < runs; run++)); do
    # --resume makes re-running the script continue where it stopped; finished runs are skipped.
    "$tiebreak" train "$config" --set "nonsmooth.beta=$beta" --set "train.runs=$runs" \
      --out "$out/beta=$beta" --run-id "$run" --resume
  done
done
"$tiebreak" compare "$out"
