#!/usr/bin/env bash
# intro_zero: tiebreak demo zero in every precision
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
source "$root/scripts/env.sh"
tiebreak="${TIEBREAK:-$TIEBREAK_BUILD_DIR/bin/tiebreak}"
python="$(tiebreak_python)"
out="${1:-$here/results}"
mkdir -p "$out"
# Data: $TIEBREAK_DATA (or data.root) must hold the dataset folders, e.g. export TIEBREAK_DATA=../shared/data

for dtype in float16 bfloat16 float32 float64; do
  "$tiebreak" demo zero --dtype "$dtype" | tee "$out/zero_$dtype.txt"
done
"$tiebreak" demo zero --x 1.14,1.14,1.14,1.14 | tee "$out/zero_x114.txt"
