"""The exported Gradescope package on a clean system: a minimal Debian, as Gradescope would use it.

1. A minimal Debian root (debootstrap --variant=minbase, the host's release and apt mirror) is
   built once and cached under ``CACHE`` (override with ``GRADER_TEST_ROOTFS_CACHE``); each run
   works on a fresh copy, so nothing one run installs is seen by the next.
2. ``grader export gradescope`` is unzipped into ``/autograder/source`` and ``setup.sh`` runs
   there as root *with* network, as Gradescope builds its image.
3. ``run_autograder`` (copied to ``/autograder/run_autograder`` as Gradescope does) grades a
   correct, a buggy and a broken notebook *without* network, each in a fresh container.

Two container runtimes: a runc-like one (unshare + pivot_root, its own mount/pid/ipc/uts and,
while grading, network namespace; root with all capabilities) in which bwrap can start, and a
Docker-like one (bubblewrap as the runtime, which masks parts of /proc as Docker does) in which
it cannot, so the grader must pick the next backend. The results are
compared with the same notebooks graded on the host: same submission, same score.

Slow (a few minutes: apt and pip downloads): marked ``clean_system``, left out of ``make
test`` and run by ``make test-clean-system`` (which ``.ci/run`` calls). Needs root,
debootstrap and bwrap; skips with the reason where one is missing, except under CI
(``CI`` set), where ``.ci/run`` installs them and a skip would hide a broken package.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from grader import api
from grader.cli import main
from grader.sandbox.parent import bwrap_problem, landlock_problem

pytestmark = [pytest.mark.clean_system, pytest.mark.slow]

ASSIGNMENT = "leaky_relu_backward"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "submissions"
CACHE = Path(os.environ.get("GRADER_TEST_ROOTFS_CACHE", "/var/cache/dl-grader-tests"))
# What Gradescope's container has on PATH; nothing of the host's leaks in.
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SETUP_TIMEOUT = 1200
GRADE_TIMEOUT = 300
NOTEBOOKS = {
    "correct": "correct_where.ipynb",
    "buggy": "chain_rule_missing.ipynb",
    "broken": "syntax_error_cell3.ipynb",
}


def unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"the clean-system test cannot run in CI: {reason}")
    pytest.skip(reason)


def host_release() -> str:
    """The host's Debian codename: the minimal root is the same release."""
    try:
        fields = dict(
            line.split("=", 1)
            for line in Path("/etc/os-release").read_text().splitlines()
            if "=" in line
        )
    except OSError:
        fields = {}
    if fields.get("ID") != "debian" or not fields.get("VERSION_CODENAME"):
        unavailable("the host is not Debian, so debootstrap has no release/mirror to copy")
    return fields["VERSION_CODENAME"].strip('"')


def host_mirror() -> str:
    """The host's own Debian mirror (apt's sources), never a hard-coded one."""
    texts = []
    for path in [Path("/etc/apt/sources.list"), *Path("/etc/apt/sources.list.d").glob("*")]:
        if path.suffix in ("", ".list", ".sources") and path.is_file():
            texts.append(path.read_text(errors="replace"))
    text = "\n".join(texts)
    for pattern in (r"^URIs:\s*(\S+/debian)/?\s*$", r"^deb\s+(?:\[[^]]*\]\s+)?(\S+/debian)/?\s"):
        found = re.search(pattern, text, re.MULTILINE)
        if found:
            return found.group(1)
    unavailable("no Debian mirror in /etc/apt/sources.list{,.d}")
    raise AssertionError  # unreachable: unavailable() skips or fails


