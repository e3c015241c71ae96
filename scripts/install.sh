#!/usr/bin/env bash
# Builds the command-line program and installs it into a user prefix, so that
# `tiebreak` is on PATH by its bare name (torchrun --no-python tiebreak, srun
# tiebreak, sweeps' Slurm scripts). No root needed.
#
# Usage: scripts/install.sh [PREFIX]     PREFIX defaults to $TIEBREAK_PREFIX, else ~/.local
#   installs PREFIX/bin/tiebreak and PREFIX/lib/libtiebreak{,_ops}.so; LibTorch stays
#   in the project's Python environment, where the program finds it (scripts/setup.sh).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
prefix="${1:-${TIEBREAK_PREFIX:-$HOME/.local}}"
"$here/build.sh" tiebreak_app
source "$here/env.sh"
cmake --install "$TIEBREAK_BUILD_DIR" --prefix "$prefix" --component cli >/dev/null
"$prefix/bin/tiebreak" --version >/dev/null
echo "[install] $prefix/bin/tiebreak"
case ":$PATH:" in
  *":$prefix/bin:"*) ;;
  *) echo "[install] $prefix/bin is not on PATH: add it, e.g. echo 'export PATH=\"$prefix/bin:\$PATH\"' >> ~/.bashrc" ;;
esac
