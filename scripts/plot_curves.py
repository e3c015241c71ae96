#!/usr/bin/env python3
"""Plots tiebreak runs the way the study does.

For every run directory (metrics.csv + config.json) under the given paths:
  curves.{png,pdf}  test accuracy and train loss vs epoch (numbered from 0, as
                    in the study), mean +- std band over runs for each beta,
                    one column of panels per precision; when runs probed zones
                    (train.zone_probe), a third row: the zone volume per epoch
                    (probes with D above threshold, pooled over the runs, with
                    its Wilson 95% interval);
  boxplot.{png,pdf} the study's box plot of final test accuracy per beta, one
                    panel per precision.
Other config keys that vary between runs (batch norm, optimizer...) split the
curves too (their values join the legend label).

Usage (with the project's Python, see scripts/env.sh tiebreak_python):
  python scripts/plot_curves.py RUN_DIR... [--out DIR]
"""
import argparse
import csv
import json
import math
import os
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker as ticker  # noqa: E402
import numpy as np  # noqa: E402
from atomic_figure import make_directory, save_figure  # noqa: E402

IGNORED_PREFIXES = ("exp.", "sweep.", "zones.", "train.zone_probe.")
IGNORED_KEYS = {"train.seed", "train.seeding", "train.runs", "train.stop_after_epoch", "nonsmooth.beta",
                "train.precision"}
PRECISION_ORDER = ["fp16", "bf16", "amp_fp16", "amp_bf16", "fp32", "fp64"]


def flatten(node, prefix=""):
    out = {}
    for k, v in node.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = json.dumps(v) if not isinstance(v, str) else v
    return out


def find_runs(roots):
    runs = []
    for root in roots:
        if not os.path.isdir(root):
            sys.exit(f"{root}: not a directory")
        for dirpath, _, files in os.walk(root):
            if "metrics.csv" in files and "config.json" in files:
                runs.append(dirpath)
    return sorted(set(runs))


def load_run(path):
    with open(os.path.join(path, "config.json")) as f:
        config = flatten(json.load(f))
    rows = []
    with open(os.path.join(path, "metrics.csv"), newline="") as f:
        for row in csv.DictReader(f):
            rows.append(row)
    if not rows:
        return None
    return {
        "dir": path,
        "config": config,
        "beta": float(config.get("nonsmooth.beta", "0")),
        "precision": config.get("train.precision", "fp32"),
        "epoch": np.array([int(r["epoch"]) for r in rows]),
        "test_accuracy": np.array([float(r["test_accuracy"]) for r in rows]),
        "train_loss": np.array([float(r["train_loss"]) for r in rows]),
        # The zone probe's counts per epoch (NaN where the run did not probe: filled epochs, probe off).
        "zone_finite": np.array([zone_count(r, "zone_probes") - zone_count(r, "zone_non_finite") for r in rows]),
        "zone_above": np.array([zone_count(r, "zone_above_threshold") for r in rows]),
        # Diverged = ended non-finite (a mixed-precision run may recover from a non-finite epoch).
        "diverged": rows[-1].get("diverged") == "1",
    }


def zone_count(row, column):
    value = row.get(column)
    return float(value) if value not in (None, "") else math.nan


def wilson(successes, trials, z=1.959963984540054):
    """The Wilson score interval (zones::wilson_interval): [0, 1] without trials."""
    if trials <= 0:
        return 0.0, 1.0
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def varied_keys(runs):
    values = defaultdict(set)
    for r in runs:
        for k, v in r["config"].items():
            if k not in IGNORED_KEYS and not k.startswith(IGNORED_PREFIXES):
                values[k].add(v)
    return sorted(k for k, v in values.items() if len(v) > 1)


