#!/usr/bin/env bash
# The GPU check, run on a lent GPU machine from the repository root after
# scripts/gpu/bundle.sh packed .gpu/ here: CUDA tests, the operators through
# PyTorch's dispatcher on CUDA, the GPU benchmark rows against native PyTorch
# and the study's Python formulation, and short real training runs. Each stage
# has its own time limit so that one hang cannot eat the lease; results go to
# $OUT (default ./gpu-out): check.log and the benchmark JSON.
#   scripts/gpu/check.sh [STAGE...]   STAGE: info tests opcheck bench train (default: all)
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
out="${OUT:-$root/gpu-out}"
mkdir -p "$out"
log="$out/check.log"
stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(info tests opcheck bench train)
python="${TIEBREAK_PYTHON:-python3}"
torch_lib="$("$python" -c 'import os, torch; print(os.path.dirname(torch.__file__))')/lib"
export LD_LIBRARY_PATH="$root/.gpu/lib:$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export TIEBREAK_DATA="$root/.gpu/data" TIEBREAK_REQUIRE_CUDA=1
export PYTHONUNBUFFERED=1
bin="$root/.gpu/bin"
lib="$root/.gpu/lib/libtiebreak.so"
failures=0
stage() {  # stage NAME SECONDS COMMAND...
  local name="$1" limit="$2"
  shift 2
  local t0=$SECONDS
  echo "=== $name (limit ${limit}s): $*" | tee -a "$log"
  timeout --signal=KILL "$limit" "$@" >>"$log" 2>&1
  local rc=$?
  echo "=== $name: exit $rc after $((SECONDS - t0)) s" | tee -a "$log"
  [ $rc -eq 0 ] || failures=$((failures + 1))
}
has() { for s in "${stages[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }

if has info; then
  stage nvidia-smi 20 nvidia-smi
  stage version 30 "$bin/tiebreak" --version
  stage torch 60 "$python" -c 'import torch; print(torch.__version__, torch.version.cuda, torch.cuda.get_device_name(0))'
fi
if has tests; then
  # Every CUDA test, and the CPU reference tests beside them (a GPU result is only as good as its reference).
  stage ops-cuda-tests 240 "$bin/tiebreak_ops_tests" --gtest_filter='*Cuda*:*CUDA*' --gtest_brief=1
  [ -x "$bin/tiebreak_ops_heavy_tests" ] &&
    stage ops-cuda-heavy-tests 240 "$bin/tiebreak_ops_heavy_tests" --gtest_filter='*Cuda*' --gtest_brief=1
  stage data-cuda-tests 120 "$bin/tiebreak_data_tests" --gtest_filter='*Cuda*' --gtest_brief=1
  [ -x "$bin/tiebreak_nn_tests" ] && stage nn-tests 120 "$bin/tiebreak_nn_tests" --gtest_brief=1
fi
if has opcheck; then
  # The pytest suite (opcheck, double backward, modules) with CUDA among its devices; conftest.py
  # fails at collection when TIEBREAK_REQUIRE_CUDA=1 and the operators have no CUDA kernels.
  stage python-opcheck-cuda 480 env PYTHONPATH="$root/python:$root/.gpu/pylib" \
    TIEBREAK_OPS_LIBRARY="$root/.gpu/lib/libtiebreak_ops.so" "$python" -m pytest -q -p no:cacheprovider \
    -k cuda tests/python/test_torch_ops.py tests/python/test_nn.py
fi
if has bench; then
  stage bench-ops-cpp 240 "$bin/tiebreak_bench_ops" --tiebreak_device=cuda --benchmark_min_time=0.05 \
    --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
    --benchmark_out="$out/ops.json" --benchmark_out_format=json
  stage bench-ops-python 240 "$python" scripts/bench_python.py ops --device cuda --min-time 0.05 --repetitions 3 \
    --library "$lib" --out "$out/py_ops.json"
  stage bench-train-cpp 240 "$bin/tiebreak_bench_train" --tiebreak_device=cuda \
    --benchmark_out="$out/train.json" --benchmark_out_format=json
  stage bench-train-python 240 "$python" scripts/bench_python.py train --device cuda --data-dir "$TIEBREAK_DATA" \
    --out "$out/py_train.json"
  stage bench-report 60 "$python" scripts/bench_report.py --context "$out"/ops.json "$out"/py_ops.json \
    "$out"/train.json "$out"/py_train.json
fi
if has train; then
  # The study's first epochs on the GPU: VGG11 on the CIFAR-10 subset, beta x precision.
  runs="$out/runs"
  mkdir -p "$runs"
  # ../shared holds a 4000/1000-image subset of CIFAR-10, not the full set the study trained on.
  stage train-vgg11-cifar 240 "$bin/tiebreak" sweep configs/paper/cifar10_vgg11_sgd_nobn_fp32.json \
    --grid nonsmooth.beta=0,1,10000 --grid train.precision=fp32,fp16 --set train.epochs=3 --set train.runs=1 \
    --set 'data.files={"train":["data_batch_1.first4000.bin.gz"],"test":["test_batch.first1000.bin.gz"]}' \
    --set exp.device=cuda --out "$runs/vgg11" --jobs 1
  stage compare 60 "$bin/tiebreak" compare "$runs/vgg11"
  tar -czf "$out/runs.tgz" -C "$runs" . 2>/dev/null
  rm -rf "$runs"
fi
echo "gpu check: $failures stage(s) failed" | tee -a "$log"
exit $((failures > 0))
