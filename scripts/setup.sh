#!/usr/bin/env bash
# Installs whatever tiebreak needs and is missing; idempotent: a second run on a
# set-up machine changes nothing and finishes in seconds.
#
#   TIEBREAK_HOME   where the virtual environment and build cache live
#                   (default: ~/.cache/tiebreak, outside the source tree)
#   TIEBREAK_PYTHON a Python that already has torch==$TORCH_VERSION (GPU machines);
#                   if set and usable, no virtual environment is created.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/env.sh
source "$here/env.sh"

say() { printf '[setup] %s\n' "$*"; }

# --- Debian packages -------------------------------------------------------
apt_packages=(
  build-essential cmake ninja-build ccache git pkg-config python3-venv
  libcli11-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libgtest-dev libgmock-dev libbenchmark-dev
  libturbojpeg0-dev libpng-dev libzip-dev libmatio-dev zlib1g-dev libssl-dev clang-format curl ca-certificates
  libgloo-dev libboost-dev util-linux
  dataset-fashion-mnist
)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  say "installing Debian packages: ${missing[*]}"
  $sudo_cmd apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  say "Debian packages: all ${#apt_packages[@]} present"
fi

# --- Python with the pinned torch (LibTorch) ---------------------------------
has_torch() { "$1" -c "import torch,sys; sys.exit(0 if torch.__version__.split('+')[0]=='$TORCH_VERSION' else 1)" 2>/dev/null; }
has_mpl() { "$1" -c "import matplotlib" 2>/dev/null; }

if [ -n "${TIEBREAK_PYTHON:-}" ] && has_torch "$TIEBREAK_PYTHON"; then
  py="$TIEBREAK_PYTHON"
  say "using $py (torch $TORCH_VERSION already installed)"
else
  if [ ! -x "$TIEBREAK_VENV/bin/python" ]; then
    say "creating virtual environment $TIEBREAK_VENV"
    # Inherit a system torch when it already has the pinned version (GPU machines).
    python3 -m venv --system-site-packages "$TIEBREAK_VENV"
  fi
  py="$TIEBREAK_VENV/bin/python"
  if has_torch "$py"; then
    say "torch $TORCH_VERSION present in $TIEBREAK_VENV"
  else
    say "installing torch==$TORCH_VERSION into $TIEBREAK_VENV (LibTorch comes with it)"
    "$py" -m pip install -q --upgrade pip
    "$py" -m pip install -q "torch==$TORCH_VERSION"
  fi
fi
if has_mpl "$py"; then
  say "matplotlib present"
else
  say "installing matplotlib"
  "$py" -m pip install -q matplotlib
fi
# tensorboard: its event-file writer and reader (scripts/tensorboard_export.py, `tensorboard --logdir runs`).
for module in pytest scikit_build_core tensorboard; do
  if "$py" -c "import $module" 2>/dev/null; then
    say "$module present"
  else
    say "installing ${module//_/-}"
    "$py" -m pip install -q "${module//_/-}"
  fi
done
# The Python package (pyproject.toml): the operators for `import tiebreak`. It
# builds libtiebreak_ops against this environment's torch (no second torch in
# a build environment); reinstall after changing src/ops with the same command.
if "$py" -m pip show -q tiebreak >/dev/null 2>&1; then
  say "python package tiebreak present"
else
  say "installing the python package tiebreak (builds the operators, a few minutes)"
  "$py" -m pip install -q --no-build-isolation "$TIEBREAK_ROOT"
fi
# PIL: the reference the image decoding is tested against (tests/python/test_image_decode.py).
if "$py" -c "import PIL" 2>/dev/null; then
  say "pillow present"
else
  say "installing pillow"
  "$py" -m pip install -q pillow
fi
mkdir -p "$TIEBREAK_HOME"
printf '%s\n' "$py" > "$TIEBREAK_HOME/python"
say "python: $py ($("$py" -c 'import torch; print("torch", torch.__version__)'))"
say "done"
