#!/usr/bin/env bash
# normpool: LeNet5/MNIST fp16, NormPool grad_at_zero 0 vs 1
source "$(dirname "${BASH_SOURCE[0]}")/../experiment_env.sh"

# The histograms: 100 initializations per precision (1 at 64 bits), zones.initializations in the config.
"$tiebreak" zones "$here/lenet5_mnist_normpool_fp16.json" --pair nonsmooth.grad_at_zero=0,1 --precision fp16,fp32,fp64 \
  --out "$out/volume" ${EXTRA_ARGS:-}
"$tiebreak" zones "$here/lenet5_mnist_normpool_fp16.json" --pair nonsmooth.grad_at_zero=0,1 --precision fp16 \
  --train --epochs "${EPOCHS:-5}" --set zones.initializations=1 --out "$out/train" ${EXTRA_ARGS:-}
"$python" "$root/scripts/plot_zones.py" "$out/volume/zones.json" --out "$out"
