"""The plotting scripts on real tiebreak output: a short synthetic sweep, zones and diverge run, a report.

Run by ctest as `python test_plots.py <tiebreak binary> <scripts dir>`.
"""
import csv
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import unittest

TIEBREAK = sys.argv.pop(1) if len(sys.argv) > 1 else None
SCRIPTS = sys.argv.pop(1) if len(sys.argv) > 1 else None
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run(args):
    return subprocess.run(args, capture_output=True, text=True, timeout=600)


def synthetic_config(path, epochs):
    config = {
        "data": {"dataset": "synthetic", "batch_size": 32, "test_batch_size": 64,
                 "synthetic": {"train_size": 128, "test_size": 64, "classes": 4, "shape": [1, 28, 28]}},
        "model": {"name": "lenet5"},
        "train": {"epochs": epochs, "optimizer": {"name": "sgd", "lr": 0.05}},
        "zones": {"initializations": 2},
        "exp": {"device": "cpu", "deterministic": True, "threads": 1},
    }
    with open(path, "w") as f:
        json.dump(config, f)


class PlotsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if TIEBREAK is None or SCRIPTS is None:
            raise unittest.SkipTest("pass the tiebreak binary and the scripts directory")

    def assert_png(self, path):
        with open(path, "rb") as f:
            self.assertEqual(f.read(8), PNG_MAGIC, path)

    def plot_sweep(self, epochs, runs, zone_probe=False, precisions=("fp32",)):
        with tempfile.TemporaryDirectory() as tmp:
            config = os.path.join(tmp, "synthetic.json")
            synthetic_config(config, epochs)
            out = os.path.join(tmp, "sweep")
            extra = ["--set", "train.zone_probe.every=2"] if zone_probe else []
            r = run([TIEBREAK, "sweep", config, "--grid", "nonsmooth.beta=0,1", "--grid",
                     "train.precision=" + ",".join(precisions), "--runs", str(runs), "--out", out] + extra)
            self.assertEqual(r.returncode, 0, r.stderr)
            data_file = os.path.join(tmp, "plotted.json")
            r = run([sys.executable, os.path.join(SCRIPTS, "plot_curves.py"), out, "--data", data_file])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("from %d runs" % (2 * runs * len(precisions)), r.stdout)
            self.assertEqual("with the zone volume" in r.stdout, zone_probe, r.stdout)
            for name in ("curves", "boxplot"):
                self.assert_png(os.path.join(out, "plots", name + ".png"))
                self.assertGreater(os.path.getsize(os.path.join(out, "plots", name + ".pdf")), 0)
            with open(data_file) as f:
                panels = json.load(f)["curves"]
            self.assert_curves_show_the_runs(out, panels, precisions, zone_probe)

    def assert_curves_show_the_runs(self, out, panels, precisions, zone_probe):
        """The curves figure draws every run's metrics.csv series in its precision's column (runs are drawn one
        by one below 5 per curve), each row shares its y axis, and the zone row is the pooled volume."""
        columns = len(precisions)
        self.assertEqual(len(panels), columns * (3 if zone_probe else 2))
        rows = [panels[r * columns:(r + 1) * columns] for r in range(len(panels) // columns)]
        for row in rows:
            self.assertEqual(len({tuple(p["ylim"]) for p in row}), 1, [p["ylim"] for p in row])
        for col, precision in enumerate(precisions):
            self.assertTrue(rows[0][col]["title"].startswith(precision), rows[0][col]["title"])
        pooled = {}
        for run_dir, _, files in os.walk(out):
            if "metrics.csv" in files:
                self.assert_run_drawn(run_dir, rows, precisions, zone_probe, pooled)
        for (precision, beta), (finite, above) in pooled.items():
            volume = [a / t for a, t in zip(above, finite) if t > 0]
            lines = rows[2][precisions.index(precision)]["lines"]
            self.assertTrue(any(len(line["y"]) == len(volume) and all(
                math.isclose(a, b, rel_tol=1e-9) for a, b in zip(line["y"], volume)) for line in lines),
                (precision, beta, volume, lines))

    def assert_run_drawn(self, run_dir, rows, precisions, zone_probe, pooled):
        with open(os.path.join(run_dir, "metrics.csv"), newline="") as f:
            metrics = list(csv.DictReader(f))
        precision = metrics[0]["precision"]
        col = precisions.index(precision)
        epochs = [float(m["epoch"]) for m in metrics]
        for row, column in ((0, "test_accuracy"), (1, "train_loss")):
            series = [float(m[column]) for m in metrics]
            self.assertTrue(any(line["x"] == epochs and len(line["y"]) == len(series) and all(
                math.isclose(a, b, rel_tol=1e-9) for a, b in zip(line["y"], series)) for line in rows[row][col]["lines"]),
                (run_dir, column, rows[row][col]["lines"]))
        if zone_probe:
            finite, above = pooled.setdefault((precision, metrics[0]["beta"]), ([0] * len(metrics), [0] * len(metrics)))
            for e, m in enumerate(metrics):
                finite[e] += int(m["zone_probes"]) - int(m["zone_non_finite"])
                above[e] += int(m["zone_above_threshold"])

    def test_curves_of_a_multi_epoch_sweep(self):
        self.plot_sweep(epochs=2, runs=2, precisions=("fp32", "fp64"))

    def test_curves_with_the_zone_probe_draw_the_volume(self):
        self.plot_sweep(epochs=2, runs=1, zone_probe=True)

    def run_and_plot(self, tmp, command, script, plot_args=()):
        """Runs `tiebreak COMMAND[0] <1-epoch synthetic config> COMMAND[1:] --out` and SCRIPT on its output with
        --data; returns the output folder and what the figures drew."""
        config = os.path.join(tmp, "synthetic.json")
        synthetic_config(config, 1)
        out = os.path.join(tmp, command[0])
        r = run([TIEBREAK, command[0], config] + list(command[1:]) + ["--out", out])
        self.assertEqual(r.returncode, 0, r.stderr)
        data_file = os.path.join(tmp, "plotted.json")
        r = run([sys.executable, os.path.join(SCRIPTS, script), out] + list(plot_args) + ["--data", data_file])
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(data_file) as f:
            return out, json.load(f)

    def test_divergence_crosses_of_two_groups_at_one_epoch_stay_apart(self):
        # An absurd learning rate makes both β groups non-finite in epoch 0, where both then predict one class.
        with tempfile.TemporaryDirectory() as tmp:
            _, drawn = self.run_and_plot(
                tmp, ["sweep", "--grid", "nonsmooth.beta=0,1", "--set", "train.optimizer.lr=1e30"], "plot_curves.py")
            accuracy = drawn["curves"][0]
            crosses = [(line["x"][0], line["y"][0]) for line in accuracy["lines"] if line["marker"] == "X"]
            self.assertEqual(len(crosses), 2, accuracy["lines"])
            self.assertEqual(len(set(crosses)), 2, crosses)
            self.assertAlmostEqual(sum(x for x, _ in crosses) / 2, 0.0)  # centred on the epoch they mark

    def test_curves_of_single_epoch_runs(self):
        self.plot_sweep(epochs=1, runs=1)

    def test_plot_curves_without_runs_is_an_error(self):
        with tempfile.TemporaryDirectory() as tmp:
            r = run([sys.executable, os.path.join(SCRIPTS, "plot_curves.py"), tmp])
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(tmp, r.stderr)

    def test_a_plot_that_cannot_be_written_is_one_line_and_leaves_the_previous_one(self):
        # The file-size limit fails the write as a full disk would (EFBIG instead of ENOSPC); any user can set it.
        with tempfile.TemporaryDirectory() as tmp:
            config = os.path.join(tmp, "synthetic.json")
            synthetic_config(config, 1)
            out = os.path.join(tmp, "sweep")
            r = run([TIEBREAK, "sweep", config, "--grid", "nonsmooth.beta=0,1", "--out", out])
            self.assertEqual(r.returncode, 0, r.stderr)
            script = os.path.join(SCRIPTS, "plot_curves.py")
            self.assertEqual(run([sys.executable, script, out]).returncode, 0)
            plots = os.path.join(out, "plots")
            before = {name: open(os.path.join(plots, name), "rb").read() for name in os.listdir(plots)}

            def limit_file_size():
                resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))

            r = subprocess.run([sys.executable, script, out], capture_output=True, text=True, timeout=600,
                               preexec_fn=limit_file_size)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertEqual(r.stderr.count("\n"), 1, r.stderr)
            self.assertRegex(r.stderr, r"^plot_curves\.py: .*/plots/curves\.png: cannot write: File too large\n$")
            self.assertNotIn("Traceback", r.stderr)
            after = {name: open(os.path.join(plots, name), "rb").read() for name in os.listdir(plots)}
            self.assertEqual(after, before)  # no temporary left, every previous plot intact

    def test_zones_histogram_and_volume(self):
        with tempfile.TemporaryDirectory() as tmp:
            out, drawn = self.run_and_plot(
                tmp, ["zones", "--pair", "nonsmooth.beta=0,1", "--precision", "fp32,fp64"], "plot_zones.py",
                ["--out", os.path.join(tmp, "p")])
            for name in ("histogram", "histogram_d1", "volume"):
                self.assert_png(os.path.join(tmp, "p", name + ".png"))
            with open(os.path.join(out, "zones.json")) as f:
                doc = json.load(f)
            # The volume figure's bars are zones.json's volumes, per precision, in percent.
            volume = drawn["volume"]
            precisions = sorted(p["precision"] for p in doc["precisions"])
            for panel, key in zip(volume, ("volume", "volume_above_threshold")):
                self.assertEqual(len(panel["bars"]), 1)
                expected = [100 * next(p for p in doc["precisions"] if p["precision"] == name)[key]["fraction"]
                            for name in precisions]
                self.assertEqual(len(panel["bars"][0]["height"]), len(expected))
                for got, want in zip(panel["bars"][0]["height"], expected):
                    self.assertTrue(math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12), (key, got, want))
            fp32 = doc["precisions"][0]
            self.assertEqual(fp32["initializations"], 2)
            self.assertEqual(fp32["study_histogram"]["samples"], fp32["batches"])
            self.assertEqual(fp32["study_histogram"]["exponents"], [-9, 0])

    def test_divergence(self):
        with tempfile.TemporaryDirectory() as tmp:
            config = os.path.join(tmp, "synthetic.json")
            synthetic_config(config, 1)
            out = os.path.join(tmp, "div")
            r = run([TIEBREAK, "diverge", config, "--values", "nonsmooth.beta=0,0,1000", "--out", out])
            self.assertEqual(r.returncode, 0, r.stderr)
            r = run([sys.executable, os.path.join(SCRIPTS, "plot_divergence.py"), out])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assert_png(os.path.join(out, "divergence.png"))

    def test_report_draws_one_plot_per_configuration(self):
        header = ("run_id,epoch,train_loss,train_accuracy,test_loss,test_accuracy,beta,batch_norm,precision,"
                  "formulation,optimizer,lr,seconds,diverged,filled\n")
        with tempfile.TemporaryDirectory() as tmp:
            for beta, accuracies in ((0, [0.978, 0.984]), (1000, [0.098, 0.098])):
                for run_id in range(2):
                    d = os.path.join(tmp, "runs", "beta=%d" % beta, "run-%d" % run_id)
                    os.makedirs(d)
                    with open(os.path.join(d, "config.json"), "w") as f:
                        json.dump({"data": {"dataset": "mnist", "batch_size": 128, "augmentation": "none"},
                                   "model": {"name": "lenet5"},
                                   "nonsmooth": {"beta": beta, "formulation": "mixture"},
                                   "train": {"precision": "fp16", "epochs": 100, "schedule": {"name": "cosine"},
                                             "optimizer": {"name": "sgd", "lr": 0.0232649491717045,
                                                           "momentum": 0.9, "weight_decay": 5e-4}}}, f)
                    with open(os.path.join(d, "metrics.csv"), "w") as f:
                        f.write(header)
                        for epoch, a in enumerate(accuracies):
                            f.write("%d,%d,0.1,0.9,0.1,%s,%d,0,fp16,mixture,sgd,0.02,1,%d,0\n"
                                    % (run_id, epoch, a, beta, int(beta > 0)))
            out = os.path.join(tmp, "report")
            env = dict(os.environ, TIEBREAK_PYTHON=sys.executable, TIEBREAK_SCRIPTS=SCRIPTS)
            r = subprocess.run([TIEBREAK, "report", os.path.join(tmp, "runs"), "--out", out],
                               capture_output=True, text=True, timeout=600, env=env)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assert_png(os.path.join(out, "plots", "mnist_lenet_nobn_sgd_16bits.png"))
            with open(os.path.join(out, "report.md")) as f:
                report = f.read()
            self.assertIn("![mnist lenet no BN sgd 16 bits](plots/mnist_lenet_nobn_sgd_16bits.png)", report)
            self.assertIn("| 1000 | 2 / 10 | 2 / 100 |", report)


if __name__ == "__main__":
    unittest.main()
