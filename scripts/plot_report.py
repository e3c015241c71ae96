#!/usr/bin/env python3
"""Plots a `tiebreak report` directory: one figure per configuration of the study.

Reads REPORT_DIR/curves.csv (written by `tiebreak report`) and writes
REPORT_DIR/plots/<dataset>_<model>_<bn|nobn>_<optimizer>_<bits>bits.png (and .pdf):
  left   tiebreak's mean test accuracy per epoch (epochs from 0, +- std band over
         runs) per beta, with the study's epoch-0 (+- std) and epoch-1 points;
  right  the final epoch per beta: the study's mean +- std, and tiebreak's at
         the same epoch where its runs got there (else its last epoch, hollow).
`tiebreak report` runs this itself; run it by hand to redraw.

Usage (with the project's Python, see scripts/env.sh tiebreak_python):
  python scripts/plot_report.py REPORT_DIR
"""
import argparse
import csv
import math
import os
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def read_curves(path):
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        sys.exit(f"plot_report.py: {path}: cannot read ({e.strerror}); run `tiebreak report` first")
    needed = {"dataset", "model", "batch_norm", "optimizer", "bits", "beta", "source", "epoch", "runs", "mean", "std"}
    if rows and not needed <= set(rows[0]):
        sys.exit(f"plot_report.py: {path}: expected the columns {sorted(needed)}")
    configurations = defaultdict(lambda: defaultdict(lambda: {"tiebreak": [], "study": []}))
    for r in rows:
        key = (r["dataset"], r["model"], r["batch_norm"] == "true", r["optimizer"], int(r["bits"]))
        configurations[key][float(r["beta"])][r["source"]].append(
            (int(r["epoch"]), int(r["runs"]), float(r["mean"]), float(r["std"])))
    return configurations


def slug(key):
    dataset, model, bn, optimizer, bits = key
    return f"{dataset}_{model}_{'bn' if bn else 'nobn'}_{optimizer}_{bits}bits"


def title(key):
    dataset, model, bn, optimizer, bits = key
    return f"{dataset} {model} {'BN' if bn else 'no BN'} {optimizer} {bits} bits"


def plot(key, by_beta, out):
    betas = sorted(by_beta)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2), gridspec_kw={"width_ratios": [3, 2]})
    final_epoch = None
    # Diverged runs are filled to the run's last epoch at a constant accuracy: the
    # left panel ends where some curve still moves, and a flat tail is named in its label.
    moving_until = 1
    for beta in betas:
        series = sorted(by_beta[beta]["tiebreak"])
        for (_, _, a, _), (e, _, b, _) in zip(series, series[1:]):
            if a != b:
                moving_until = max(moving_until, e)
    for i, beta in enumerate(betas):
        color = colors[i % len(colors)]
        ours = sorted(by_beta[beta]["tiebreak"])
        study = {e: (n, m, s) for e, n, m, s in by_beta[beta]["study"]}
        label = f"β={beta:g}"
        if ours:
            epochs = np.array([e for e, _, _, _ in ours])
            mean = np.array([m for _, _, m, _ in ours])
            std = np.array([0.0 if math.isnan(s) else s for _, _, _, s in ours])
            tail = f", flat to epoch {epochs[-1]}" if epochs[-1] > moving_until else ""
            left.plot(epochs, 100 * mean, color=color, marker="o" if len(epochs) <= 20 else None, markersize=4,
                      label=f"{label} tiebreak (n={ours[0][1]}{tail})")
            if len(epochs) > 1:
                left.fill_between(epochs, np.clip(100 * (mean - std), 0, 100), np.clip(100 * (mean + std), 0, 100),
                                  color=color, alpha=0.15, linewidth=0)
        for e in (0, 1):
            if e in study:
                _, m, s = study[e]
                left.errorbar([e + 0.08], [100 * m], yerr=[0 if math.isnan(s) else 100 * s], color=color, marker="s",
                              markerfacecolor="none", capsize=3, linestyle="none",
                              label=f"{label} study" if e == 0 else None)
        finals = [e for e in study if e > 1] or [e for e in study]
        final = max(finals)
        final_epoch = final
        _, m, s = study[final]
        right.errorbar([i - 0.1], [100 * m], yerr=[0 if math.isnan(s) else 100 * s], color=color, marker="s",
                       markerfacecolor="none", capsize=3, linestyle="none")
        reached = [o for o in ours if o[0] == final]
        if reached:
            _, n, om, os_ = reached[0]
            right.errorbar([i + 0.1], [100 * om], yerr=[0 if math.isnan(os_) else 100 * os_], color=color,
                           marker="o", capsize=3, linestyle="none")
        elif ours:
            e, n, om, _ = ours[-1]
            right.plot([i + 0.1], [100 * om], color=color, marker="o", markerfacecolor="none", linestyle="none")
            right.annotate(f"ep {e}", (i + 0.1, 100 * om), textcoords="offset points", xytext=(4, -10), fontsize=7)
    left.set_xlim(-0.3, moving_until + 0.3)
    left.set_xlabel("epoch (from 0)")
    left.set_ylabel("test accuracy (%)")
    left.set_title(f"{title(key)}: first epochs")
    left.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    left.legend(fontsize=6, ncol=2)
    right.set_xticks(range(len(betas)), [f"{b:g}" for b in betas])
    right.set_xlabel("β")
    right.set_ylabel("test accuracy (%)")
    right.set_title(f"epoch {final_epoch}: study □, tiebreak ● (○ = its last epoch)")
    fig.tight_layout()
    for ext in ("png", "pdf"):
        fig.savefig(os.path.join(out, f"{slug(key)}.{ext}"), dpi=130)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description="Plot a tiebreak report directory (curves.csv).")
    parser.add_argument("report_dir")
    args = parser.parse_args()
    configurations = read_curves(os.path.join(args.report_dir, "curves.csv"))
    out = os.path.join(args.report_dir, "plots")
    os.makedirs(out, exist_ok=True)
    for key in sorted(configurations):
        plot(key, configurations[key], out)
    print(f"wrote {len(configurations)} plots to {out}")


if __name__ == "__main__":
    main()
