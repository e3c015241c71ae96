# Sourced by the scripts: the one place where versions and locations are pinned.
TORCH_VERSION="2.11.0"
TIEBREAK_HOME="${TIEBREAK_HOME:-$HOME/.cache/tiebreak}"
TIEBREAK_VENV="${TIEBREAK_VENV:-$TIEBREAK_HOME/venv}"
TIEBREAK_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
# The build tree lives inside the checkout (ignored by git): CMake refuses a
# cache made from another source directory, and with the tree at the same place
# relative to CCACHE_BASEDIR every checkout of a commit compiles the same
# command lines, so a second clone builds from the compiler cache.
TIEBREAK_BUILD_DIR="${TIEBREAK_BUILD_DIR:-$TIEBREAK_ROOT/build}"
export CCACHE_DIR="${CCACHE_DIR:-$TIEBREAK_HOME/ccache}"
export CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-5G}"
# Checkouts at different paths share cache hits: paths under the root are
# hashed relative to it; the PCH and __DATE__-free sources allow the sloppiness.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$TIEBREAK_ROOT}"
export CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-1}"
export CCACHE_SLOPPINESS="${CCACHE_SLOPPINESS:-pch_defines,time_macros,include_file_mtime,include_file_ctime}"
tiebreak_python() {
  if [ -f "$TIEBREAK_HOME/python" ]; then cat "$TIEBREAK_HOME/python"; else echo "$TIEBREAK_VENV/bin/python"; fi
}
