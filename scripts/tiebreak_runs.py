"""Reading tiebreak run directories: the one place the scripts find runs, read them and group them.

plot_curves.py, read_runs.py and tensorboard_export.py import from here, so that every script sees the
same runs (a directory with metrics.csv and config.json), reads the same columns and groups them the same
way: per precision, then per β and the other config keys that vary between the runs.
"""
import csv
import json
import math
import os
import sys
from collections import defaultdict

import numpy as np

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


CLASSES = {"mnist": 10, "fashion-mnist": 10, "kmnist": 10, "cifar-10": 10, "cifar-100": 100, "svhn": 10,
           "imagenet": 1000}

def load_run(path):
    with open(os.path.join(path, "config.json")) as f:
        config = flatten(json.load(f))
    rows = []
    with open(os.path.join(path, "metrics.csv"), newline="") as f:
        for row in csv.DictReader(f):
            rows.append(row)
    if not rows:
        return None
    diverged_rows = [r.get("diverged") == "1" for r in rows]
    dataset = config.get("data.dataset", "mnist")
    classes = CLASSES.get(dataset) or int(config.get("data.synthetic.classes", "10"))
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
        "diverged": diverged_rows[-1],
        # The epoch where it diverged for good: the first of the trailing run of diverged rows.
        "diverged_at": next((i for i in range(len(rows)) if all(diverged_rows[i:])), None)
        if diverged_rows[-1] else None,
        "chance": 1.0 / classes,
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


def describe(runs, group_sizes):
    """The figure's title: what was trained (dataset, model, optimizer, epochs) and n per curve."""
    def values(key, default=""):
        return sorted({r["config"].get(key, default) for r in runs})

    model = "/".join(values("model.name", "lenet5"))
    if values("model.batch_norm") == ["true"]:
        model += "-BN"
    lrs = values("train.optimizer.lr")
    optimizer = "/".join(values("train.optimizer.name", "sgd")) + (f" lr {float(lrs[0]):g}" if len(lrs) == 1 else "")
    epochs = sorted({len(r["epoch"]) for r in runs})
    epochs_text = f"{epochs[0]}" if len(epochs) == 1 else f"{epochs[0]}–{epochs[-1]}"
    n = sorted(set(group_sizes))
    n_text = f"{n[0]}" if len(n) == 1 else f"{n[0]}–{n[-1]}"
    return (f"{'/'.join(values('data.dataset', 'mnist'))}, {model}, {optimizer}, {epochs_text} epoch"
            f"{'s' if epochs[-1] > 1 else ''}, n = {n_text} run{'s' if n[-1] > 1 else ''} per curve")


def precision_order(precisions):
    """Precisions from the lowest to the highest (unknown names last)."""
    return sorted(precisions, key=lambda p: PRECISION_ORDER.index(p) if p in PRECISION_ORDER else 99)


def group_runs(runs, extra=()):
    """{precision: {(β, values of the `extra` keys...): [runs]}}: the curves of a plot, the sentences of a
    reading. `extra` names config keys that vary between the runs (varied_keys)."""
    groups = {}
    for r in runs:
        label = tuple([r["beta"]] + [r["config"].get(k, "") for k in extra])
        groups.setdefault(r["precision"], defaultdict(list))[label].append(r)
    return {p: groups[p] for p in precision_order(groups)}


def load_runs(roots):
    """Every run under `roots` with at least one epoch, read by load_run."""
    return [r for r in (load_run(p) for p in find_runs(roots)) if r is not None]
