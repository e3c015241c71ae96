"""Figures written the way tiebreak writes every file: atomically, and an I/O error is one line.

A figure goes to a temporary file beside its destination and is renamed over it, so a reader (or a
disk that fills half-way) never leaves a truncated PNG/PDF behind; a failure removes the temporary and
ends the script with "SCRIPT: PATH: cannot write: REASON" and exit status 1.
"""
import os
import sys
import tempfile


def _fail(path, error):
    script = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "plot"
    sys.exit(f"{script}: {path}: cannot write: {error.strerror or error}")


def make_directory(path):
    """os.makedirs(path, exist_ok=True); exits with one line naming `path` when it cannot be created."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        _fail(path, e)


def _write_atomically(path, write, mode):
    """Calls write(f) on a temporary file beside `path` opened with `mode`, then renames it over `path`;
    exits with one line naming `path` on an I/O error, the temporary removed."""
    directory = os.path.dirname(os.path.abspath(path))
    name = os.path.basename(path)
    fd, temporary = -1, None
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".tmp.{name}.", dir=directory)
        with os.fdopen(fd, mode) as f:
            fd = -1
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
        temporary = None
    except OSError as e:
        _fail(path, e)
    finally:
        if fd >= 0:
            os.close(fd)
        if temporary is not None and os.path.exists(temporary):
            os.unlink(temporary)


def save_figure(fig, path, **savefig_options):
    """fig.savefig(path, **savefig_options), atomically; exits with one line naming `path` on an I/O error."""
    # The format follows the destination's extension, not the temporary's.
    _write_atomically(path, lambda f: fig.savefig(f, format=os.path.splitext(path)[1][1:], **savefig_options), "wb")

def _numbers(values):
    """JSON numbers (NaN as None) of a line's data."""
    out = []
    for v in values:
        v = float(v)
        out.append(None if v != v else v)
    return out


def figure_data(fig):
    """What `fig` draws, read back from its axes: per panel its title, axis labels and limits, every line
    (label, x, y: markers and reference lines included) and every bar group (label, x centres, heights). The
    `--data FILE` of the plotting scripts writes it, so that a test can check a figure shows the numbers it
    should without reading pixels."""
    panels = []
    for ax in fig.axes:
        panel = {"title": ax.get_title(), "xlabel": ax.get_xlabel(), "ylabel": ax.get_ylabel(),
                 "ylim": list(ax.get_ylim()), "yscale": ax.get_yscale(), "lines": [], "bars": []}
        for line in ax.get_lines():
            panel["lines"].append({"label": line.get_label(), "x": _numbers(line.get_xdata()),
                                   "y": _numbers(line.get_ydata()), "marker": str(line.get_marker())})
        for container in ax.containers:
            patches = getattr(container, "patches", None)
            if patches:
                panel["bars"].append({"label": container.get_label(),
                                      "x": [p.get_x() + p.get_width() / 2 for p in patches],
                                      "height": [p.get_height() for p in patches]})
        panels.append(panel)
    return panels


def save_figure_data(data, path):
    """Writes {figure name: figure_data(fig)} as JSON to `path`, atomically; one line naming `path` on an I/O
    error."""
    import json

    _write_atomically(path, lambda f: json.dump(data, f, indent=1), "w")
