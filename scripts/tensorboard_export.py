#!/usr/bin/env python3
"""TensorBoard event files for tiebreak's outputs, written with the `tensorboard` package's own writer.

    python scripts/tensorboard_export.py DIR...      then      tensorboard --logdir DIR

For every run directory under DIR (metrics.csv + config.json) it writes `<run>/tensorboard/`: per epoch
(the step is the epoch, numbered from 0 as in metrics.csv) `loss/train`, `loss/test`, `accuracy/train`,
`accuracy/test`, `lr`, `diverged` and `ties/<layer>` (the tied-window fraction of each pooling layer),
and the run's hyperparameters (β, precision, formulation, optimizer, lr...) in the HParams tab, so that
TensorBoard compares β and precision curves across a sweep. For every `tiebreak zones` output
(zones.csv + zones.json) it writes `<out>/tensorboard/<precision>/`: `zones/d_inf` and `zones/d_1` per
mini-batch (step = the mini-batch's index over the whole measurement), `zones/volume` and
`zones/volume_above_threshold`, and, when the networks were trained (divergence.csv), `divergence/weight_l1`
per epoch. For `tiebreak diverge` outputs (divergence.csv), `<out>/tensorboard/<value>/`:
`divergence/weight_l1` and `divergence/test_accuracy` per epoch.

The files are rewritten from the CSVs each time (a new directory renamed over the old one), so running the
script again after more epochs brings the logs up to date; the CSVs stay the record. The trainer itself is
C++ and writes no event files: TensorBoard's writer is Python (there is no maintained C++ writer to use).
"""
import argparse
import csv
import json
import math
import os
import shutil
import sys
import tempfile

try:
    from torch.utils.tensorboard import SummaryWriter
except ImportError as error:  # the set-up installs tensorboard into the project's environment
    sys.exit(f"tensorboard_export.py: needs the tensorboard package ({error}); scripts/setup.sh installs it")

from plot_curves import find_runs, flatten  # noqa: E402  one way to find runs

HPARAMS = ["nonsmooth.beta", "train.precision", "nonsmooth.formulation", "nonsmooth.pool", "nonsmooth.relu_alpha",
           "model.name", "model.batch_norm", "data.dataset", "train.optimizer.name", "train.optimizer.lr",
           "train.seed"]


def number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def replace_directory(target, fill):
    """Writes into a fresh directory beside `target` and renames it over `target`: a reader never sees
    half of the logs, and a failure leaves the previous logs as they were."""
    parent = os.path.dirname(os.path.abspath(target))
    staging = tempfile.mkdtemp(prefix=".tensorboard.", dir=parent)
    try:
        fill(staging)
        old = None
        if os.path.exists(target):
            old = tempfile.mkdtemp(prefix=".tensorboard.old.", dir=parent)
            os.rename(target, os.path.join(old, "logs"))
        os.rename(staging, target)
        if old:
            shutil.rmtree(old)
    except OSError as e:
        shutil.rmtree(staging, ignore_errors=True)
        sys.exit(f"tensorboard_export.py: {target}: cannot write: {e.strerror or e}")


def export_run(run_dir):
    with open(os.path.join(run_dir, "config.json")) as f:
        config = flatten(json.load(f))
    rows = read_rows(os.path.join(run_dir, "metrics.csv"))

    def fill(logdir):
        writer = SummaryWriter(log_dir=logdir)
        for row in rows:
            step = int(row["epoch"])
            for tag, column in (("loss/train", "train_loss"), ("loss/test", "test_loss"),
                                ("accuracy/train", "train_accuracy"), ("accuracy/test", "test_accuracy"),
                                ("lr", "lr"), ("diverged", "diverged")):
                writer.add_scalar(tag, number(row.get(column)), step)
            for column, value in row.items():
                if column.startswith("ties."):
                    writer.add_scalar("ties/" + column[len("ties."):], number(value), step)
        hparams = {}
        for key in HPARAMS:
            if key in config:
                value = config[key]
                hparams[key] = number(value) if key in ("nonsmooth.beta", "nonsmooth.relu_alpha", "train.optimizer.lr",
                                                        "train.seed") else value
        final = rows[-1] if rows else {}
        # Written into the same directory (run_name="."), so the run's scalars and hyperparameters stay one run.
        writer.add_hparams(hparams, {"hparam/final_test_accuracy": number(final.get("test_accuracy")),
                                     "hparam/final_train_loss": number(final.get("train_loss"))}, run_name=".")
        writer.close()

    replace_directory(os.path.join(run_dir, "tensorboard"), fill)


