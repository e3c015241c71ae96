#!/usr/bin/env python3
"""TensorBoard event files for tiebreak's outputs, written with the `tensorboard` package's own writer.

Every `tiebreak train` (and so every run of a sweep or learning-rate search) runs this script on its run
directory after each epoch, in the background, so `tensorboard --logdir runs` shows live curves without an
extra step (`--no-tensorboard` or TIEBREAK_TENSORBOARD=0 turns that off). `tiebreak zones` and
`tiebreak diverge` run it on their output when they finish. Run by hand it brings any output up to date:

    python scripts/tensorboard_export.py DIR...      then      tensorboard --logdir DIR

For every run directory under DIR (metrics.csv + config.json) it writes `<run>/tensorboard/`: per epoch
(the step is the epoch, numbered from 0 as in metrics.csv) `loss/train`, `loss/test`, `accuracy/train`,
`accuracy/test`, `lr`, `diverged`, `time/epoch_seconds`, `ties/<layer>` (the tied-window fraction of each
pooling layer) and, when the run probes zones (train.zone_probe), `zone_probe/<column>` for the numeric
zone_* columns (volume with its interval, median and largest D, counts); and the run's hyperparameters
(β, precision, formulation, optimizer, lr...) in the HParams tab, so that TensorBoard compares β and
precision curves across a sweep. A run's logs are appended epoch by epoch: each call writes the epochs
metrics.csv gained since the last one into a new event file (TensorBoard reads a directory's event files
in order), and `tensorboard/.exported.json` records how many rows were written and a digest of them. When
metrics.csv no longer starts with those rows (the run was restarted), the run's logs are rewritten from
scratch. Calls on the same run wait for each other (a lock on `tensorboard/.lock`).

For every `tiebreak zones` output (zones.csv + zones.json) it writes `<out>/tensorboard/<precision>/`:
`zones/d_inf` and `zones/d_1` per mini-batch (step = the mini-batch's index over the whole measurement),
`zones/volume` and `zones/volume_above_threshold`, and, when the networks were trained (divergence.csv),
`divergence/weight_l1` per epoch. For `tiebreak diverge` outputs (divergence.csv),
`<out>/tensorboard/<value>/`: `divergence/weight_l1` and `divergence/test_accuracy` per epoch. These are
rewritten whole (into a new directory renamed over the old one).

Exit status: 0 when done, 1 on an error (one line on stderr naming the file), 3 without the tensorboard
package (the caller records TensorBoard as unavailable).
"""
import argparse
import csv
import fcntl
import hashlib
import io
import json
import math
import os
import shutil
import sys
import tempfile
import time

try:
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.plugins.hparams import api_pb2, metadata as hparams_metadata, plugin_data_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter
except ImportError as error:  # scripts/setup.sh installs tensorboard into the project's environment
    print(f"tensorboard_export.py: needs the tensorboard package ({error}); scripts/setup.sh installs it",
          file=sys.stderr)
    sys.exit(3)

from tiebreak_runs import find_runs, flatten  # noqa: E402  one way to find runs

HPARAMS = ["nonsmooth.beta", "train.precision", "nonsmooth.formulation", "nonsmooth.pool", "nonsmooth.relu_alpha",
           "model.name", "model.batch_norm", "data.dataset", "train.optimizer.name", "train.optimizer.lr",
           "train.seed"]
NUMERIC_HPARAMS = {"nonsmooth.beta", "nonsmooth.relu_alpha", "train.optimizer.lr", "train.seed"}
EPOCH_SCALARS = (("loss/train", "train_loss"), ("loss/test", "test_loss"), ("accuracy/train", "train_accuracy"),
                 ("accuracy/test", "test_accuracy"), ("lr", "lr"), ("diverged", "diverged"),
                 ("time/epoch_seconds", "seconds"))
# Zone-probe columns of metrics.csv that are not numbers.
ZONE_TEXT_COLUMNS = {"zone_norm"}
STATE = ".exported.json"


class ExportError(Exception):
    pass


def number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


