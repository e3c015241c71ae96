#!/usr/bin/env bash
# reproduction: the rows of docs/reproduction.md that a CPU machine carries, then the report.
#   MNIST LeNet5 SGD, +-BN x fp16/fp32 x the study's beta grid, RUNS runs each (default 3), and mixed
#   precision +-BN (1 run, as the study), each the first EPOCHS epochs (default 2) of the study's 100-epoch
#   cosine schedule (train.stop_after_epoch: re-running with a larger EPOCHS extends the same runs);
#   zone volume: VGG11 CIFAR-10 (the 4000-image subset of ../shared/data), fp16/fp32/fp64, the shipped
#   experiment (batch 128, no BN) with its bifurcation/compensation split, and the trend variants batch 64 and
#   256 and BN at 128 without the split (--no-classify: the fp64 recomputation of every mini-batch is most of
#   the cost on a CPU).
# Usage: experiments/reproduction/run.sh [OUT]
#   environment: RUNS, EPOCHS, JOBS, PARTS="mnist zones", VARIANTS="b128 b64 b256 bn_b128", PRECISIONS=fp16,fp32,fp64
source "$(dirname "${BASH_SOURCE[0]}")/../experiment_env.sh"
runs="${RUNS:-3}"
epochs="${EPOCHS:-2}"
jobs="${JOBS:-2}"
parts="${PARTS:-mnist zones}"
stamp() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }

if [[ " $parts " == *" mnist "* ]]; then
  for c in sgd_nobn_fp32 sgd_bn_fp32 sgd_nobn_fp16 sgd_bn_fp16 sgd_nobn_amp_fp16 sgd_bn_amp_fp16; do
    n="$runs"
    [[ "$c" == *amp* ]] && n=1  # the study ran one mixed-precision run per configuration
    stamp "mnist_lenet5_$c: $n run(s) x the study's beta grid, epochs 0-$((epochs - 1))"
    "$tiebreak" sweep "$root/configs/paper/mnist_lenet5_$c.json" --runs "$n" --jobs "$jobs" \
      --set train.stop_after_epoch="$epochs" --out "$out/mnist/mnist_lenet5_$c"
  done
  stamp "report"
  "$tiebreak" report "$out/mnist" --out "$out/report"
fi

if [[ " $parts " == *" zones "* ]]; then
  subset=(--set 'data.files.train=["data_batch_1.first4000.bin.gz"]'
          --set 'data.files.test=["test_batch.first1000.bin.gz"]')
  config="$root/experiments/zone_volume/vgg11_cifar10.json"
  for variant in ${VARIANTS:-b128 b64 b256 bn_b128}; do
    batch="${variant##*b}"
    bn=false
    [[ "$variant" == bn_* ]] && bn=true
    classify=()
    [ "$variant" = b128 ] || classify=(--no-classify)
    stamp "zone volume vgg11 $variant"
    "$tiebreak" zones "$config" --pair nonsmooth.beta=0,1 --precision "${PRECISIONS:-fp16,fp32,fp64}" "${subset[@]}" \
      --set data.batch_size="$batch" --set model.batch_norm="$bn" "${classify[@]}" --out "$out/zones/vgg11_$variant"
    "$python" "$root/scripts/plot_zones.py" "$out/zones/vgg11_$variant/zones.json" --out "$out/zones/vgg11_$variant"
  done
fi
stamp "done: $out"
