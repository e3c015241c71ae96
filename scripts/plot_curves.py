#!/usr/bin/env python3
"""Plots tiebreak runs the way the study does.

For every run directory (metrics.csv + config.json) under the given paths:
  curves.{png,pdf}  test accuracy and train loss vs epoch (numbered from 0, as
                    in the study), one column of panels per precision, each row
                    sharing its y axis (an inset zooms a panel the shared scale
                    flattens); per beta every run as points when there are fewer
                    than 5, else mean +- std band; chance level dotted; each
                    diverged run marked with a cross where it diverged; when
                    runs probed zones (train.zone_probe), a third row: the
                    zone volume per epoch (probes with D above threshold,
                    pooled over the runs, with its Wilson 95% interval);
  boxplot.{png,pdf} final test accuracy per beta, one panel per precision, the
                    study's box plot from 5 runs on, every run as a point (a
                    cross when diverged) always.
The title names the dataset, model, optimizer, epochs and runs per curve.
Other config keys that vary between runs (batch norm, optimizer...) split the
curves too (their values join the legend label).

Usage (with the project's Python, see scripts/env.sh tiebreak_python):
  python scripts/plot_curves.py RUN_DIR... [--out DIR] [--data FILE]
--data FILE also writes what each figure draws (per panel: title, limits, every line's x and y) as JSON.
"""
import argparse
import os
import sys
import warnings
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker as ticker  # noqa: E402
import numpy as np  # noqa: E402
from atomic_figure import figure_data, make_directory, save_figure, save_figure_data  # noqa: E402
from tiebreak_runs import describe, group_runs, load_runs, varied_keys, wilson  # noqa: E402


def save(fig, out, name, data):
    """Writes the figure as PNG and PDF and keeps what it draws in `data` (for --data)."""
    fig.tight_layout()
    for ext in ("png", "pdf"):
        save_figure(fig, os.path.join(out, f"{name}.{ext}"), dpi=150, bbox_inches="tight")
    data[name] = figure_data(fig)
    plt.close(fig)


def group_label(label, extra):
    return f"β={label[0]:g}" + "".join(f", {k.split('.')[-1]}={v}" for k, v in zip(extra, label[1:]))


def panel_title(precision, groups, extra):
    """The precision, and per curve how many of its runs diverged (the legend is shared by the panels)."""
    diverged = [f"{group_label(label, extra)}: {sum(m['diverged'] for m in members)}/{len(members)}"
                for label, members in sorted(groups.items()) if any(m["diverged"] for m in members)]
    return precision + (f"\ndiverged: {'; '.join(diverged)}" if diverged else "")


# Fewer runs than this are drawn one by one (points joined by thin lines); from this many on, as the mean
# with a ± one-standard-deviation band: a band over 2 runs says little about the spread.
BAND_FROM = 5

# Epochs between the divergence crosses of neighbouring groups in one panel.
MARKER_SPREAD = 0.12


