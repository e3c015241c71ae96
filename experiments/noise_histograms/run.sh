#!/usr/bin/env bash
# noise_histograms: beta 0 vs 1 against the nondeterministic noise floor
source "$(dirname "${BASH_SOURCE[0]}")/../experiment_env.sh"

"$tiebreak" zones "$here/vgg11_cifar10.json" --pair nonsmooth.beta=0,1 --precision fp16,fp32 --out "$out/beta_0_1" ${EXTRA_ARGS:-}
"$tiebreak" zones "$here/vgg11_cifar10.json" --pair nonsmooth.beta=0,0 --precision fp16,fp32 --nondeterministic \
  --no-classify --out "$out/noise_floor" ${EXTRA_ARGS:-}
"$tiebreak" zones "$here/vgg11_cifar10.json" --pair nonsmooth.beta=0,0 --precision fp16,fp32 \
  --no-classify --out "$out/deterministic" ${EXTRA_ARGS:-}
"$python" "$root/scripts/plot_zones.py" "$out/beta_0_1/zones.json" "$out/noise_floor/zones.json" \
  "$out/deterministic/zones.json" --group run --out "$out"
