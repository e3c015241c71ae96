#!/usr/bin/env python3
"""Ratio tables (Markdown) from the JSON of tiebreak's benchmark programs and of
scripts/bench_python.py (both Google Benchmark JSON).

Benchmark names are "<level...>/<group...>/<impl>": everything before the last
"/" is the group, the last component the implementation. Within a group every
implementation is reported as a time ratio to the group's reference (`native`
for C++ rows, `py_native` for Python rows; lower is faster), next to the
reference's own time. With repetitions the median aggregate is used.

    scripts/bench_report.py ops.json py_ops.json          # op tables
    scripts/bench_report.py train.json py_train.json      # training tables
    scripts/bench_report.py data.json                     # data tables
    scripts/bench_report.py half_*.json --accuracy DIR --study study_results.csv
                                                          # 16-bit CPU tables (bench_run.sh ... half)

JSON written by `tiebreak half-check --json` (per-operator ulps, ties, gradients)
is recognised and tabulated too.

Uses only the standard library, so any python3 runs it.
"""

import argparse
import collections
import json
import sys

TIME_SCALE = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def load(paths):
    """name -> {seconds, items_per_second, ...} (median aggregate if present, else mean over entries)."""
    plain = collections.defaultdict(list)
    medians = {}
    contexts = []
    for path in paths:
        with open(path) as f:
            text = f.read()
        if not text.strip():
            # Google Benchmark leaves --benchmark_out empty when no benchmark was registered.
            print(f"warning: {path} is empty (no benchmarks ran)", file=sys.stderr)
            continue
        doc = json.loads(text)
        if "operations" in doc and "benchmarks" not in doc:
            continue  # a `tiebreak half-check` report (half_check_tables)
        contexts.append((path, doc.get("context", {})))
        for entry in doc.get("benchmarks", []):
            if entry.get("error_occurred"):
                print(f"warning: {entry['name']} reported an error: {entry.get('error_message')}", file=sys.stderr)
                continue
            seconds = entry["real_time"] * TIME_SCALE[entry.get("time_unit", "ns")]
            record = {"seconds": seconds, "items_per_second": entry.get("items_per_second")}
            for key, value in entry.items():
                if key not in record and isinstance(value, (int, float)):
                    record.setdefault(key, value)
            run_name = base_name(entry.get("run_name", entry["name"]))
            if entry.get("run_type") == "aggregate":
                if entry.get("aggregate_name") == "median":
                    medians[run_name] = record
            else:
                plain[run_name].append(record)
    results = dict(medians)
    for name, records in plain.items():
        if name in medians:
            continue
        seconds = sum(r["seconds"] for r in records) / len(records)
        merged = dict(records[0])
        merged["seconds"] = seconds
        ips = [r["items_per_second"] for r in records if r["items_per_second"]]
        merged["items_per_second"] = sum(ips) / len(ips) if ips else None
        results[name] = merged
    return results, contexts


# What Google Benchmark appends to a registered name (UseRealTime, Iterations, ...).
SUFFIXES = ("real_time", "manual_time", "iterations:", "repeats:", "min_time:", "threads:", "process_time")


def base_name(name):
    parts = name.split("/")
    while parts and parts[-1].startswith(SUFFIXES):
        parts.pop()
    return "/".join(parts)


def split(name):
    group, _, impl = name.rpartition("/")
    return group, impl


def reference_for(impl, impls):
    if impl.startswith("py_"):
        return "py_native" if "py_native" in impls else None
    return "native" if "native" in impls else None


def fmt_time(seconds):
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} µs"


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def ops_tables(results):
    """One table per (mode, device): rows dtype/shape, columns implementations as ratios."""
    groups = collections.OrderedDict()
    for name, record in results.items():
        if not name.startswith(("fwdbwd/", "fwd/", "normpool/")):
            continue
        group, impl = split(name)
        groups.setdefault(group, {})[impl] = record
    by_table = collections.OrderedDict()
    for group, impls in groups.items():
        mode, device, dtype, shape = group.split("/")
        by_table.setdefault((mode, device), []).append((dtype, shape, impls))
    out = []
    for (mode, device), rows in by_table.items():
        columns = []
        for _, _, impls in rows:
            for impl in impls:
                if impl not in columns and impl not in ("native", "py_native"):
                    columns.append(impl)
        cpp = [c for c in columns if not c.startswith("py_")]
        py = [c for c in columns if c.startswith("py_")]
        header = ["dtype", "shape", "native"] + cpp
        if py:
            header += ["py_native"] + py + ["py_native / native"]
        body = []
        for dtype, shape, impls in sorted(rows, key=lambda r: (r[0], r[1])):
            row = [dtype, shape]
            row.append(fmt_time(impls["native"]["seconds"]) if "native" in impls else "–")
            for c in cpp:
                row.append(ratio(impls, c, "native"))
            if py:
                row.append(fmt_time(impls["py_native"]["seconds"]) if "py_native" in impls else "–")
                for c in py:
                    row.append(ratio(impls, c, "py_native"))
                row.append(ratio(impls, "py_native", "native"))
            body.append(row)
        title = {
            "fwdbwd": "forward + backward",
            "fwd": "forward only (no_grad)",
            "normpool": "NormPool2d forward + backward (native: LPPool2d's formula, p = 2)",
        }[mode]
        out.append(f"#### {title}, {device}: time ratio to native (native column: time per call)\n\n"
                   + table(header, body))
    return out


