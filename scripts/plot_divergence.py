#!/usr/bin/env python3
"""Plots a `tiebreak diverge` run (divergence.csv) the way the study's train_vs_weights notebook did.

  divergence.{png,pdf}  left: test accuracy per epoch, one line per network (its value of the compared key);
                        right: L1 distance of each network's weights to the reference's ("0 vs 1", ...; a twin
                        of the reference is "0 vs 0", the run-to-run noise), symlog y axis.
Epoch k is the state after k epochs of training (0 = the shared initialization).

Usage (with the project's Python, see scripts/env.sh tiebreak_python):
  python scripts/plot_divergence.py DIVERGE_DIR [--out DIR]
"""
import argparse
import csv
import os
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description="Plot a tiebreak diverge run (divergence.csv)")
    parser.add_argument("dir", help="the --out directory of tiebreak diverge")
    parser.add_argument("--out", help="output directory (default: DIR)")
    args = parser.parse_args()
    path = os.path.join(args.dir, "divergence.csv")
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        sys.exit(f"plot_divergence.py: {path}: cannot read ({e.strerror})")
    if not rows or not {"epoch", "network", "value", "weight_l1", "test_accuracy"} <= set(rows[0]):
        sys.exit(f"plot_divergence.py: {path}: expected the columns epoch,network,value,weight_l1,test_accuracy")
    series = defaultdict(list)
    values = {}
    for r in rows:
        k = int(r["network"])
        values[k] = r["value"]
        series[k].append((int(r["epoch"]), float(r["weight_l1"]), float(r["test_accuracy"])))
    reference = values[0]
    fig, (acc, dist) = plt.subplots(1, 2, figsize=(12, 4.2))
    for k in sorted(series):
        points = sorted(series[k])
        epochs = [p[0] for p in points]
        twin = k > 0 and values[k] == reference
        label = f"β={values[k]}" + (" (twin)" if twin else "")
        acc.plot(epochs, [100 * p[2] for p in points], label=label, linestyle="--" if twin else "-")
        if k > 0:
            dist.plot(epochs, [p[1] for p in points], label=f"{reference} vs {values[k]}",
                      linestyle="--" if twin else "-")
    acc.set_xlabel("epoch")
    acc.set_ylabel("test accuracy (%)")
    acc.legend(fontsize=7)
    dist.set_xlabel("epoch")
    dist.set_ylabel("‖w − w_ref‖₁")
    dist.set_yscale("symlog", linthresh=1e-6)
    dist.legend(fontsize=7)
    fig.tight_layout()
    out = args.out or args.dir
    os.makedirs(out, exist_ok=True)
    for ext in ("png", "pdf"):
        fig.savefig(os.path.join(out, f"divergence.{ext}"), dpi=130)
    print(f"wrote {os.path.join(out, 'divergence.png')}")


if __name__ == "__main__":
    main()
