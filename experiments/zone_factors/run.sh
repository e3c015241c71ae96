#!/usr/bin/env bash
# zone_factors: fp32 zone volume vs architecture, batch size, batch norm
source "$(dirname "${BASH_SOURCE[0]}")/../experiment_env.sh"

common=(--pair nonsmooth.beta=0,1 --precision fp32)
for model in vgg11 vgg13 vgg16 vgg19; do
  "$tiebreak" zones "$here/base.json" "${common[@]}" --set model.name=$model --out "$out/arch_$model" ${EXTRA_ARGS:-}
done
for bs in 64 128 256 512 1024; do
  "$tiebreak" zones "$here/base.json" "${common[@]}" --set data.batch_size=$bs --out "$out/batch_$bs" ${EXTRA_ARGS:-}
done
for bn in false true; do
  "$tiebreak" zones "$here/base.json" "${common[@]}" --set model.batch_norm=$bn --out "$out/bn_$bn" ${EXTRA_ARGS:-}
done
"$python" "$root/scripts/plot_zones.py" "$out"/arch_*/zones.json --group model --out "$out/arch"
"$python" "$root/scripts/plot_zones.py" "$out"/batch_*/zones.json --group batch_size --out "$out/batch"
"$python" "$root/scripts/plot_zones.py" "$out"/bn_*/zones.json --group batch_norm --out "$out/bn"