def ratio(impls, impl, reference):
    if impl not in impls or reference not in impls:
        return "–"
    return f"{impls[impl]['seconds'] / impls[reference]['seconds']:.2f}×"


def throughput_tables(results, prefix, unit, pairs):
    """Rows = group, columns = implementations in `unit`/s, then the ratio
    columns `pairs` = [(label, numerator impl, denominator impl)] (throughput ratios)."""
    groups = collections.OrderedDict()
    for name, record in results.items():
        if not name.startswith(prefix + "/"):
            continue
        group, impl = split(name)
        groups.setdefault(group[len(prefix) + 1:], {})[impl] = record
    if not groups:
        return []
    columns = []
    for impls in groups.values():
        for impl in impls:
            if impl not in columns:
                columns.append(impl)
    header = ["case"] + [f"{c} ({unit}/s)" for c in columns] + [label for label, _, _ in pairs]
    body = []
    for group, impls in groups.items():
        row = [group]
        for c in columns:
            ips = impls.get(c, {}).get("items_per_second")
            row.append(f"{ips:,.0f}" if ips else "–")
        for _, num, den in pairs:
            a = impls.get(num, {}).get("items_per_second")
            b = impls.get(den, {}).get("items_per_second")
            row.append(f"{a / b:.2f}×" if a and b else "–")
        body.append(row)
    return [table(header, body)]


SIXTEEN_BIT = ("fp16", "bf16", "amp")


def half_speed_table(results):
    """16-bit training rows: the default fp32-accumulate path against fp32, LibTorch's
    own 16-bit kernels (<precision>_native) and PyTorch eager (py_native), all β = 0."""
    rows = []
    groups = collections.OrderedDict()
    for name in results:
        if name.startswith("train/"):
            group, _ = split(name)
            groups.setdefault(group.rsplit("/", 1)[0], None)
    for base in groups:
        def ips(precision, impl):
            return results.get(f"{base}/{precision}/{impl}", {}).get("items_per_second")
        fp32 = ips("fp32", "tiebreak_pure_b0")
        for precision in SIXTEEN_BIT:
            fast, native, python = (ips(precision, "tiebreak_pure_b0"), ips(precision + "_native", "tiebreak_pure_b0"),
                                    ips(precision, "py_native"))
            if not (fast or native or python):
                continue
            cell = lambda v: f"{v:,.0f}" if v else "–"
            quotient = lambda a, b: f"{a / b:.2f}×" if a and b else "–"
            rows.append([base.split("/", 1)[1], precision, cell(fp32), cell(fast), cell(native), cell(python),
                         quotient(fast, fp32), quotient(fast, native), quotient(fast, python)])
    if not rows:
        return []
    header = ["case", "precision", "fp32 (img/s)", "fp32_accumulate (img/s)", "native 16-bit (img/s)",
              "PyTorch eager (img/s)", "fp32_accumulate / fp32", "fp32_accumulate / native",
              "fp32_accumulate / PyTorch eager"]
    return ["#### 16-bit training on the CPU, β = 0 (tiebreak_pure_b0, py_native)\n\n" + table(header, rows)]


