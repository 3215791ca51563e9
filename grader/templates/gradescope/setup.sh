#!/usr/bin/env bash
# Gradescope runs this once, as root and with network, to build the autograder image
# (Ubuntu 22.04/24.04 there; also tested on a minimal Debian). It installs Python 3.11+ and
# bubblewrap from apt, then the bundled grader and its dependencies into their own
# virtualenv outside /autograder/source, so the sandbox can mount the interpreter without
# exposing the reference solution and hidden tests that sit in source/. Grading runs later
# without network: everything it needs is installed here.
# Grading prefers bwrap; where the container refuses it user namespaces (Docker's default
# seccomp profile usually does) it falls back to Landlock + seccomp, which need nothing
# installed. `grader doctor` at the end prints, in the build log, which one submissions get.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
VENV=/opt/dl-grader
ASSIGNMENT='@ASSIGNMENT@'
export DEBIAN_FRONTEND=noninteractive

fail() { echo "setup.sh: $*" >&2; exit 1; }

apt-get update -qq
# The same package names on Debian and Ubuntu. No recommends: python3-pip's would pull a
# compiler; the venv's own pip (python3-venv) is all the install needs. ca-certificates:
# pip's downloads are https, and a minimal image may not have the bundle.
apt-get install -y -qq --no-install-recommends python3 python3-venv ca-certificates
# Without bubblewrap grading still works, in a weaker sandbox (the log's last line says which).
apt-get install -y -qq --no-install-recommends bubblewrap \
    || echo "setup.sh: bubblewrap cannot be installed here; grading uses a weaker sandbox" >&2

python_ok() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; }
find_python() {
    for candidate in python3.13 python3.12 python3.11 python3; do
        if command -v "$candidate" >/dev/null && python_ok "$candidate"; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}
PYTHON="$(find_python || true)"
if [ -z "$PYTHON" ]; then
    # Ubuntu 22.04 ships Python 3.10 as python3; 3.11 is a separate package there.
    apt-get install -y -qq --no-install-recommends python3.11 python3.11-venv \
        || fail "no Python 3.11 or newer can be installed from apt on this image ($(. /etc/os-release && echo "$PRETTY_NAME")); choose Ubuntu 22.04 or newer as the autograder's base image"
    PYTHON="$(find_python)" || fail "python3.11 was installed but does not run"
fi
echo "setup.sh: using $PYTHON ($("$PYTHON" --version 2>&1))"

"$PYTHON" -m venv "$VENV" \
    || fail "$PYTHON cannot create a virtualenv (install its -venv package, e.g. python3-venv)"
"$VENV/bin/pip" install --quiet --upgrade pip
"$VENV/bin/pip" install --quiet "$HERE/grader-src"
ln -sf "$VENV/bin/grader" /usr/local/bin/grader
# The interpreter must stay reachable for the unprivileged user the fallback sandbox uses.
chmod -R a+rX "$VENV"
# Gradescope runs run_autograder as root, where bwrap cannot cap the number of processes
# (RLIMIT_NPROC does not apply to root) and no cgroup is writable: run_autograder grades as
# this user instead whenever bwrap works for it.
id -u grader-run >/dev/null 2>&1 \
    || useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin grader-run

# Prove the install: the assignment loads from the shipped course folder, and say which
# sandbox grading will get here (Gradescope shows this log to the instructor).
GRADER_COURSE_DIR="$HERE/course" "$VENV/bin/grader" list | grep -q "^$ASSIGNMENT[[:space:]]" \
    || fail "the grader is installed but does not list the assignment $ASSIGNMENT"
echo "setup.sh: grader installed; assignment $ASSIGNMENT loads"
"$VENV/bin/python" - <<'PY' || true
from grader.sandbox.parent import bwrap_problem, landlock_problem

problem = bwrap_problem()
if problem is None:
    print("setup.sh: sandbox: bwrap works")
elif landlock_problem() is None:
    print(f"setup.sh: sandbox: bwrap cannot start here ({problem}); grading will use landlock (Landlock + seccomp)")
else:
    print(f"setup.sh: sandbox: bwrap cannot start here ({problem}), nor Landlock ({landlock_problem()}); grading will use the fallback and say so in each result")
PY
"$VENV/bin/grader" doctor || true
