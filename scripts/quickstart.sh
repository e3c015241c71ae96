#!/usr/bin/env bash
# The main job: sets up what is missing, builds, and runs the quickstart.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
"$here/setup.sh"
"$here/build.sh"
source "$here/env.sh"
"$TIEBREAK_BUILD_DIR/bin/tiebreak" --version
"$TIEBREAK_BUILD_DIR/bin/tiebreak" demo zero
