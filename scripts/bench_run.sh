#!/usr/bin/env bash
# Runs every tiebreak benchmark level (ops, train, data) and its Python
# baseline, writes the JSON into OUT_DIR and prints the ratio tables.
#   scripts/bench_run.sh OUT_DIR [LEVEL...]      LEVEL: ops train data (default: all)
# Environment: TIEBREAK_BUILD_DIR (the build holding bin/tiebreak_bench_*),
#   BENCH_DEVICE (cpu, cuda or cpu,cuda; default: cpu, plus cuda when present),
#   BENCH_THREADS (intra-op threads for both C++ and Python; default: LibTorch's),
#   BENCH_MIN_TIME (seconds per op measurement; default 0.2), BENCH_REPETITIONS (default 3).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/env.sh"
if [ $# -lt 1 ]; then
  echo "usage: scripts/bench_run.sh OUT_DIR [ops] [train] [data]" >&2
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
    *)
      echo "error: unknown level '$level' (expected ops, train or data)" >&2
      exit 2
      ;;
  esac
done
echo "uptime after: $(uptime)" >> "$out/machine.txt"
"$python" "$here/bench_report.py" --context "$out"/*.json | tee "$out/report.md"
