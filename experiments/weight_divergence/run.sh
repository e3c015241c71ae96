#!/usr/bin/env bash
# weight_divergence: VGG11 side by side, several beta
source "$(dirname "${BASH_SOURCE[0]}")/../experiment_env.sh"

for beta in 0 1 10 1000; do
  "$tiebreak" zones "$here/vgg11_cifar10.json" --pair nonsmooth.beta=0,$beta --precision fp32 --train \
    --epochs "${EPOCHS:-20}" --out "$out/beta_0_$beta" ${EXTRA_ARGS:-}
done
"$python" "$root/scripts/plot_zones.py" "$out"/beta_0_*/zones.json --group pair --out "$out"
