"""Each layer of the landlock backend on its own, in a throw-away interpreter.

The hostile tests show the two layers together; here each one is applied alone so a rule
that only one of them enforces is seen to hold (Landlock says EACCES or EPERM for a scope,
the seccomp filter EPERM). Where this kernel's Landlock ABI lacks a rule, that case skips
with the reason.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from grader.sandbox import landlock
from grader.sandbox.parent import SYSTEM_DIRS, _runtime_paths, landlock_problem

pytestmark = pytest.mark.sandbox

PROBLEM = landlock_problem()
ABI = landlock.abi_version()
MODULE = Path(landlock.__file__).resolve()

SCRIPT = r"""
import errno, json, os, socket, sys
sys.path.insert(0, sys.argv[1])
import landlock
policy, layers, targets = json.loads(sys.argv[2]), json.loads(sys.argv[3]), json.loads(sys.argv[4])
landlock.restrict(policy, layers)
out = {}
def attempt(name, action):
    try:
        action()
        out[name] = "ok"
    except OSError as exc:
        out[name] = errno.errorcode.get(exc.errno, str(exc.errno))
def write(path):
    with open(path, "w") as handle:
        handle.write("x")
attempt("read-secret", lambda: open(targets["secret"]).read())
attempt("write-inside", lambda: write(targets["inside"]))
attempt("write-outside", lambda: write(targets["outside"]))
attempt("tcp-connect", lambda: socket.create_connection(("127.0.0.1", targets["port"]), 2).close())
attempt("signal-parent", lambda: os.kill(os.getppid(), 0))
def abstract():
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as unix:
        unix.connect(targets["abstract"])
attempt("abstract-unix", abstract)
attempt("inet-socket", lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).close())
print(json.dumps(out))
"""


@pytest.fixture
def targets(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A secret file, a folder the child may write, a TCP and an abstract-socket listener."""
    secret = tmp_path / "secret.txt"
    secret.write_text("the reference solution")
    work = tmp_path / "work"
    work.mkdir()
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    name = f"\0grader-landlock-test-{os.getpid()}"
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    abstract.bind(name)
    abstract.listen(4)
    yield {
        "secret": str(secret),
        "work": str(work),
        "inside": str(work / "made.txt"),
        "outside": str(tmp_path / "planted.txt"),
        "port": server.getsockname()[1],
        "abstract": name,
    }
    server.close()
    abstract.close()


def confined(targets: dict[str, Any], layers: list[str], abi: int = ABI) -> dict[str, str]:
    policy = {"read": [*SYSTEM_DIRS, *_runtime_paths()], "write": [targets["work"]], "abi": abi}
    done = subprocess.run(
        [
            *(sys.executable, "-I", "-c", SCRIPT, str(MODULE.parent)),
            *(json.dumps(policy), json.dumps(layers), json.dumps(targets)),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd="/",
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, str] = json.loads(done.stdout)
    return result


@pytest.mark.skipif(PROBLEM is not None, reason=f"landlock backend not testable here: {PROBLEM}")
def test_landlock_layer_files(targets: dict[str, Any]) -> None:
    got = confined(targets, ["landlock"])
    assert got["read-secret"] == "EACCES"
    assert got["write-inside"] == "ok"
    assert got["write-outside"] == "EACCES"
    assert not Path(targets["outside"]).exists()
    assert got["inet-socket"] == "ok"  # not Landlock's job: the seccomp filter's


@pytest.mark.skipif(PROBLEM is not None, reason=f"landlock backend not testable here: {PROBLEM}")
def test_landlock_layer_cuts_tcp(targets: dict[str, Any]) -> None:
    if ABI < 4:
        pytest.skip(f"this kernel's Landlock ABI is {ABI}; TCP rules need ABI 4")
    assert confined(targets, ["landlock"])["tcp-connect"] == "EACCES"


@pytest.mark.skipif(PROBLEM is not None, reason=f"landlock backend not testable here: {PROBLEM}")
def test_landlock_layer_scopes_signals_and_abstract_sockets(targets: dict[str, Any]) -> None:
    if ABI < 6:
        pytest.skip(f"this kernel's Landlock ABI is {ABI}; scoping needs ABI 6")
    got = confined(targets, ["landlock"])
    assert got["signal-parent"] == "EPERM"
    assert got["abstract-unix"] == "EPERM"


@pytest.mark.skipif(PROBLEM is not None, reason=f"landlock backend not testable here: {PROBLEM}")
def test_seccomp_layer_alone(targets: dict[str, Any]) -> None:
    got = confined(targets, ["seccomp"])
    assert got["inet-socket"] == "EPERM"
    assert got["tcp-connect"] == "EPERM"
    assert got["abstract-unix"] == "EPERM"  # no connect() at all
    assert got["signal-parent"] == "ok"  # not the filter's job: Landlock's scope
    assert got["read-secret"] == "ok"  # nor files


def test_unconfined_the_same_script_gets_through(targets: dict[str, Any]) -> None:
    """The script can tell: with no layer, every attempt succeeds."""
    got = confined(targets, [])
    assert set(got.values()) == {"ok"}, got


@pytest.mark.skipif(PROBLEM is not None, reason=f"landlock backend not testable here: {PROBLEM}")
def test_an_older_abi_gets_what_it_can_enforce(targets: dict[str, Any]) -> None:
    """Told its kernel has ABI 3, the child handles no TCP and scopes nothing: files still
    hold, and the seccomp filter alone cuts the network (as `missing_rules` warns)."""
    landlock_only = confined(targets, ["landlock"], abi=3)
    both = confined(targets, ["landlock", "seccomp"], abi=3)
    assert landlock_only["read-secret"] == "EACCES"
    assert landlock_only["write-outside"] == "EACCES"
    assert landlock_only["tcp-connect"] == "ok"
    assert landlock_only["signal-parent"] == "ok"
    assert both["tcp-connect"] == "EPERM"


def test_the_document_warns_about_each_rule_an_older_abi_cannot_apply(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from grader.sandbox import parent

    monkeypatch.setattr(parent, "landlock_problem", lambda: None)
    monkeypatch.setattr(landlock, "abi_version", lambda: 3)
    info = parent.resolve_backend("landlock")
    assert info.backend == "landlock"
    assert info.warnings == tuple(landlock.missing_rules(3))
    assert any("seccomp filter alone" in w for w in info.warnings)
    monkeypatch.setattr(landlock, "abi_version", lambda: 7)
    assert parent.resolve_backend("landlock").warnings == ()
