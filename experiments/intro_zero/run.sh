#!/usr/bin/env bash
# intro_zero: tiebreak demo zero in every precision
source "$(dirname "${BASH_SOURCE[0]}")/../experiment_env.sh"

for dtype in float16 bfloat16 float32 float64; do
  "$tiebreak" demo zero --dtype "$dtype" | tee "$out/zero_$dtype.txt"
done
"$tiebreak" demo zero --x 1.14,1.14,1.14,1.14 | tee "$out/zero_x114.txt"
