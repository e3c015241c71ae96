#!/usr/bin/env bash
# training_curves: beta sweeps of the paper configs, plotted
source "$(dirname "${BASH_SOURCE[0]}")/../experiment_env.sh"

shift $(( $# > 0 ? 1 : 0 ))
configs=("$@")
[ ${#configs[@]} -gt 0 ] || configs=("$root"/configs/paper/mnist_lenet5_sgd_nobn_fp{16,32}.json \
  "$root"/configs/paper/cifar10_vgg11_sgd_nobn_fp{16,32}.json)
epochs=()
[ -n "${EPOCHS:-}" ] && epochs=(--set "train.epochs=$EPOCHS")
for config in "${configs[@]}"; do
  name="$(basename "$config" .json)"
  "$tiebreak" sweep "$config" --grid nonsmooth.beta=0,1,10,100,1000,10000 --runs "${RUNS:-3}" "${epochs[@]}" \
    --out "$out/$name"
  "$python" "$root/scripts/plot_curves.py" "$out/$name" --out "$out/$name/plots"
done
