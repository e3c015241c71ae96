#!/usr/bin/env python3
"""Plots `tiebreak zones` results (zones.json files).

  histogram.{png,pdf}  log10 D∞ histogram (bins [10^(e-1), 10^e) plus a bar for exact zeros), one panel per
                       precision, one bar series per zones.json;
  histogram_d1.{png,pdf}
                       the study's histogram (threshold notebooks): D1 = sum of |grad a - grad b| over all
                       parameters, a bar "0" for exact zeros (% of all mini-batches) and a bar e for
                       [10^(e-1), 10^e) (% of the mini-batches inside the study's bins), log y axis up to 100 %;
  volume.{png,pdf}     zone volume (fraction of mini-batches with D > 0, and with D > threshold) with Wilson
                       95% intervals, grouped by precision, one bar per zones.json.

  divergence.{png,pdf} (runs with --train) L1 distance between the two networks' weights and both test
                       accuracies per epoch.

Each zones.json is labelled by --group: model (model.name), batch_size, batch_norm, formulation, pair (the
compared choice) or run (its directory name, the default).

Usage (with the project's Python, see scripts/env.sh tiebreak_python):
  python scripts/plot_zones.py ZONES_JSON_OR_DIR... [--group run] [--out DIR] [--data FILE]
--data FILE also writes what the volume figure draws (its bars' heights, the limits) as JSON.
"""
import argparse
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from atomic_figure import figure_data, make_directory, save_figure, save_figure_data  # noqa: E402

GROUPS = {
    "model": lambda doc, path: doc["config"]["model"]["name"],
    "batch_size": lambda doc, path: f"batch {doc['config']['data']['batch_size']}",
    "batch_norm": lambda doc, path: "BN" if doc["config"]["model"]["batch_norm"] else "no BN",
    "formulation": lambda doc, path: doc["config"]["nonsmooth"]["formulation"],
    "pair": lambda doc, path: doc["pair"],
    "run": lambda doc, path: os.path.basename(os.path.dirname(os.path.abspath(path))),
}


def load(paths):
    docs = []
    for p in paths:
        path = os.path.join(p, "zones.json") if os.path.isdir(p) else p
        try:
            with open(path) as f:
                doc = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            sys.exit(f"plot_zones.py: {path}: cannot read a zones.json ({e})")
        if "precisions" not in doc:
            sys.exit(f"plot_zones.py: {path}: expected a zones.json with a 'precisions' list")
        docs.append((path, doc))
    return docs


def sort_key(label):
    digits = "".join(c for c in label if c.isdigit())
    return (int(digits) if digits else 0, label)


def plot_histograms(docs, labels, out):
    precisions = sorted({p["precision"] for _, d in docs for p in d["precisions"]})
    fig, axes = plt.subplots(1, len(precisions), figsize=(5 * len(precisions), 3.8), squeeze=False)
    for ax, precision in zip(axes[0], precisions):
        exponents = sorted({b["exponent"] for _, d in docs for p in d["precisions"] if p["precision"] == precision
                            for b in p["histogram"]["bins"]})
        ticks = ["0"] + [f"[1e{e - 1},1e{e})" for e in exponents]
        width = 0.8 / max(1, len(docs))
        for k, ((_, doc), label) in enumerate(zip(docs, labels)):
            entry = next((p for p in doc["precisions"] if p["precision"] == precision), None)
            if entry is None:
                continue
            counts = {b["exponent"]: b["count"] for b in entry["histogram"]["bins"]}
            values = [entry["histogram"]["zeros"]] + [counts.get(e, 0) for e in exponents]
            total = max(1, sum(values))
            ax.bar(np.arange(len(values)) + k * width, np.array(values) / total, width=width, label=label)
        ax.set_xticks(np.arange(len(ticks)) + 0.4 - width / 2)
        ax.set_xticklabels(ticks, rotation=60, ha="right", fontsize=7)
        ax.set_title(f"{precision}: D∞ per mini-batch")
        ax.set_ylabel("fraction of mini-batches")
        ax.legend(fontsize=7)
    fig.tight_layout()
    for ext in ("png", "pdf"):
        save_figure(fig, os.path.join(out, f"histogram.{ext}"), dpi=150)
    plt.close(fig)


