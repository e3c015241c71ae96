#!/usr/bin/env bash
# normpool: LeNet5/MNIST fp16, NormPool grad_at_zero 0 vs 1
source "$(dirname "${BASH_SOURCE[0]}")/../experiment_env.sh"

"$tiebreak" zones "$here/lenet5_mnist_normpool_fp16.json" --pair nonsmooth.grad_at_zero=0,1 --precision fp16,fp32 \
  --out "$out/volume" ${EXTRA_ARGS:-}
"$tiebreak" zones "$here/lenet5_mnist_normpool_fp16.json" --pair nonsmooth.grad_at_zero=0,1 --precision fp16 \
  --train --epochs "${EPOCHS:-5}" --out "$out/train" ${EXTRA_ARGS:-}
"$python" "$root/scripts/plot_zones.py" "$out/volume/zones.json" --out "$out"
