#!/usr/bin/env bash
# weight_divergence: seven VGG11 from one initialization, trained side by side (the study's train_vs_weights)
source "$(dirname "${BASH_SOURCE[0]}")/../experiment_env.sh"

# The reference beta=0, its twin (run-to-run noise: nondeterministic kernels on CUDA), then the study's grid
# 1,10,100,1000,10000; lr = 0.01 * (1 + u/5), u ~ U[0,1). EPOCHS (default: the config's 200) shortens it;
# re-running resumes.
epochs=()
[ -n "${EPOCHS:-}" ] && epochs=(--epochs "$EPOCHS")
"$tiebreak" diverge "$here/vgg11_cifar10.json" --values nonsmooth.beta=0,0,1,10,100,1000,10000 --lr-jitter 0.2 \
  "${epochs[@]}" --resume --out "$out/divergence" ${EXTRA_ARGS:-}
"$python" "$root/scripts/plot_divergence.py" "$out/divergence" --out "$out"
