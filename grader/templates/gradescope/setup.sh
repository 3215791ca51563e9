#!/usr/bin/env bash
# Gradescope runs this once, as root, to build the autograder image (Ubuntu).
# It installs Python 3.11+ and bubblewrap from apt, then the bundled grader into its own
# virtualenv outside /autograder/source, so the sandbox can mount the interpreter without
# exposing the reference solution and hidden tests that sit in source/.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
VENV=/opt/dl-grader
export DEBIAN_FRONTEND=noninteractive

apt-get update -qq
apt-get install -y -qq python3 python3-venv python3-pip bubblewrap

python_ok() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; }
PYTHON=""
for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null && python_ok "$candidate"; then
        PYTHON="$(command -v "$candidate")"
        break
    fi
done
if [ -z "$PYTHON" ]; then
    # Ubuntu 22.04 ships Python 3.10 as python3; 3.11 is a separate package there.
    apt-get install -y -qq python3.11 python3.11-venv
    PYTHON="$(command -v python3.11)"
fi

"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install --quiet --upgrade pip
"$VENV/bin/pip" install --quiet "$HERE/grader-src"
ln -sf "$VENV/bin/grader" /usr/local/bin/grader
# The interpreter must stay reachable for the unprivileged user the fallback sandbox uses.
chmod -R a+rX "$VENV"
"$VENV/bin/grader" list
