#!/usr/bin/env bash
# Runs every tiebreak benchmark level (ops, train, data) and its Python
# baseline, writes the JSON into OUT_DIR and prints the ratio tables.
#   scripts/bench_run.sh OUT_DIR [LEVEL...]      LEVEL: ops train data half (default: ops train data)
# `half` is the 16-bit CPU measurement of issue 14 §1-2 (BENCHMARKS.md, "Half precision on the CPU"):
# training img/s of every 16-bit path against fp32 and PyTorch eager (tiebreak_pure_b0 / py_native),
# `tiebreak half-check` on LeNet5 and VGG11 (per-op ulps, ties, gradients), and one epoch of MNIST
# LeNet5 fp16 ±BN × β ∈ {0, 1, 100, 1000, 10000} against the study's epoch-0 accuracies
# (../shared/paper; lr per β from learning_rates.csv). About 25 minutes on 2 cores.
# Environment: TIEBREAK_BUILD_DIR (the build holding bin/tiebreak_bench_*),
#   BENCH_DEVICE (cpu, cuda or cpu,cuda; default: cpu, plus cuda when present),
#   BENCH_THREADS (intra-op threads for both C++ and Python; default: LibTorch's),
#   BENCH_MIN_TIME (seconds per op measurement; default 0.2), BENCH_REPETITIONS (default 3).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/env.sh"
if [ $# -lt 1 ]; then
  echo "usage: scripts/bench_run.sh OUT_DIR [ops] [train] [data] [half]" >&2
  exit 2
fi
out="$1"
shift
levels=("$@")
[ ${#levels[@]} -eq 0 ] && levels=(ops train data)
bin="$TIEBREAK_BUILD_DIR/bin"
lib="$TIEBREAK_BUILD_DIR/src/libtiebreak.so"
python="$(tiebreak_python)"
device="${BENCH_DEVICE:-cpu,cuda}"
min_time="${BENCH_MIN_TIME:-0.2}"
reps="${BENCH_REPETITIONS:-3}"
cpp_flags=(--tiebreak_device="$device")
py_flags=(--device "$device")
if [ -n "${BENCH_THREADS:-}" ]; then
  cpp_flags+=(--tiebreak_threads="$BENCH_THREADS")
  py_flags+=(--threads "$BENCH_THREADS")
fi
mkdir -p "$out"
{
  date -u +"date: %Y-%m-%dT%H:%M:%SZ"
  echo "uptime: $(uptime)"
  lscpu | grep -E "^(Model name|CPU\(s\)|Thread|Core|Socket)"
  echo "cpu flags (vector, 16-bit): $(grep -m1 -o -w -E 'f16c|fma|avx2|avx512f|avx512bw|avx512_vnni|avx512_bf16|avx512_fp16|amx_tile|amx_bf16|amx_fp16' /proc/cpuinfo | tr '\n' ' ')"
  echo "git: $(git -C "$here/.." rev-parse --short=12 HEAD)"
  echo "torch: $("$python" -c 'import torch; print(torch.__version__)'), threads: ${BENCH_THREADS:-default}"
  echo "compiler: $(c++ --version | head -1); google benchmark: $(dpkg-query -W -f '${Version}' libbenchmark-dev 2>/dev/null || echo unknown)"
  echo "command: scripts/bench_run.sh $out ${levels[*]} (BENCH_DEVICE=$device BENCH_MIN_TIME=$min_time BENCH_REPETITIONS=$reps)"
} > "$out/machine.txt"
for level in "${levels[@]}"; do
  case "$level" in
    ops)
      for program in tiebreak_bench_ops; do
        [ -x "$bin/$program" ] || { echo "error: $bin/$program is not built (target tiebreak_benchmarks)" >&2; exit 1; }
      done
      "$bin/tiebreak_bench_ops" "${cpp_flags[@]}" --benchmark_min_time="$min_time" \
        --benchmark_repetitions="$reps" --benchmark_report_aggregates_only=true \
        --benchmark_out="$out/ops.json" --benchmark_out_format=json
      "$python" "$here/bench_python.py" ops "${py_flags[@]}" --min-time "$min_time" --repetitions "$reps" \
        --library "$lib" --out "$out/py_ops.json"
      ;;
    train)
      "$bin/tiebreak_bench_train" "${cpp_flags[@]}" --benchmark_out="$out/train.json" --benchmark_out_format=json
      "$python" "$here/bench_python.py" train "${py_flags[@]}" --out "$out/py_train.json"
      ;;
    data)
      "$bin/tiebreak_bench_data" "${cpp_flags[@]}" --benchmark_min_time=1 --benchmark_out="$out/data.json" \
        --benchmark_out_format=json
      ;;
    half)
      shared="${TIEBREAK_SHARED:-$here/../../shared}"
      export TIEBREAK_DATA="${TIEBREAK_DATA:-$shared/data}"
      for file in "$shared/paper/study_results.csv" "$shared/paper/learning_rates.csv" \
        "$TIEBREAK_DATA/mnist/train-images-idx3-ubyte.gz" "$TIEBREAK_DATA/cifar-10/data_batch_1.first4000.bin.gz"; do
        [ -f "$file" ] || { echo "error: half: $file not found (set TIEBREAK_SHARED or TIEBREAK_DATA)" >&2; exit 1; }
      done
      # The speed rows are the train level's β = 0 rows: measured here only when that level is not run too.
      if [[ " ${levels[*]} " != *" train "* ]]; then
        threads=()
        [ -n "${BENCH_THREADS:-}" ] && threads=(--tiebreak_threads="$BENCH_THREADS")
        "$bin/tiebreak_bench_train" --tiebreak_device=cpu "${threads[@]}" \
          --benchmark_filter='^train/cpu/[^/]+/[^/]+/tiebreak_pure_b0/' --benchmark_out="$out/half_train.json" \
          --benchmark_out_format=json
        threads=()
        [ -n "${BENCH_THREADS:-}" ] && threads=(--threads "$BENCH_THREADS")
        "$python" "$here/bench_python.py" train --device cpu "${threads[@]}" --filter /py_native \
          --out "$out/half_py_train.json"
      fi
      cifar=(--set 'data.files.train=["data_batch_1.first4000.bin.gz"]' --set 'data.files.test=["test_batch.first1000.bin.gz"]')
      sets=()
      [ -n "${BENCH_THREADS:-}" ] && sets=(--set exp.threads="$BENCH_THREADS")
      for bn in nobn bn; do
        "$bin/tiebreak" half-check "$here/../configs/paper/mnist_lenet5_sgd_${bn}_fp16.json" "${sets[@]}" \
          --json "$out/half_check_lenet5_${bn}.json"
        "$bin/tiebreak" half-check "$here/../configs/paper/cifar10_vgg11_sgd_${bn}_fp16.json" "${cifar[@]}" \
          "${sets[@]}" --set data.batch_size=32 --json "$out/half_check_vgg11_${bn}.json"
      done
      for bn in nobn bn; do
        for beta in 0 1 100 1000 10000; do
          lr=$("$python" - "$shared/paper/learning_rates.csv" "$bn" "$beta" <<'PY'
import csv, sys
path, bn, beta = sys.argv[1], sys.argv[2] == "bn", float(sys.argv[3])
for r in csv.DictReader(open(path)):
    if (r["dataset"], r["model"], r["optimizer"], r["bits"]) == ("mnist", "lenet", "sgd", "16") \
            and (r["batch_norm"] == "true") == bn and float(r["beta"]) == beta:
        print(r["lr"]); break
else:
    sys.exit(f"no learning rate for mnist lenet sgd 16 bits batch_norm={bn} beta={beta}")
PY
)
          "$bin/tiebreak" train "$here/../configs/paper/mnist_lenet5_sgd_${bn}_fp16.json" --no-progress "${sets[@]}" \
            --set train.epochs=1 --set nonsmooth.beta="$beta" --set train.optimizer.lr="$lr" \
            --set exp.checkpoint=false --out "$out/half_accuracy/${bn}_beta${beta}"
        done
      done
      ;;
    *)
      echo "error: unknown level '$level' (expected ops, train, data or half)" >&2
      exit 2
      ;;
  esac
done
echo "uptime after: $(uptime)" >> "$out/machine.txt"
report_args=(--context)
[ -d "$out/half_accuracy" ] && report_args+=(--accuracy "$out/half_accuracy" \
  --study "${TIEBREAK_SHARED:-$here/../../shared}/paper/study_results.csv")
"$python" "$here/bench_report.py" "${report_args[@]}" "$out"/*.json | tee "$out/report.md"