def half_check_tables(paths):
    """Tables from `tiebreak half-check --json` reports."""
    out = []
    for path in paths:
        with open(path) as f:
            text = f.read()
        if not text.strip():
            continue
        doc = json.loads(text)
        if "operations" not in doc or "benchmarks" in doc:
            continue
        err = lambda e: "inf" if e is None else f"{e:.2f}"
        body = []
        for c in doc["operations"]:
            share = c["differing"] / c["elements"] if c["elements"] else 0.0
            body.append([c["layer"], c["op"], c["product"], f"{c['elements']:,}", f"{100 * share:.3f}%",
                         str(c["max_ulp_distance"]), err(c["native_max_error_ulp"]),
                         err(c["fp32_accumulate_max_error_ulp"])])
        section = [f"#### half-check: {doc['description']}\n",
                   table(["layer", "op", "product", "elements", "differing", "max ulps (native vs fp32_accumulate)",
                          "native: max error vs fp64 (ulps)", "fp32_accumulate: max error vs fp64 (ulps)"], body)]
        ties = [[t["layer"], f"{t['windows']:,}", f"{t['ties_native']:,}", f"{t['ties_fp32_accumulate']:,}",
                 str(t["differing_windows"])] for t in doc["ties"]]
        if ties:
            section.append("\nTies of the pooling layers, same weights and batch:\n\n" + table(
                ["layer", "windows", "tied (native)", "tied (fp32_accumulate)", "differing windows"], ties))
        grads = doc["gradients"]
        if grads:
            differing = sum(g["differing"] for g in grads)
            elements = sum(g["elements"] for g in grads)
            worst = max(grads, key=lambda g: g["max_ulp_distance"])
            identical = sum(1 for g in grads if g["differing"] == 0)
            section.append(f"\nWhole-step parameter gradients: {identical} of {len(grads)} tensors identical; "
                           f"{differing:,} of {elements:,} elements differ; largest difference "
                           f"{worst['max_ulp_distance']} ulps ({worst['parameter']}).")
        out.append("\n".join(section))
    return out


def accuracy_table(directory, study_path):
    """One epoch of MNIST LeNet5 per (batch norm, β) under DIR/<bn>_beta<β>/run-0 against the
    study's epoch-0 test accuracy (mean ± std over its runs)."""
    import csv
    import glob
    import os
    study = {}
    if study_path:
        with open(study_path) as f:
            for r in csv.DictReader(f):
                if (r["dataset"], r["model"], r["optimizer"], r["bits"]) == ("mnist", "lenet", "sgd", "16"):
                    study[(r["batch_norm"] == "true", float(r["beta"]))] = (
                        float(r["epoch0_test_acc_mean"]), float(r["epoch0_test_acc_std"]), int(r["runs"]))
    rows = []
    for metrics in sorted(glob.glob(os.path.join(directory, "*", "run-0", "metrics.csv"))):
        with open(metrics) as f:
            first = next(csv.DictReader(f), None)
        if first is None:
            continue
        bn, beta = first["batch_norm"] == "1", float(first["beta"])
        acc, diverged, seconds = float(first["test_accuracy"]), first["diverged"] == "1", float(first["seconds"])
        ref = study.get((bn, beta))
        if ref:
            mean, std, runs = ref
            within = abs(acc - mean) <= max(3 * std, 0.005)
            study_cell, verdict = f"{100 * mean:.2f} ± {100 * std:.2f} ({runs} runs)", "yes" if within else "NO"
        else:
            study_cell, verdict = "–", "–"
        rows.append((bn, beta, [("BN" if bn else "no BN"), f"{beta:g}", first["lr"][:8], f"{100 * acc:.2f}",
                                "yes" if diverged else "no", study_cell, verdict, f"{seconds:.1f}"]))
    if not rows:
        return []
    rows.sort(key=lambda r: (r[0], r[1]))
    header = ["model", "β", "lr", "epoch-1 test acc %", "diverged", "study epoch 0 (mean ± std)",
              "within 3 std", "epoch seconds (train + test)"]
    return ["#### MNIST LeNet5 fp16 (fp32_accumulate), one epoch against the study\n\n"
            + table(header, [r[2] for r in rows])]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("json", nargs="+", help="Google Benchmark JSON files")
    parser.add_argument("--context", action="store_true", help="also print each file's context")
    parser.add_argument("--accuracy", help="directory of one-epoch runs (bench_run.sh ... half)")
    parser.add_argument("--study", help="the study's results (../shared/paper/study_results.csv) for --accuracy")
    args = parser.parse_args()
    results, contexts = load(args.json)
    checks = half_check_tables(args.json)
    if not results and not checks:
        sys.exit("error: no benchmark results in " + ", ".join(args.json))
    sections = ops_tables(results)
    sections += throughput_tables(
        results, "train", "img",
        [("tiebreak β=1000 / py two-pool β=1000", "tiebreak_pure_b1000", "py_twopool_b1000"),
         ("tiebreak β=0 / py native", "tiebreak_pure_b0", "py_native"),
         ("tiebreak β=1000 / β=0", "tiebreak_pure_b1000", "tiebreak_pure_b0"),
         ("libtorch native / py native", "native", "py_native")])
    sections += throughput_tables(results, "zones", "pass", [])
    sections += throughput_tables(results, "data", "img", [])
    sections += half_speed_table(results)
    sections += checks
    if args.accuracy:
        sections += accuracy_table(args.accuracy, args.study)
    print("\n\n".join(sections))
    if args.context:
        for path, context in contexts:
            print(f"\n{path}: " + ", ".join(f"{k}={v}" for k, v in sorted(context.items())
                                           if k not in ("caches", "library_build_type")))


if __name__ == "__main__":
    main()