def save(fig, out, name):
    fig.tight_layout()
    for ext in ("png", "pdf"):
        save_figure(fig, os.path.join(out, f"{name}.{ext}"), dpi=150, bbox_inches="tight")
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description="Plot tiebreak runs (curves and final-accuracy box plots).")
    parser.add_argument("dirs", nargs="+", help="run, experiment or sweep directories")
    parser.add_argument("--out", help="output directory (default: DIR/plots for the first DIR)")
    args = parser.parse_args()
    runs = [r for r in (load_run(p) for p in find_runs(args.dirs)) if r is not None]
    if not runs:
        sys.exit("no run directories (metrics.csv + config.json) under " + " ".join(args.dirs))
    out = args.out or os.path.join(args.dirs[0], "plots")
    make_directory(out)
    extra = varied_keys(runs)
    precisions = sorted({r["precision"] for r in runs},
                        key=lambda p: PRECISION_ORDER.index(p) if p in PRECISION_ORDER else 99)

    # Curves: rows = (test accuracy, train loss[, zone volume]), columns = precisions.
    zones = any(np.isfinite(r["zone_finite"]).any() for r in runs)
    n_rows = 3 if zones else 2
    fig, axes = plt.subplots(n_rows, len(precisions), figsize=(5 * len(precisions), 3.5 * n_rows), squeeze=False,
                             sharex=True)
    for col, precision in enumerate(precisions):
        groups = defaultdict(list)
        for r in runs:
            if r["precision"] == precision:
                label = tuple([r["beta"]] + [r["config"].get(k, "") for k in extra])
                groups[label].append(r)
        for label in sorted(groups):
            members = groups[label]
            n = min(len(m["epoch"]) for m in members)
            epochs = members[0]["epoch"][:n]
            name = f"β={label[0]:g}" + "".join(f", {k.split('.')[-1]}={v}" for k, v in zip(extra, label[1:]))
            name += f" (n={len(members)}" + (f", {sum(m['diverged'] for m in members)} diverged)" if any(
                m["diverged"] for m in members) else ")")
            for row, metric in enumerate(("test_accuracy", "train_loss")):
                values = np.stack([m[metric][:n] for m in members])
                with np.errstate(invalid="ignore"):
                    mean = np.nanmean(values, axis=0) if not np.all(np.isnan(values)) else values[0]
                    std = np.nanstd(values, axis=0) if len(members) > 1 else np.zeros_like(mean)
                ax = axes[row][col]
                # Markers keep short runs visible: a one-epoch run is a single point.
                line, = ax.plot(epochs, mean, label=name, marker="o" if n <= 20 else None, markersize=4)
                if n > 1:
                    ax.fill_between(epochs, mean - std, mean + std, color=line.get_color(), alpha=0.2, linewidth=0)
                elif len(members) > 1:
                    ax.errorbar(epochs, mean, yerr=std, color=line.get_color(), capsize=3)
            if zones:
                # Pooled over the runs: above-threshold probes / finite probes, per epoch.
                finite = np.nansum(np.stack([m["zone_finite"][:n] for m in members]), axis=0)
                above = np.nansum(np.stack([m["zone_above"][:n] for m in members]), axis=0)
                probed = finite > 0
                volume = np.where(probed, above / np.maximum(finite, 1), np.nan)
                low, high = zip(*(wilson(a, t) for a, t in zip(above, finite)))
                ax = axes[2][col]
                line, = ax.plot(epochs[probed], volume[probed], label=name, marker="o" if n <= 20 else None,
                                markersize=4)
                ax.fill_between(epochs[probed], np.array(low)[probed], np.array(high)[probed],
                                color=line.get_color(), alpha=0.2, linewidth=0)
        axes[0][col].set_title(precision)
        axes[0][col].set_ylabel("test accuracy")
        axes[1][col].set_ylabel("train loss")
        if zones:
            axes[2][col].set_ylabel("zone volume (D > threshold)")
            axes[2][col].set_ylim(-0.02, 1.02)
        losses = [v for line in axes[1][col].get_lines() for v in line.get_ydata() if np.isfinite(v) and v > 0]
        if losses and max(losses) / min(losses) > 10:  # a log axis only helps across decades
            axes[1][col].set_yscale("log")
        longest = max((len(line.get_xdata()) for line in axes[1][col].get_lines()), default=0)
        bottom = axes[n_rows - 1][col]
        if longest <= 20:
            bottom.set_xticks(range(0, longest))  # epochs are numbered from 0, as in the study
        else:
            bottom.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
        bottom.set_xlabel("epoch")
        axes[0][col].legend(fontsize="small")
    save(fig, out, "curves")

    # Box plot of final test accuracy per beta, one panel per precision.
    fig, axes = plt.subplots(1, len(precisions), figsize=(5 * len(precisions), 4), squeeze=False)
    for col, precision in enumerate(precisions):
        by_beta = defaultdict(list)
        for r in runs:
            if r["precision"] == precision:
                by_beta[r["beta"]].append(r["test_accuracy"][-1])
        betas = sorted(by_beta)
        ax = axes[0][col]
        ax.boxplot([by_beta[b] for b in betas])
        ax.set_xticks(range(1, len(betas) + 1), [f"{b:g}" for b in betas])
        ax.set_xlabel("β (MaxPool Jacobian)")
        ax.set_ylabel("final test accuracy")
        ax.set_title(precision)
    save(fig, out, "boxplot")
    print(f"wrote {out}/curves.{{png,pdf}} and {out}/boxplot.{{png,pdf}} from {len(runs)} runs"
          + (" (curves with the zone volume)" if zones else ""))


if __name__ == "__main__":
    main()
