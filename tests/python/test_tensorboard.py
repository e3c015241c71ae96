"""scripts/tensorboard_export.py on real tiebreak output, read back with the tensorboard package's reader.

Run by ctest as `python test_tensorboard.py <tiebreak binary> <scripts dir>`; skipped without tensorboard.
"""
import csv
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


def run(args):
    return subprocess.run(args, capture_output=True, text=True, timeout=600)


def scalars(logdir):
    accumulator = EventAccumulator(logdir)
    accumulator.Reload()
    return {tag: [(e.step, e.value) for e in accumulator.Scalars(tag)] for tag in accumulator.Tags()["scalars"]}


class TensorBoardTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if TIEBREAK is None or SCRIPTS is None:
            raise unittest.SkipTest("pass the tiebreak binary and the scripts directory")
        if EventAccumulator is None:
            raise unittest.SkipTest("the tensorboard package is not installed (scripts/setup.sh installs it)")

    def export(self, directory):
        r = run([sys.executable, os.path.join(SCRIPTS, "tensorboard_export.py"), directory])
        self.assertEqual(r.returncode, 0, r.stderr)
        return r

    def test_a_sweeps_metrics_read_back_per_epoch(self):
        with tempfile.TemporaryDirectory() as tmp:
            config = os.path.join(tmp, "synthetic.json")
            synthetic_config(config, epochs=2)
            out = os.path.join(tmp, "sweep")
            r = run([TIEBREAK, "sweep", config, "--grid", "train.optimizer.lr=0.05,1e30", "--out", out])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("for 2 runs", self.export(out).stdout)
            for point in ("lr=0.05", "lr=1e+30"):
                run_dir = os.path.join(out, point, "run-0")
                with open(os.path.join(run_dir, "metrics.csv"), newline="") as f:
                    rows = list(csv.DictReader(f))
                logged = scalars(os.path.join(run_dir, "tensorboard"))
                for tag, column in (("accuracy/test", "test_accuracy"), ("loss/train", "train_loss"),
                                    ("lr", "lr"), ("diverged", "diverged")):
                    self.assertEqual([s for s, _ in logged[tag]], [int(r["epoch"]) for r in rows], tag)
                    for (_, value), row in zip(logged[tag], rows):
                        expected = float(row[column])
                        if math.isnan(expected):
                            self.assertTrue(math.isnan(value), (point, tag))
                        else:
                            # TensorBoard keeps scalars as float32.
                            self.assertTrue(math.isclose(value, expected, rel_tol=1e-6, abs_tol=1e-7),
                                            (point, tag, value, expected))
                ties = [c for c in rows[0] if c.startswith("ties.")]
                self.assertTrue(ties)
                for column in ties:
                    self.assertIn("ties/" + column[len("ties."):], logged)
            # A learning rate of 1e30 diverges: the log says so where metrics.csv does.
            diverged = scalars(os.path.join(out, "lr=1e+30", "run-0", "tensorboard"))["diverged"]
            self.assertEqual(diverged[-1][1], 1.0)

    def test_zones_per_batch_discrepancies_and_volume(self):
        with tempfile.TemporaryDirectory() as tmp:
            config = os.path.join(tmp, "synthetic.json")
            synthetic_config(config, epochs=1)
            out = os.path.join(tmp, "zones")
            r = run([TIEBREAK, "zones", config, "--pair", "nonsmooth.beta=0,1", "--precision", "fp32,fp64",
                     "--out", out])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.export(out)
            with open(os.path.join(out, "zones.csv"), newline="") as f:
                rows = [r for r in csv.DictReader(f) if r["precision"] == "fp32"]
            logged = scalars(os.path.join(out, "tensorboard", "fp32"))
            self.assertEqual([v for _, v in logged["zones/d_inf"]], [float(r["d_inf"]) for r in rows])
            self.assertEqual(len(logged["zones/d_1"]), len(rows))
            self.assertIn("zones/volume", logged)

    def test_without_outputs_is_an_error(self):
        with tempfile.TemporaryDirectory() as tmp:
            r = run([sys.executable, os.path.join(SCRIPTS, "tensorboard_export.py"), tmp])
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(tmp, r.stderr)
            self.assertNotIn("Traceback", r.stderr)


if __name__ == "__main__":
    unittest.main()