def plot_study_histograms(docs, labels, out):
    entries = [(label, p) for (_, doc), label in zip(docs, labels) for p in doc["precisions"] if "study_histogram" in p]
    if not entries:
        return False
    precisions = sorted({p["precision"] for _, p in entries})
    fig, axes = plt.subplots(1, len(precisions), figsize=(5 * len(precisions), 3.8), squeeze=False)
    for ax, precision in zip(axes[0], precisions):
        series = [(label, p["study_histogram"]) for label, p in entries if p["precision"] == precision]
        exponents = sorted({b["exponent"] for _, h in series for b in h["bars"]})
        ticks = ["0"] + [str(e) for e in exponents]
        width = 0.8 / max(1, len(series))
        for k, (label, h) in enumerate(series):
            percent = {b["exponent"]: b["percent"] for b in h["bars"]}
            values = [h["zero_percent"]] + [percent.get(e, 0.0) for e in exponents]
            n = h["samples"]
            ax.bar(np.arange(len(values)) + k * width, values, width=width, label=f"{label} ({n} mini-batches)")
        ax.set_xticks(np.arange(len(ticks)) + 0.4 - width / 2)
        ax.set_xticklabels(ticks)
        ax.set_yscale("log")
        ax.set_ylim(top=100)
        ax.set_xlabel("log10(magnitude) of D1 (0: D1 = 0)")
        ax.set_ylabel("proportion (%)")
        ax.set_title(f"{precision}: D1, the study's bins")
        ax.grid(True, linestyle="--", alpha=0.6, linewidth=0.7)
        ax.legend(fontsize=7)
    fig.tight_layout()
    for ext in ("png", "pdf"):
        fig.savefig(os.path.join(out, f"histogram_d1.{ext}"), dpi=150)
    plt.close(fig)
    return True


def plot_volumes(docs, labels, out, data):
    precisions = sorted({p["precision"] for _, d in docs for p in d["precisions"]})
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), squeeze=False)
    for ax, key, title in ((axes[0][0], "volume", "D∞ > 0"), (axes[0][1], "volume_above_threshold", "D∞ > threshold")):
        width = 0.8 / max(1, len(docs))
        for k, ((_, doc), label) in enumerate(zip(docs, labels)):
            xs, ys, lo, hi = [], [], [], []
            for i, precision in enumerate(precisions):
                entry = next((p for p in doc["precisions"] if p["precision"] == precision), None)
                if entry is None:
                    continue
                v = entry[key]
                xs.append(i + k * width)
                ys.append(100 * v["fraction"])
                lo.append(100 * (v["fraction"] - v["ci95"][0]))
                hi.append(100 * (v["ci95"][1] - v["fraction"]))
            ax.bar(xs, ys, width=width, yerr=[lo, hi], capsize=3, label=label)
        ax.set_xticks(np.arange(len(precisions)) + 0.4 - width / 2)
        ax.set_xticklabels(precisions)
        ax.set_ylim(0, 105)
        ax.set_ylabel("% of mini-batches (95% Wilson CI)")
        ax.set_title(f"bifurcation-zone volume: {title}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    for ext in ("png", "pdf"):
        save_figure(fig, os.path.join(out, f"volume.{ext}"), dpi=150)
    data["volume"] = figure_data(fig)
    plt.close(fig)


def plot_divergence(docs, labels, out):
    series = [(label, p) for (_, doc), label in zip(docs, labels) for p in doc["precisions"] if p.get("epochs")]
    if not series:
        return False
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for label, entry in series:
        epochs = [e["epoch"] for e in entry["epochs"]]
        name = f"{label} ({entry['precision']})"
        axes[0].plot(epochs, [e["weight_l1"] for e in entry["epochs"]], marker="o", label=name)
        line, = axes[1].plot(epochs, [100 * e["test_accuracy_a"] for e in entry["epochs"]], label=f"{name}: a")
        axes[1].plot(epochs, [100 * e["test_accuracy_b"] for e in entry["epochs"]], linestyle="--",
                     color=line.get_color(), label=f"{name}: b")
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("‖w_a − w_b‖₁")
    axes[0].set_yscale("symlog", linthresh=1e-12)
    axes[0].set_title("weight divergence")
    axes[1].set_xlabel("epoch")
    axes[1].set_ylabel("test accuracy (%)")
    axes[1].set_title("test accuracy of both networks")
    for ax in axes:
        ax.legend(fontsize=7)
    fig.tight_layout()
    for ext in ("png", "pdf"):
        save_figure(fig, os.path.join(out, f"divergence.{ext}"), dpi=150)
    plt.close(fig)
    return True


def main():
    parser = argparse.ArgumentParser(description="Plot tiebreak zones results")
    parser.add_argument("inputs", nargs="+", help="zones.json files or directories holding one")
    parser.add_argument("--group", choices=sorted(GROUPS), default="run", help="what labels each zones.json")
    parser.add_argument("--out", default=".", help="output directory")
    parser.add_argument("--data", help="also write what the volume figure draws (bars, limits) as JSON here")
    args = parser.parse_args()
    docs = load(args.inputs)
    labels = [str(GROUPS[args.group](doc, path)) for path, doc in docs]
    order = sorted(range(len(docs)), key=lambda i: sort_key(labels[i]))
    docs, labels = [docs[i] for i in order], [labels[i] for i in order]
    make_directory(args.out)
    plot_histograms(docs, labels, args.out)
    if plot_study_histograms(docs, labels, args.out):
        print(f"wrote {os.path.join(args.out, 'histogram_d1.png')}")
    data = {}
    plot_volumes(docs, labels, args.out, data)
    if args.data:
        save_figure_data(data, args.data)
    if plot_divergence(docs, labels, args.out):
        print(f"wrote {os.path.join(args.out, 'divergence.png')}")
    print(f"wrote {os.path.join(args.out, 'histogram.png')} and {os.path.join(args.out, 'volume.png')}")


if __name__ == "__main__":
    main()