def base_root() -> Path:
    """The cached minimal Debian root, built with debootstrap the first time."""
    if os.geteuid() != 0:
        unavailable("debootstrap and the container need root")
    if shutil.which("debootstrap") is None:
        unavailable("debootstrap is not installed (apt-get install debootstrap)")
    problem = bwrap_problem()
    if shutil.which("bwrap") is None or problem:
        unavailable(f"bwrap, the container runtime of this test, cannot run: {problem}")
    release = host_release()
    root = CACHE / f"debian-{release}-minbase"
    if (root / "usr" / "bin" / "apt-get").exists():
        return root
    partial = CACHE / f"debian-{release}-minbase.partial"
    shutil.rmtree(partial, ignore_errors=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["debootstrap", "--variant=minbase", release, str(partial), host_mirror()],
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    if done.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        unavailable(f"debootstrap failed: {done.stderr.strip()[-500:]}")
    os.replace(partial, root)
    return root


def container(
    root: Path,
    argv: Sequence[str],
    *,
    network: bool,
    timeout: float,
    binds: Sequence[tuple[Path, str]] = (),
    env: dict[str, str] | None = None,
    docker_like: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` as root in ``root``, as a container runtime would; network only if asked.

    The default is what runc does (new mount/pid/ipc/uts namespaces and ``pivot_root``, not
    ``chroot``, under which the kernel refuses user namespaces) with an unmasked ``/proc``:
    a container in which bwrap can start. ``docker_like`` masks parts of ``/proc`` as Docker
    does by default (here by running the container under bwrap), which stops a nested
    sandbox from mounting its own ``/proc``: the grader must then fall back, and say so.
    """
    variables = {"PATH": PATH, "HOME": "/root", "LANG": "C.UTF-8", **(env or {})}
    if docker_like:
        command = ["bwrap", "--bind", str(root), "/", "--dev", "/dev", "--proc", "/proc"]
        command += ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent"]
        command += ["--uid", "0", "--gid", "0", "--cap-add", "ALL", "--chdir", "/autograder"]
        if not network:
            command.append("--unshare-net")
        for source, target in binds:
            command += ["--ro-bind", str(source), target]
        command.append("--clearenv")
        for name, value in variables.items():
            command += ["--setenv", name, value]
        command += ["--", *argv]
    else:
        r = shlex.quote(str(root))
        steps = [
            f"mount --bind {r} {r}",
            f"mount -t proc proc {r}/proc",
            f"mount --rbind /dev {r}/dev",
            f"mount -t tmpfs tmpfs {r}/tmp",
            *(f"mount --bind {shlex.quote(str(s))} {r}{shlex.quote(t)}" for s, t in binds),
            f"cd {r}",
            "mkdir -p .oldroot",
            "pivot_root . .oldroot",
            "cd /",
            "umount -l /.oldroot",
            "rmdir /.oldroot",
            "cd /autograder",
            "exec /usr/bin/env -i "
            + " ".join(shlex.quote(f"{k}={v}") for k, v in variables.items())
            + " "
            + shlex.join(argv),
        ]
        command = ["unshare", "--mount", "--pid", "--fork", "--uts", "--ipc"]
        command += [] if network else ["--net"]
        command += ["--propagation", "private", "bash", "-c", " && ".join(steps)]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)


def network_settings() -> tuple[list[tuple[Path, str]], dict[str, str]]:
    """What the image build needs to reach the package registries as this host does.

    The host's DNS and pip settings (an index, a CA bundle) are handed to setup.sh's run;
    Gradescope's build machine has its own. Nothing of this is left for grading.
    """
    binds: list[tuple[Path, str]] = []
    env: dict[str, str] = {}
    if Path("/etc/resolv.conf").exists():
        binds.append((Path("/etc/resolv.conf").resolve(), "/run/host/resolv.conf"))
    for name in ("PIP_INDEX_URL", "PIP_DEFAULT_TIMEOUT", "HTTP_PROXY", "HTTPS_PROXY"):
        if os.environ.get(name):
            env[name] = os.environ[name]
    bundle = Path(os.environ.get("PIP_CERT", "/etc/ssl/certs/ca-certificates.crt"))
    if bundle.is_file():
        binds.append((bundle, "/run/host/ca-certificates.crt"))
        env["PIP_CERT"] = "/run/host/ca-certificates.crt"
    return binds, env


@pytest.fixture(scope="module")
def image() -> Iterator[tuple[Path, subprocess.CompletedProcess[str]]]:
    """A fresh copy of the base root with the autograder installed by its own setup.sh."""
    base = base_root()
    # Next to the cache, not in pytest's shared basetemp: other pytest runs on the machine
    # prune old basetemps, and this one lives for minutes.
    work = Path(tempfile.mkdtemp(prefix="work-", dir=CACHE))
    try:
        yield install(base, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def install(base: Path, work: Path) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """Copy the base root into ``work``, unzip the export into it, run its setup.sh."""
    root = work / "root"
    subprocess.run(["cp", "-a", "--reflink=auto", str(base), str(root)], check=True)
    out = work / "autograder.zip"
    assert main(["export", "gradescope", "--assignment", ASSIGNMENT, "--out", str(out)]) == 0
    source = root / "autograder" / "source"
    source.mkdir(parents=True)
    with zipfile.ZipFile(out) as archive:
        for info in archive.infolist():
            archive.extract(info, source)
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                (source / info.filename).chmod(mode)  # unzip restores modes; zipfile does not
    binds, env = network_settings()
    resolv = root / "etc" / "resolv.conf"
    resolv.unlink(missing_ok=True)
    if any(target == "/run/host/resolv.conf" for _, target in binds):
        resolv.symlink_to("/run/host/resolv.conf")
    (root / "run" / "host").mkdir(parents=True, exist_ok=True)
    for _, target in binds:  # a bind mount needs its target to exist
        (root / target.lstrip("/")).touch()
    setup = container(
        root,
        ["bash", "/autograder/source/setup.sh"],
        network=True,
        timeout=SETUP_TIMEOUT,
        binds=binds,
        env={"DEBIAN_FRONTEND": "noninteractive", **env},
    )
    log = f"{setup.stdout[-3000:]}\n{setup.stderr[-3000:]}"
    assert setup.returncode == 0, f"setup.sh failed:\n{log}"
    resolv.unlink(missing_ok=True)  # grading happens offline: no DNS either
    shutil.copy2(source / "run_autograder", root / "autograder" / "run_autograder")
    return root, setup


def grade_in_image(root: Path, notebook: str, *, docker_like: bool) -> tuple[dict[str, Any], str]:
    """Place one submission, run /autograder/run_autograder offline; (results.json, stderr)."""
    submission = root / "autograder" / "submission"
    results = root / "autograder" / "results"
    shutil.rmtree(submission, ignore_errors=True)
    shutil.rmtree(results, ignore_errors=True)
    submission.mkdir()
    shutil.copyfile(FIXTURES / notebook, submission / notebook)
    done = container(
        root,
        ["/autograder/run_autograder"],
        network=False,
        timeout=GRADE_TIMEOUT,
        docker_like=docker_like,
    )
    assert done.returncode == 0, done.stderr
    document = json.loads((results / "results.json").read_text())
    return document, done.stderr


def graded_part(document: dict[str, Any]) -> dict[str, Any]:
    """What the submission decides: scores, tests, feedback (not timing or the host's sandbox)."""
    extra = document["extra_data"]
    return {
        "score": document["score"],
        "output": document["output"],
        "tests": document["tests"],
        "misconceptions": extra["misconceptions"],
    }


def test_setup_installs_python_bwrap_and_the_grader(
    image: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    root, setup = image
    assert (root / "opt" / "dl-grader" / "bin" / "grader").exists()
    assert os.readlink(root / "usr" / "local" / "bin" / "grader") == "/opt/dl-grader/bin/grader"
    assert (root / "usr" / "bin" / "bwrap").exists()
    assert f"assignment {ASSIGNMENT} loads" in setup.stdout
    assert "sandbox: bwrap works" in setup.stdout
    # No compiler came with the install (apt's recommends are off): a small image.
    assert not (root / "usr" / "bin" / "gcc").exists()


@pytest.mark.parametrize("kind", list(NOTEBOOKS))
def test_run_autograder_offline_matches_the_host(
    kind: str,
    image: tuple[Path, subprocess.CompletedProcess[str]],
    validate_results: Callable[[Any], dict[str, Any]],
    tmp_path: Path,
) -> None:
    """Where bwrap can start, it is used, with no warning, and scores equal the host's."""
    root, _ = image
    notebook = NOTEBOOKS[kind]
    document, stderr = grade_in_image(root, notebook, docker_like=False)
    validate_results(document)
    extra = document["extra_data"]
    assert "last_ditch" not in extra, stderr
    assert extra["sandbox"] == "bwrap", (extra, stderr)
    assert extra["warnings"] == [], stderr
    local = tmp_path / notebook
    shutil.copyfile(FIXTURES / notebook, local)
    host = api.grade(local, assignment=ASSIGNMENT, sandbox="bwrap").to_gradescope()
    assert graded_part(document) == graded_part(host)
    if kind == "correct":
        assert document["score"] == document["max_score"] > 0
    elif kind == "buggy":
        assert 0 < document["score"] < document["max_score"]
        assert "missing-chain-rule" in extra["misconceptions"]
    else:
        assert document["score"] == 0
        assert "SyntaxError" in document["output"]
        assert "cell 3" in document["output"]


@pytest.mark.parametrize("kind", list(NOTEBOOKS))
def test_run_autograder_in_a_docker_like_container_falls_back_and_says_so(
    kind: str,
    image: tuple[Path, subprocess.CompletedProcess[str]],
    validate_results: Callable[[Any], dict[str, Any]],
) -> None:
    """With /proc masked as Docker masks it, bwrap cannot start: the next backend, same scores.

    Where the kernel has Landlock (as the host's does), that is ``landlock``, which needs no
    user namespace and leaves no warning; else the fallback, which must say so.
    """
    root, _ = image
    document, stderr = grade_in_image(root, NOTEBOOKS[kind], docker_like=True)
    validate_results(document)
    extra = document["extra_data"]
    assert "last_ditch" not in extra, stderr
    if landlock_problem() is None:
        assert extra["sandbox"] == "landlock", (extra, stderr)
        assert extra["warnings"] == [], stderr
    else:
        assert extra["sandbox"] == "none", (extra, stderr)
        assert any("bwrap" in w for w in extra["warnings"]), extra["warnings"]
    reference, _ = grade_in_image(root, NOTEBOOKS[kind], docker_like=False)
    assert document["score"] == reference["score"]
    assert [t["score"] for t in document["tests"]] == [t["score"] for t in reference["tests"]]