class Writer:
    """Scalars into one new event file of `logdir`, through tensorboard's EventFileWriter."""

    def __init__(self, logdir):
        self.events = EventFileWriter(logdir)

    def summary(self, summary, step, wall_time=None):
        self.events.add_event(event_pb2.Event(summary=summary, step=step,
                                              wall_time=time.time() if wall_time is None else wall_time))

    def scalar(self, tag, value, step, wall_time=None):
        self.summary(summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)]), step,
                     wall_time)

    def close(self):
        self.events.close()


def hparams_summaries(hparams, metrics):
    """The HParams plugin's experiment and session-start summaries (its documented protos): `hparams` the
    run's values, `metrics` the scalar tags the HParams tab shows beside them."""
    experiment = api_pb2.Experiment(
        hparam_infos=[api_pb2.HParamInfo(name=k, type=api_pb2.DATA_TYPE_FLOAT64 if isinstance(v, float)
                                         else api_pb2.DATA_TYPE_STRING) for k, v in hparams.items()],
        metric_infos=[api_pb2.MetricInfo(name=api_pb2.MetricName(tag=tag)) for tag in metrics])
    start = plugin_data_pb2.SessionStartInfo()
    for k, v in hparams.items():
        if isinstance(v, float):
            start.hparams[k].number_value = v
        else:
            start.hparams[k].string_value = v

    def summary(tag, **content):
        data = plugin_data_pb2.HParamsPluginData(**content)
        return summary_pb2.Summary(value=[summary_pb2.Summary.Value(
            tag=tag, metadata=hparams_metadata.create_summary_metadata(data))])

    return [summary(hparams_metadata.EXPERIMENT_TAG, experiment=experiment),
            summary(hparams_metadata.SESSION_START_INFO_TAG, session_start_info=start)]


def read_text(path):
    try:
        with open(path, newline="") as f:
            return f.read()
    except OSError as e:
        raise ExportError(f"{path}: cannot read: {e.strerror or e}")


def write_json_atomically(path, document):
    temporary = path + ".tmp"
    with open(temporary, "w") as f:
        json.dump(document, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)


