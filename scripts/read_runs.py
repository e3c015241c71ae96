#!/usr/bin/env python3
"""A one-paragraph reading of a β × precision sweep, computed from its runs.

For each precision: the final test accuracy per β (mean over runs), the spread between the β that did not
diverge, and every β whose runs diverged, with the epoch it happened and how far above chance it ended.
The sentences follow the numbers, so a sweep whose fp16 runs do not diverge reads that way.

Usage (with the project's Python, see scripts/env.sh tiebreak_python):
  python scripts/read_runs.py DIR... [--out FILE]   (also written to FILE when given)
"""
import argparse
import os
import sys
import textwrap

import numpy as np
from tiebreak_runs import describe, group_runs, load_runs  # noqa: E402  one way to read and group runs

# Accuracy differences below this many percentage points between β are read as "alike": the size of the
# run-to-run noise of a short CPU run (and below the study's reported resolution).
ALIKE_POINTS = 1.0


def pct(x):
    return f"{100 * x:.1f}%"


def reading(runs):
    by_precision = {p: {label[0]: members for label, members in groups.items()}
                    for p, groups in group_runs(runs).items()}
    precisions = list(by_precision)
    sizes = [len(v) for betas in by_precision.values() for v in betas.values()]
    chance = min(r["chance"] for r in runs)
    sentences = [f"Reading ({describe(runs, sizes)}; chance is {pct(chance)}):"]
    for precision in precisions:
        betas = by_precision[precision]
        healthy = {b: np.mean([m["test_accuracy"][-1] for m in ms]) for b, ms in sorted(betas.items())
                   if not any(m["diverged"] for m in ms)}
        broken = {b: ms for b, ms in sorted(betas.items()) if any(m["diverged"] for m in ms)}
        parts = []
        if healthy:
            values = list(healthy.values())
            listing = ", ".join(f"β={b:g} {pct(v)}" for b, v in healthy.items())
            spread = 100 * (max(values) - min(values))
            if len(values) == 1:
                parts.append(f"only {listing} trained without diverging")
            elif spread < ALIKE_POINTS:
                parts.append(f"every β that kept finite weights ends alike ({listing}: within {spread:.2f} "
                             f"points), so the Jacobian chosen at MaxPool ties does not change the result")
            else:
                parts.append(f"the β end {spread:.1f} points apart ({listing})")
        for b, ms in broken.items():
            diverged = [m for m in ms if m["diverged"]]
            epochs = sorted({int(m["epoch"][m["diverged_at"]]) for m in diverged})
            final = np.mean([m["test_accuracy"][-1] for m in diverged])
            at = "epoch " + "/".join(str(e) for e in epochs)
            level = "at chance" if abs(final - chance) < 0.02 else f"at {pct(final)}"
            parts.append(f"β={b:g} diverged in {len(diverged)} of {len(ms)} run{'s' if len(ms) > 1 else ''} "
                         f"({at}: the weights became non-finite) and ends {level}")
        sentences.append(f"In {precision}, " + "; ".join(parts) + ".")
    diverging = sorted({b for p in by_precision for b, ms in by_precision[p].items()
                        if any(m["diverged"] for m in ms)})
    if diverging:
        where = sorted({p for p in by_precision for b, ms in by_precision[p].items()
                        if any(m["diverged"] for m in ms)})
        mixture = all(r["config"].get("nonsmooth.formulation") == "mixture" for r in runs)
        why = (" and the study's β·MinPool + (1−β)·MaxPool overflows and cancels in rounding" if mixture
               else "")
        betas = ", ".join(f"{b:g}" for b in diverging)
        if len(where) < len(precisions):
            sentences.append(f"Divergence (β = {betas}) happens only in {', '.join(where)}: the study's finding "
                             f"that the MaxPool Jacobian matters in low precision, where ties are frequent{why}.")
        else:
            sentences.append(f"Runs with β = {betas} diverged in every precision swept.")
    else:
        sentences.append("No run diverged: at this length and precision the choice of Jacobian left "
                         "training intact.")
    return " ".join(sentences)


def main():
    parser = argparse.ArgumentParser(description="A one-paragraph reading of a β × precision sweep.")
    parser.add_argument("dirs", nargs="+", help="run, experiment or sweep directories")
    parser.add_argument("--out", help="also write the paragraph to this file")
    args = parser.parse_args()
    runs = load_runs(args.dirs)
    if not runs:
        sys.exit("no run directories (metrics.csv + config.json) under " + " ".join(args.dirs))
    text = textwrap.fill(reading(runs), width=100)
    print(text)
    if args.out:
        temporary = args.out + ".tmp"
        try:
            with open(temporary, "w") as f:
                f.write(text + "\n")
            os.replace(temporary, args.out)
        except OSError as e:
            sys.exit(f"read_runs.py: {args.out}: cannot write: {e.strerror or e}")


if __name__ == "__main__":
    main()
