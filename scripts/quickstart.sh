#!/usr/bin/env bash
# The main job: sets up what is missing, builds, and runs a quick, real β sweep
# (LeNet-5, β ∈ {0, 1, 1000} × fp32/fp16, one epoch on 12,800 training images),
# then prints the comparison table and plots the curves.
#
# Usage: scripts/quickstart.sh [fashion-mnist|mnist] [OUT_DIR]
#   fashion-mnist (default) comes from Debian's dataset-fashion-mnist, which the
#   set-up installs; mnist reads the IDX files under $TIEBREAK_DATA or, when
#   unset, ../shared/data beside the checkout.
# A second run resumes: finished runs are skipped, a killed one continues.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dataset="${1:-fashion-mnist}"
out="${2:-runs/quickstart-$dataset}"
case "$dataset" in
  fashion-mnist) ;;
  mnist)
    if [ -z "${TIEBREAK_DATA:-}" ]; then
      export TIEBREAK_DATA="$(dirname "$here")/../shared/data"
    fi
    [ -d "$TIEBREAK_DATA/mnist" ] || {
      echo "quickstart: mnist: expected the MNIST IDX files in $TIEBREAK_DATA/mnist (set TIEBREAK_DATA)" >&2
      exit 2
    }
    ;;
  *)
    echo "quickstart: dataset: expected fashion-mnist or mnist, got \"$dataset\"" >&2
    exit 2
    ;;
esac

"$here/setup.sh"
"$here/build.sh"
source "$here/env.sh"
tiebreak="$TIEBREAK_BUILD_DIR/bin/tiebreak"

"$tiebreak" sweep "$(dirname "$here")/configs/quickstart.json" --set "data.dataset=$dataset" \
  --grid nonsmooth.beta=0,1,1000 --grid train.precision=fp32,fp16 --out "$out"
"$tiebreak" compare "$out"
"$(tiebreak_python)" "$here/plot_curves.py" "$out" --out "$out/plots"
echo "[quickstart] runs, table and plots in $out (plots: $out/plots/curves.png, boxplot.png)"
