#!/usr/bin/env bash
# The main job: sets up what is missing, builds the command-line program (only
# it and its libraries), and runs a real β × precision sweep — LeNet-5 on the
# complete Fashion-MNIST training set, 8 epochs, β ∈ {0, 1, 1000, 10000}
# × fp32/fp16 — then prints the comparison table, draws the curves, writes the
# TensorBoard logs and prints a one-paragraph reading of the results.
#
# Usage: scripts/quickstart.sh [fashion-mnist|mnist] [OUT_DIR]
#   fashion-mnist (default) comes from Debian's dataset-fashion-mnist, which the
#   set-up installs; mnist reads the IDX files under $TIEBREAK_DATA or, when
#   unset, ../shared/data beside the checkout.
#   QUICKSTART_EPOCHS (default 8: about 3 minutes of training on two free cores,
#   BENCHMARKS.md) and QUICKSTART_JOBS (default 2) scale it.
# A second run resumes: finished runs are skipped, a killed one continues.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
dataset="${1:-fashion-mnist}"
out="${2:-runs/quickstart-$dataset}"
epochs="${QUICKSTART_EPOCHS:-8}"
jobs="${QUICKSTART_JOBS:-2}"
began=$SECONDS
phase() { printf '[quickstart %s +%ds] %s\n' "$(date -u +%H:%M:%S)" "$((SECONDS - began))" "$*"; }
case "$dataset" in
  fashion-mnist) ;;
  mnist)
    if [ -z "${TIEBREAK_DATA:-}" ]; then
      export TIEBREAK_DATA="$root/../shared/data"
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

phase "set-up (Debian packages, Python environment with torch, the Python package)"
"$here/setup.sh"
phase "build: the tiebreak program and its libraries (tests and benchmarks: scripts/test.sh)"
"$here/build.sh" tiebreak_app
source "$here/env.sh"
tiebreak="$TIEBREAK_BUILD_DIR/bin/tiebreak"
python="$(tiebreak_python)"

phase "sweep: LeNet-5 on $dataset, β ∈ {0, 1, 1000, 10000} × {fp32, fp16}, $epochs epochs each, $jobs at a time"
"$tiebreak" sweep "$root/configs/quickstart.json" --set "data.dataset=$dataset" --set "train.epochs=$epochs" \
  --grid nonsmooth.beta=0,1,1000,10000 --grid train.precision=fp32,fp16 --jobs "$jobs" --out "$out"
phase "comparison (final and best test accuracy per β × precision)"
"$tiebreak" compare "$out" | tee "$out/comparison.txt"
phase "plots"
"$python" "$here/plot_curves.py" "$out" --out "$out/plots"
if "$python" -c "import tensorboard" 2>/dev/null; then
  # Every run wrote its own, epoch by epoch.
  phase "TensorBoard logs, written by the runs (view: \"$python\" -m tensorboard.main --logdir $out)"
fi
phase "reading"
"$python" "$here/read_runs.py" "$out" --out "$out/reading.txt"
phase "done: runs, comparison.txt, reading.txt and plots/ (curves.png, boxplot.png) in $out"