def draw_group(ax, members, metric, color, label, marker_shift=0.0):
    n = min(len(m["epoch"]) for m in members)
    epochs = members[0]["epoch"][:n]
    values = np.stack([m[metric][:n] for m in members])
    if len(members) < BAND_FROM:
        for i, m in enumerate(members):
            ax.plot(epochs, values[i], color=color, marker="o", markersize=3.5, linewidth=0.8, alpha=0.85,
                    label=label if i == 0 else None)
    else:
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN epochs (diverged runs' losses)
            mean = np.nanmean(values, axis=0)
            std = np.nanstd(values, axis=0, ddof=1)
        ax.plot(epochs, mean, color=color, label=label, marker="o" if n <= 20 else None, markersize=3)
        ax.fill_between(epochs, mean - std, mean + std, color=color, alpha=0.2, linewidth=0)
    # Each diverged run is marked where it diverged: on its accuracy, and on the loss axis's bottom edge
    # (its training loss is NaN from there on). `marker_shift` (in epochs) keeps the crosses of groups that
    # diverge at the same epoch to the same accuracy (chance) side by side instead of on top of each other.
    for m in members:
        e = m["diverged_at"]
        if e is None or e >= n:
            continue
        y = m[metric][e]
        if np.isfinite(y):
            ax.plot([m["epoch"][e] + marker_shift], [y], marker="X", markersize=9, color=color,
                    markeredgecolor="black", linestyle="none", zorder=5)
        else:
            ax.plot([m["epoch"][e] + marker_shift], [0.0], marker="X", markersize=9, color=color,
                    markeredgecolor="black", linestyle="none", zorder=5, transform=ax.get_xaxis_transform(),
                    clip_on=False)


def finite_values(ax):
    return [v for line in ax.get_lines() for v in np.asarray(line.get_ydata(), dtype=float) if np.isfinite(v)]


def main():
    parser = argparse.ArgumentParser(description="Plot tiebreak runs (curves and final-accuracy box plots).")
    parser.add_argument("dirs", nargs="+", help="run, experiment or sweep directories")
    parser.add_argument("--out", help="output directory (default: DIR/plots for the first DIR)")
    parser.add_argument("--data", help="also write what each figure draws (panels, lines, limits) as JSON here")
    args = parser.parse_args()
    runs = load_runs(args.dirs)
    if not runs:
        sys.exit("no run directories (metrics.csv + config.json) under " + " ".join(args.dirs))
    out = args.out or os.path.join(args.dirs[0], "plots")
    make_directory(out)
    extra = varied_keys(runs)
    labels = sorted({tuple([r["beta"]] + [r["config"].get(k, "") for k in extra]) for r in runs})
    # One colour per β (and varied key) in every panel, so that a curve is followed across precisions.
    colors = {label: plt.get_cmap("tab10")(i % 10) for i, label in enumerate(labels)}
    chance = sorted({r["chance"] for r in runs})
    groups_by_precision = group_runs(runs, extra)
    precisions = list(groups_by_precision)
    title = describe(runs, [len(g) for gs in groups_by_precision.values() for g in gs.values()])

    # Curves: rows = (test accuracy, train loss), columns = precisions. Each row shares its y axis across
    # the precisions, so that a panel's height means the same in every column: a 0.05-point fp32 spread
    # stays small beside a collapse to chance. A panel whose curves span a small part of the shared axis
    # gets an inset at its own scale.
    zones = any(np.isfinite(r["zone_finite"]).any() for r in runs)
    n_rows = 3 if zones else 2
    fig, axes = plt.subplots(n_rows, len(precisions), figsize=(5 * len(precisions), 3.75 * n_rows), squeeze=False,
                             sharex=True, sharey="row")
    for col, precision in enumerate(precisions):
        groups = groups_by_precision[precision]
        diverging = [label for label in sorted(groups) if any(m["diverged_at"] is not None for m in groups[label])]
        for label in sorted(groups):
            slot = diverging.index(label) - (len(diverging) - 1) / 2 if label in diverging else 0.0
            for row, metric in enumerate(("test_accuracy", "train_loss")):
                draw_group(axes[row][col], groups[label], metric, colors[label], group_label(label, extra),
                           marker_shift=MARKER_SPREAD * slot)
            if zones:
                # Pooled over the runs: above-threshold probes / finite probes, per epoch.
                members = groups[label]
                n = min(len(m["epoch"]) for m in members)
                epochs = members[0]["epoch"][:n]
                finite = np.nansum(np.stack([m["zone_finite"][:n] for m in members]), axis=0)
                above = np.nansum(np.stack([m["zone_above"][:n] for m in members]), axis=0)
                probed = finite > 0
                volume = np.where(probed, above / np.maximum(finite, 1), np.nan)
                low, high = zip(*(wilson(a, t) for a, t in zip(above, finite)))
                axes[2][col].plot(epochs[probed], volume[probed], color=colors[label], marker="o" if n <= 20 else None,
                                  markersize=4)
                axes[2][col].fill_between(epochs[probed], np.array(low)[probed], np.array(high)[probed],
                                          color=colors[label], alpha=0.2, linewidth=0)
        axes[0][col].set_title(panel_title(precision, groups, extra), fontsize="medium")
        axes[n_rows - 1][col].set_xlabel("epoch")
    for c in chance:
        for col in range(len(precisions)):
            axes[0][col].axhline(c, color="grey", linestyle=":", linewidth=1,
                                 label="chance" if c == chance[0] else None)
    axes[0][0].set_ylabel("test accuracy")
    axes[1][0].set_ylabel("train loss")
    if zones:
        axes[2][0].set_ylabel("zone volume (D > threshold)")
        axes[2][0].set_ylim(-0.02, 1.02)
    losses = [v for col in range(len(precisions)) for v in finite_values(axes[1][col]) if v > 0]
    if losses and max(losses) / min(losses) > 10:  # a log axis only helps across decades
        axes[1][0].set_yscale("log")
    longest = max(len(r["epoch"]) for r in runs)
    if longest <= 20:
        axes[n_rows - 1][0].set_xticks(range(0, longest))  # epochs are numbered from 0, as in the study
    else:
        axes[n_rows - 1][0].xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    low, high = axes[0][0].get_ylim()
    for col, precision in enumerate(precisions):
        values = [v for line in axes[0][col].get_lines()[:-len(chance) or None]
                  for v in np.asarray(line.get_ydata(), dtype=float) if np.isfinite(v)]
        if values and len(axes[0][col].get_lines()) > 1 and (max(values) - min(values)) < 0.15 * (high - low):
            inset = axes[0][col].inset_axes([0.5, 0.12, 0.46, 0.4])
            for line in axes[0][col].get_lines()[:-len(chance) or None]:
                inset.plot(line.get_xdata(), line.get_ydata(), color=line.get_color(), marker=line.get_marker(),
                           markersize=2.5, linewidth=line.get_linewidth(), alpha=line.get_alpha())
            pad = max(1e-4, 0.1 * (max(values) - min(values)))
            inset.set_ylim(min(values) - pad, max(values) + pad)
            inset.tick_params(labelsize=6)
            inset.set_title("same curves, own scale", fontsize=6)
            axes[0][col].indicate_inset_zoom(inset, edgecolor="grey")
    handles, names = [], []
    for ax in axes[0]:
        for h, n in zip(*ax.get_legend_handles_labels()):
            if n not in names:
                handles.append(h)
                names.append(n)
    if any(r["diverged"] for r in runs):
        handles.append(plt.Line2D([], [], marker="X", color="grey", markeredgecolor="black", linestyle="none",
                                  markersize=8))
        names.append("diverged (epoch it happened)")
    axes[0][-1].legend(handles, names, fontsize="small", loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.suptitle(title)
    data = {}
    save(fig, out, "curves", data)

    # Final test accuracy per β, one panel per precision, the y axis shared: the study's box plot when a
    # β has BAND_FROM runs or more, every run as a point (jittered) otherwise; diverged runs as crosses.
    fig, axes = plt.subplots(1, len(precisions), figsize=(5 * len(precisions), 4.5), squeeze=False, sharey=True)
    for col, precision in enumerate(precisions):
        by_beta = defaultdict(list)
        for r in runs:
            if r["precision"] == precision:
                by_beta[r["beta"]].append(r)
        betas = sorted(by_beta)
        ax = axes[0][col]
        for i, b in enumerate(betas, start=1):
            members = by_beta[b]
            finals = [m["test_accuracy"][-1] for m in members]
            if len(members) >= BAND_FROM:
                ax.boxplot([finals], positions=[i], widths=0.5)
            offsets = np.linspace(-0.12, 0.12, len(members)) if len(members) > 1 else [0.0]
            for off, m, y in zip(offsets, members, finals):
                ax.plot([i + off], [y], marker="X" if m["diverged"] else "o", markersize=8 if m["diverged"] else 5,
                        color="tab:red" if m["diverged"] else "tab:blue", markeredgecolor="black",
                        linestyle="none", alpha=0.8)
        for c in chance:
            ax.axhline(c, color="grey", linestyle=":", linewidth=1)
        ax.set_xticks(range(1, len(betas) + 1), [f"{b:g}" for b in betas])
        ax.set_xlabel("β (MaxPool Jacobian)")
        ax.set_title(panel_title(precision, {(b,): by_beta[b] for b in betas}, []), fontsize="medium")
    axes[0][0].set_ylabel("final test accuracy")
    legend = [plt.Line2D([], [], marker="o", color="tab:blue", markeredgecolor="black", linestyle="none"),
              plt.Line2D([], [], marker="X", color="tab:red", markeredgecolor="black", linestyle="none"),
              plt.Line2D([], [], color="grey", linestyle=":")]
    axes[0][-1].legend(legend, ["a run", "a diverged run", "chance"], fontsize="small", loc="center left",
                       bbox_to_anchor=(1.02, 0.5))
    fig.suptitle(title)
    save(fig, out, "boxplot", data)
    if args.data:
        save_figure_data(data, args.data)
    print(f"wrote {out}/curves.{{png,pdf}} and {out}/boxplot.{{png,pdf}} from {len(runs)} runs"
          + (" (curves with the zone volume)" if zones else ""))


if __name__ == "__main__":
    main()
