#!/usr/bin/env bash
# zone_volume: VGG11/CIFAR-10, beta 0 vs 1, fp16/fp32/fp64
source "$(dirname "${BASH_SOURCE[0]}")/../experiment_env.sh"

"$tiebreak" zones "$here/vgg11_cifar10.json" --pair nonsmooth.beta=0,1 --precision fp16,fp32,fp64 \
  --out "$out/vgg11_b128" ${EXTRA_ARGS:-}
"$python" "$root/scripts/plot_zones.py" "$out/vgg11_b128/zones.json" --out "$out"