def export_run(run_dir):
    """Appends the epochs metrics.csv gained since the last call to `<run_dir>/tensorboard/`."""
    logdir = os.path.join(run_dir, "tensorboard")
    os.makedirs(logdir, exist_ok=True)
    with open(os.path.join(logdir, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        text = read_text(os.path.join(run_dir, "metrics.csv"))
        lines = text.splitlines(keepends=True)
        header, data = (lines[0], lines[1:]) if lines else ("", [])
        state_path = os.path.join(logdir, STATE)
        try:
            with open(state_path) as f:
                state = json.load(f)
        except (OSError, ValueError):
            state = None
        written = 0
        if state is not None:
            n = state.get("rows", 0)
            digest = hashlib.sha256("".join([header] + data[:n]).encode()).hexdigest()
            if 0 <= n <= len(data) and digest == state.get("digest"):
                written = n
            else:
                # Restarted (or rewritten): the logged epochs are not this metrics.csv's any more.
                for entry in os.listdir(logdir):
                    if entry != ".lock":
                        path = os.path.join(logdir, entry)
                        shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
                state = None
        rows = list(csv.DictReader(io.StringIO(text)))
        new = rows[written:]
        if not new and state is not None:
            return
        with open(os.path.join(run_dir, "config.json")) as f:
            config = flatten(json.load(f))
        writer = Writer(logdir)
        if state is None:
            hparams = {k: (number(config[k]) if k in NUMERIC_HPARAMS else config[k]) for k in HPARAMS if k in config}
            for summary in hparams_summaries(hparams, ["accuracy/test", "loss/train", "diverged"]):
                writer.summary(summary, 0)
        for row in new:
            step = int(row["epoch"])
            for tag, column in EPOCH_SCALARS:
                if row.get(column, "") != "":
                    writer.scalar(tag, number(row[column]), step)
            for column, value in row.items():
                if column.startswith("ties."):
                    writer.scalar("ties/" + column[len("ties."):], number(value), step)
                elif column.startswith("zone_") and column not in ZONE_TEXT_COLUMNS and value not in ("", None):
                    # Empty on epochs the probe did not run (filled epochs).
                    writer.scalar("zone_probe/" + column[len("zone_"):], number(value), step)
        writer.close()
        write_json_atomically(state_path, {
            "rows": len(rows), "digest": hashlib.sha256("".join([header] + data[:len(rows)]).encode()).hexdigest()})


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
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def read_rows(path):
    return list(csv.DictReader(io.StringIO(read_text(path))))


def export_zones(out_dir):
    rows = read_rows(os.path.join(out_dir, "zones.csv"))
    document = json.loads(read_text(os.path.join(out_dir, "zones.json")))
    divergence = read_rows(os.path.join(out_dir, "divergence.csv")) \
        if os.path.exists(os.path.join(out_dir, "divergence.csv")) else []

    def fill(logdir):
        for summary in document.get("precisions", []):
            precision = summary["precision"]
            writer = Writer(os.path.join(logdir, precision))
            for step, row in enumerate(r for r in rows if r["precision"] == precision):
                writer.scalar("zones/d_inf", number(row["d_inf"]), step)
                writer.scalar("zones/d_1", number(row["d_1"]), step)
            writer.scalar("zones/volume", summary["volume"]["fraction"], 0)
            writer.scalar("zones/volume_above_threshold", summary["volume_above_threshold"]["fraction"], 0)
            for row in (r for r in divergence if r["precision"] == precision):
                writer.scalar(f"divergence/weight_l1/init{row['initialization']}", number(row["weight_l1"]),
                              int(row["epoch"]))
            writer.close()

    replace_directory(os.path.join(out_dir, "tensorboard"), fill)


def export_divergence(out_dir):
    rows = read_rows(os.path.join(out_dir, "divergence.csv"))

    def fill(logdir):
        writers = {}
        for row in rows:
            key = f"{row['network']}_{row['value']}"
            if key not in writers:
                writers[key] = Writer(os.path.join(logdir, key))
            writers[key].scalar("divergence/weight_l1", number(row["weight_l1"]), int(row["epoch"]))
            writers[key].scalar("divergence/test_accuracy", number(row["test_accuracy"]), int(row["epoch"]))
        for writer in writers.values():
            writer.close()

    replace_directory(os.path.join(out_dir, "tensorboard"), fill)


def outputs(dirs):
    """(runs, zones outputs, diverge outputs) under `dirs`."""
    zones, divergences = [], []
    for root in dirs:
        if not os.path.isdir(root):
            raise ExportError(f"{root}: not a directory")
        for dirpath, dirnames, files in os.walk(root):
            dirnames[:] = [d for d in dirnames if d != "tensorboard" and not d.startswith(".tensorboard")]
            if "zones.csv" in files and "zones.json" in files:
                zones.append(dirpath)
            elif "divergence.csv" in files and "divergence.json" in files:
                divergences.append(dirpath)
    return find_runs(dirs), sorted(set(zones)), sorted(set(divergences))


def main():
    parser = argparse.ArgumentParser(description="Write TensorBoard event files for tiebreak runs, zones and "
                                                 "divergence outputs (then: tensorboard --logdir DIR).")
    parser.add_argument("dirs", nargs="+", help="run, experiment, sweep, zones or diverge directories")
    parser.add_argument("--quiet", action="store_true", help="print nothing on success (what runs pass)")
    args = parser.parse_args()
    try:
        runs, zones, divergences = outputs(args.dirs)
        if not runs and not zones and not divergences:
            raise ExportError("no run, zones or diverge output under " + " ".join(args.dirs))
        for run_dir in runs:
            export_run(run_dir)
        for out_dir in zones:
            export_zones(out_dir)
        for out_dir in divergences:
            export_divergence(out_dir)
    except ExportError as e:
        sys.exit(f"tensorboard_export.py: {e}")
    except OSError as e:
        sys.exit(f"tensorboard_export.py: {e.filename or ' '.join(args.dirs)}: cannot write: {e.strerror or e}")
    if not args.quiet:
        print(f"wrote TensorBoard logs for {len(runs)} runs, {len(zones)} zones and {len(divergences)} diverge "
              f"outputs; view them with: tensorboard --logdir {' '.join(args.dirs)}")


if __name__ == "__main__":
    main()
