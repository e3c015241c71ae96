#!/usr/bin/env bash
# noise_histograms: beta 0 vs 1 against the nondeterministic noise floor (D1 in the study's bins)
source "$(dirname "${BASH_SOURCE[0]}")/../experiment_env.sh"

# 100 initializations per precision (1 at 64 bits): zones.initializations in the config.
"$tiebreak" zones "$here/vgg11_cifar10.json" --pair nonsmooth.beta=0,1 --precision fp16,fp32,fp64 --out "$out/beta_0_1" ${EXTRA_ARGS:-}
"$tiebreak" zones "$here/vgg11_cifar10.json" --pair nonsmooth.beta=0,0 --precision fp16,fp32,fp64 --nondeterministic \
  --no-classify --out "$out/noise_floor" ${EXTRA_ARGS:-}
"$tiebreak" zones "$here/vgg11_cifar10.json" --pair nonsmooth.beta=0,0 --precision fp16,fp32,fp64 \
  --no-classify --out "$out/deterministic" ${EXTRA_ARGS:-}
# What the notebook's code computed: diffMaxpool(..., alpha=0, beta=1) passes its arguments to
# build_models(network, precision, beta, alpha) in swapped order, so its second network had MaxPool'
# beta = 0 and ReLU'(0) = 1.
"$tiebreak" zones "$here/vgg11_cifar10.json" --pair nonsmooth.relu_alpha=0,1 --precision fp16,fp32,fp64 \
  --out "$out/relu_0_1" ${EXTRA_ARGS:-}
"$python" "$root/scripts/plot_zones.py" "$out/beta_0_1/zones.json" "$out/noise_floor/zones.json" \
  "$out/deterministic/zones.json" "$out/relu_0_1/zones.json" --group run --out "$out"