def export_zones(out_dir):
    rows = read_rows(os.path.join(out_dir, "zones.csv"))
    with open(os.path.join(out_dir, "zones.json")) as f:
        document = json.load(f)
    divergence = read_rows(os.path.join(out_dir, "divergence.csv")) \
        if os.path.exists(os.path.join(out_dir, "divergence.csv")) else []

    def fill(logdir):
        for summary in document.get("precisions", []):
            precision = summary["precision"]
            writer = SummaryWriter(log_dir=os.path.join(logdir, precision))
            for step, row in enumerate(r for r in rows if r["precision"] == precision):
                writer.add_scalar("zones/d_inf", number(row["d_inf"]), step)
                writer.add_scalar("zones/d_1", number(row["d_1"]), step)
            writer.add_scalar("zones/volume", summary["volume"]["fraction"], 0)
            writer.add_scalar("zones/volume_above_threshold", summary["volume_above_threshold"]["fraction"], 0)
            for row in (r for r in divergence if r["precision"] == precision):
                writer.add_scalar(f"divergence/weight_l1/init{row['initialization']}", number(row["weight_l1"]),
                                  int(row["epoch"]))
            writer.close()

    replace_directory(os.path.join(out_dir, "tensorboard"), fill)


def export_divergence(out_dir):
    rows = read_rows(os.path.join(out_dir, "divergence.csv"))

    def fill(logdir):
        writers = {}
        for row in rows:
            value = row["value"]
            if value not in writers:
                writers[value] = SummaryWriter(log_dir=os.path.join(logdir, f"{row['network']}_{value}"))
            writers[value].add_scalar("divergence/weight_l1", number(row["weight_l1"]), int(row["epoch"]))
            writers[value].add_scalar("divergence/test_accuracy", number(row["test_accuracy"]), int(row["epoch"]))
        for writer in writers.values():
            writer.close()

    replace_directory(os.path.join(out_dir, "tensorboard"), fill)


def main():
    parser = argparse.ArgumentParser(description="Write TensorBoard event files for tiebreak runs, zones and "
                                                 "divergence outputs (then: tensorboard --logdir DIR).")
    parser.add_argument("dirs", nargs="+", help="run, experiment, sweep, zones or diverge directories")
    args = parser.parse_args()
    runs = find_runs(args.dirs)
    zones, divergences = [], []
    for root in args.dirs:
        for dirpath, dirnames, files in os.walk(root):
            dirnames[:] = [d for d in dirnames if d != "tensorboard" and not d.startswith(".tensorboard")]
            if "zones.csv" in files and "zones.json" in files:
                zones.append(dirpath)
            elif "divergence.csv" in files and "divergence.json" in files:
                divergences.append(dirpath)
    if not runs and not zones and not divergences:
        sys.exit("tensorboard_export.py: no run, zones or diverge output under " + " ".join(args.dirs))
    for run_dir in runs:
        export_run(run_dir)
    for out_dir in sorted(set(zones)):
        export_zones(out_dir)
    for out_dir in sorted(set(divergences)):
        export_divergence(out_dir)
    print(f"wrote TensorBoard logs for {len(runs)} runs, {len(zones)} zones and {len(divergences)} diverge outputs;"
          f" view them with: tensorboard --logdir {' '.join(args.dirs)}")


if __name__ == "__main__":
    main()
