"""TensorBoard logs that tiebreak's runs write themselves, read back with the tensorboard package's reader.

Run by ctest as `python test_tensorboard.py <tiebreak binary> <scripts dir>`; skipped without tensorboard.
"""
import csv
import glob
import json
import math
import os
import subprocess
import sys
import tempfile
import unittest

TIEBREAK = sys.argv.pop(1) if len(sys.argv) > 1 else None
SCRIPTS = sys.argv.pop(1) if len(sys.argv) > 1 else None

from test_plots import synthetic_config  # noqa: E402  (after taking this script's arguments: it reads argv too)

try:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
except ImportError:
    EventAccumulator = None


def run(args, env=None):
    return subprocess.run(args, capture_output=True, text=True, timeout=600, env=env)


def scalars(logdir):
    accumulator = EventAccumulator(logdir)
    accumulator.Reload()
    return {tag: [(e.step, e.value) for e in accumulator.Scalars(tag)] for tag in accumulator.Tags()["scalars"]}


def metrics(run_dir):
    with open(os.path.join(run_dir, "metrics.csv"), newline="") as f:
        return list(csv.DictReader(f))


def run_json(run_dir):
    with open(os.path.join(run_dir, "run.json")) as f:
        return json.load(f)


def event_files(run_dir):
    return sorted(glob.glob(os.path.join(run_dir, "tensorboard", "events.out.tfevents.*")))


class TensorBoardTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if TIEBREAK is None or SCRIPTS is None:
            raise unittest.SkipTest("pass the tiebreak binary and the scripts directory")
        if EventAccumulator is None:
            raise unittest.SkipTest("the tensorboard package is not installed (scripts/setup.sh installs it)")

    def run_synthetic(self, tmp, epochs, command, *args, out="runs", env=None):
        """`tiebreak COMMAND CONFIG ARGS --out TMP/OUT` on the synthetic task, which must succeed: (result, out)."""
        config = os.path.join(tmp, "synthetic.json")
        synthetic_config(config, epochs=epochs)
        out = os.path.join(tmp, out)
        r = run([TIEBREAK, command, config, *args, "--out", out], env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r, out

    def assert_logged_as_in_metrics(self, run_dir, tags):
        rows = metrics(run_dir)
        logged = scalars(os.path.join(run_dir, "tensorboard"))
        for tag, column in tags:
            # Each epoch once, in order: no epoch lost or written twice by the per-epoch exports.
            self.assertEqual([s for s, _ in logged[tag]], [int(r["epoch"]) for r in rows], (run_dir, tag))
            for (_, value), row in zip(logged[tag], rows):
                expected = float(row[column])
                if math.isnan(expected):
                    self.assertTrue(math.isnan(value), (run_dir, tag))
                else:
                    # TensorBoard keeps scalars as float32.
                    self.assertTrue(math.isclose(value, expected, rel_tol=1e-6, abs_tol=1e-7),
                                    (run_dir, tag, value, expected))
        return rows, logged

    def test_a_training_run_writes_its_logs_epoch_by_epoch_without_an_extra_step(self):
        with tempfile.TemporaryDirectory() as tmp:
            r, out = self.run_synthetic(tmp, 3, "train", "--set", "train.zone_probe.every=2")
            run_dir = os.path.join(out, "run-0")
            rows, logged = self.assert_logged_as_in_metrics(run_dir, (
                ("accuracy/test", "test_accuracy"), ("accuracy/train", "train_accuracy"),
                ("loss/train", "train_loss"), ("loss/test", "test_loss"), ("lr", "lr"),
                ("zone_probe/volume", "zone_volume"), ("zone_probe/probes", "zone_probes")))
            for column in (c for c in rows[0] if c.startswith("ties.")):
                self.assertIn("ties/" + column[len("ties."):], logged)
            self.assertEqual(run_json(run_dir)["tensorboard"], {"status": "written", "logdir": "tensorboard"})
            self.assertNotIn("TensorBoard", r.stderr)

    def test_every_run_of_a_child_process_sweep_writes_its_logs(self):
        with tempfile.TemporaryDirectory() as tmp:
            _, out = self.run_synthetic(tmp, 2, "sweep", "--grid", "train.optimizer.lr=0.05,1e30", "--jobs", "2",
                                        out="sweep")
            for point in ("lr=0.05", "lr=1e+30"):
                run_dir = os.path.join(out, point, "run-0")
                self.assert_logged_as_in_metrics(run_dir, (("accuracy/test", "test_accuracy"),
                                                           ("loss/train", "train_loss"), ("diverged", "diverged")))
                self.assertEqual(run_json(run_dir)["tensorboard"]["status"], "written")
            # A learning rate of 1e30 diverges: the log says so where metrics.csv does.
            diverged = scalars(os.path.join(out, "lr=1e+30", "run-0", "tensorboard"))["diverged"]
            self.assertEqual(diverged[-1][1], 1.0)

    def test_the_export_appends_new_epochs_only_and_rewrites_a_restarted_run(self):
        with tempfile.TemporaryDirectory() as tmp:
            _, out = self.run_synthetic(tmp, 2, "train")
            run_dir = os.path.join(out, "run-0")
            export = [sys.executable, os.path.join(SCRIPTS, "tensorboard_export.py"), run_dir]
            files = event_files(run_dir)
            self.assertEqual(run(export).returncode, 0)
            self.assertEqual(event_files(run_dir), files)  # nothing new: nothing written
            # One more epoch in metrics.csv (as the next epoch of a live run adds it): appended once.
            with open(os.path.join(run_dir, "metrics.csv")) as f:
                lines = f.read().splitlines()
            extra = lines[-1].split(",")
            extra[1] = "2"
            extra[5] = "0.75"  # test_accuracy
            with open(os.path.join(run_dir, "metrics.csv"), "w") as f:
                f.write("\n".join(lines + [",".join(extra)]) + "\n")
            self.assertEqual(run(export).returncode, 0)
            self.assertEqual(len(event_files(run_dir)), len(files) + 1)
            self.assert_logged_as_in_metrics(run_dir, (("accuracy/test", "test_accuracy"),))
            # A restarted run (its first epoch differs): the logs are this metrics.csv's alone.
            first = lines[1].split(",")
            first[5] = "0.5"
            with open(os.path.join(run_dir, "metrics.csv"), "w") as f:
                f.write("\n".join([lines[0], ",".join(first)]) + "\n")
            self.assertEqual(run(export).returncode, 0)
            self.assertEqual(scalars(os.path.join(run_dir, "tensorboard"))["accuracy/test"], [(0, 0.5)])

    def test_without_python_a_run_warns_once_records_why_and_succeeds(self):
        with tempfile.TemporaryDirectory() as tmp:
            r, out = self.run_synthetic(tmp, 2, "train",
                                        env=dict(os.environ, TIEBREAK_PYTHON=os.path.join(tmp, "no-python")))
            self.assertEqual(r.stderr.count("TensorBoard logs of"), 1, r.stderr)
            record = run_json(os.path.join(out, "run-0"))
            self.assertEqual(record["status"], "finished")
            self.assertEqual(record["tensorboard"]["status"], "unavailable")
            self.assertIn("no-python", record["tensorboard"]["reason"])
            self.assertEqual(len(metrics(os.path.join(out, "run-0"))), 2)

    def test_no_tensorboard_turns_the_logs_off(self):
        with tempfile.TemporaryDirectory() as tmp:
            _, out = self.run_synthetic(tmp, 1, "train", "--no-tensorboard")
            self.assertFalse(os.path.exists(os.path.join(out, "run-0", "tensorboard")))
            self.assertEqual(run_json(os.path.join(out, "run-0"))["tensorboard"], {"status": "off"})

    def test_zones_writes_per_batch_discrepancies_and_volume(self):
        with tempfile.TemporaryDirectory() as tmp:
            _, out = self.run_synthetic(tmp, 1, "zones", "--pair", "nonsmooth.beta=0,1", "--precision", "fp32,fp64",
                                        out="zones")
            with open(os.path.join(out, "zones.csv"), newline="") as f:
                rows = [r for r in csv.DictReader(f) if r["precision"] == "fp32"]
            logged = scalars(os.path.join(out, "tensorboard", "fp32"))
            self.assertEqual([v for _, v in logged["zones/d_inf"]], [float(r["d_inf"]) for r in rows])
            self.assertEqual(len(logged["zones/d_1"]), len(rows))
            with open(os.path.join(out, "zones.json")) as f:
                fp32 = next(p for p in json.load(f)["precisions"] if p["precision"] == "fp32")
            self.assertTrue(math.isclose(logged["zones/volume"][0][1], fp32["volume"]["fraction"], rel_tol=1e-6))

    def test_without_outputs_is_an_error(self):
        with tempfile.TemporaryDirectory() as tmp:
            r = run([sys.executable, os.path.join(SCRIPTS, "tensorboard_export.py"), tmp])
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(tmp, r.stderr)
            self.assertNotIn("Traceback", r.stderr)


if __name__ == "__main__":
    unittest.main()
