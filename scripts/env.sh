# Sourced by the scripts: the one place where versions and locations are pinned.
TORCH_VERSION="2.11.0"
TIEBREAK_HOME="${TIEBREAK_HOME:-$HOME/.cache/tiebreak}"
TIEBREAK_VENV="${TIEBREAK_VENV:-$TIEBREAK_HOME/venv}"
TIEBREAK_BUILD_DIR="${TIEBREAK_BUILD_DIR:-$TIEBREAK_HOME/build}"
export CCACHE_DIR="${CCACHE_DIR:-$TIEBREAK_HOME/ccache}"
export CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-5G}"
tiebreak_python() {
  if [ -f "$TIEBREAK_HOME/python" ]; then cat "$TIEBREAK_HOME/python"; else echo "$TIEBREAK_VENV/bin/python"; fi
}
