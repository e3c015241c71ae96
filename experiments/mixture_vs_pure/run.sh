#!/usr/bin/env bash
# mixture_vs_pure: beta sweep with formulation pure and mixture
source "$(dirname "${BASH_SOURCE[0]}")/../experiment_env.sh"

config="${2:-$root/configs/paper/mnist_lenet5_sgd_nobn_fp32.json}"
epochs=()
[ -n "${EPOCHS:-}" ] && epochs=(--set "train.epochs=$EPOCHS")
"$tiebreak" sweep "$config" --grid nonsmooth.beta=0,1,10,100,1000,10000 --grid nonsmooth.formulation=mixture,pure \
  --runs "${RUNS:-3}" "${epochs[@]}" --out "$out/sweep"
"$python" "$root/scripts/plot_curves.py" "$out/sweep" --out "$out/plots"
for formulation in mixture pure; do
  "$tiebreak" zones "$config" --set nonsmooth.formulation=$formulation --pair nonsmooth.beta=0,1000 \
    --precision fp32 --set zones.initializations=1 --out "$out/zones_$formulation" ${EXTRA_ARGS:-}
done
"$python" "$root/scripts/plot_zones.py" "$out"/zones_*/zones.json --group formulation --out "$out/zones"
