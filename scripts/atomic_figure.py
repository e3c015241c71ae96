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


def save_figure(fig, path, **savefig_options):
    """fig.savefig(path, **savefig_options), atomically; exits with one line naming `path` on an I/O error."""
    directory = os.path.dirname(os.path.abspath(path))
    name = os.path.basename(path)
    fd, temporary = -1, None
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".tmp.{name}.", dir=directory)
        with os.fdopen(fd, "wb") as f:
            fd = -1
            # The format follows the destination's extension, not the temporary's.
            fig.savefig(f, format=os.path.splitext(name)[1][1:], **savefig_options)
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
