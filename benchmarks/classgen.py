"""A synthetic class for `make bench`: mostly correct in several styles, the classic bugs, a
few broken files and a few that hang. Deterministic for a given size and seed.

Every hang is bounded (it stops by itself after at most two minutes), so a class is safe to
grade even without a sandbox.
"""

from __future__ import annotations

import json
import random
import textwrap
from pathlib import Path

CORRECT = {
    "where": "    return np.where(cache > 0, dA, 0.01 * dA)\n",
    "mask_copy": "    dZ = np.array(dA, copy=True)\n    dZ[cache <= 0] *= 0.01\n    return dZ\n",
    "slope_where": "    return dA * np.where(cache > 0, 1.0, 0.01).astype(dA.dtype)\n",
    "slope_array": (
        "    slope = np.ones_like(dA)\n    slope[cache <= 0] = 0.01\n    return dA * slope\n"
    ),
    "blend": (
        "    mask = (cache > 0).astype(dA.dtype)\n"
        "    return dA * (mask + np.asarray(0.01, dA.dtype) * (1 - mask))\n"
    ),
    "loop": (
        "    dZ = np.empty_like(dA)\n"
        "    for i in np.ndindex(dA.shape):\n"
        "        dZ[i] = dA[i] if cache[i] > 0 else 0.01 * dA[i]\n"
        "    return dZ\n"
    ),
}
BUGS = {
    "chain_rule_missing": "    return np.where(cache > 0, dA, 0.01)\n",
    "relu_slope": "    return np.where(cache > 0, dA, 0.0)\n",
    "wrong_at_zero": "    return np.where(cache >= 0, dA, 0.01 * dA)\n",
    "mutates_dA": "    dA[cache <= 0] *= 0.01\n    return dA\n",
    "returns_forward": "    return np.where(cache > 0, cache, 0.01 * cache)\n",
    "local_derivative": "    return np.where(cache > 0, 1.0, 0.01)\n",
    "flattened": "    return np.where(cache > 0, dA, 0.01 * dA).flatten()\n",
}
BUSY = (
    "    import time\n"
    "    end = time.monotonic() + {seconds}\n"
    "    while time.monotonic() < end:\n"
    "        pass\n"
)
SLEEP = "    import time\n    time.sleep({seconds})\n"
HANG_BODIES = {"spin": BUSY, "sleep": SLEEP}  # a hang burns a core, or only waits


def _function(body: str, name: str = "leaky_relu_backward") -> str:
    return f"def {name}(dA, cache):\n    Z = cache\n{body}"


def _notebook(*cells: str) -> str:
    return json.dumps(
        {
            "cells": [
                {"cell_type": "markdown", "metadata": {}, "source": "# Leaky ReLU backward"},
                *(
                    {
                        "cell_type": "code",
                        "metadata": {},
                        "outputs": [],
                        "execution_count": None,
                        "source": cell,
                    }
                    for cell in cells
                ),
            ],
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
            "nbformat": 4,
            "nbformat_minor": 5,
        }
    )


TRY_IT = (
    "dA = np.array([[1.0, -2.0]]); Z = np.array([[0.5, -0.5]])\nprint(leaky_relu_backward(dA, Z))"
)


def submission(kind: str, variant: str, hangs: str = "spin") -> tuple[str, str]:
    """(suffix, content) of one synthetic submission; ``hangs`` says how a hang hangs."""
    imports = "import numpy as np"
    if kind == "correct":
        return ".ipynb", _notebook(imports, _function(CORRECT[variant]), TRY_IT)
    if kind == "bug":
        return ".ipynb", _notebook(imports, _function(BUGS[variant]), TRY_IT)
    if kind == "script":
        return ".py", f"{imports}\n\n\n{_function(CORRECT[variant])}"
    if kind == "broken":
        broken = {
            "syntax_error": _notebook(imports, "def leaky_relu_backward(dA, cache)\n    return dA"),
            "truncated": _notebook(imports, _function(CORRECT["where"]))[:150],
            "stub": _notebook(imports, _function("    raise NotImplementedError\n")),
            "renamed": _notebook(imports, _function(CORRECT["where"], "leaky_relu_grad")),
        }
        return ".ipynb", broken[variant]
    hang = HANG_BODIES[hangs]
    if variant == "in_function":  # every call hangs until the per-call limit stops it
        return ".ipynb", _notebook(imports, _function(hang.format(seconds=120)))
    # a cell that hangs until the per-cell limit interrupts it; the function is fine
    return ".ipynb", _notebook(
        imports, textwrap.dedent(hang.format(seconds=60)), _function(CORRECT["where"])
    )


def plan(size: int, seed: int = 0) -> list[tuple[str, str]]:
    """(kind, variant) for each of ``size`` students: ~1% hang, ~4% broken, ~15% bugs."""
    rng = random.Random(seed)  # noqa: S311 -- a reproducible shuffle, not a secret
    hangs = max(1, size // 100) if size >= 50 else 0
    broken = max(1, size * 4 // 100)
    bugs = size * 15 // 100
    kinds: list[tuple[str, str]] = []
    kinds += [("hang", "in_function" if i % 3 == 0 else "in_cell") for i in range(hangs)]
    kinds += [
        ("broken", ["syntax_error", "truncated", "stub", "renamed"][i % 4]) for i in range(broken)
    ]
    kinds += [("bug", sorted(BUGS)[i % len(BUGS)]) for i in range(bugs)]
    rest = size - len(kinds)
    kinds += [
        ("script" if i % 10 == 0 else "correct", sorted(CORRECT)[i % len(CORRECT)])
        for i in range(rest)
    ]
    rng.shuffle(kinds)
    return kinds


def write_class(
    folder: Path, size: int, seed: int = 0, hangs: str = "spin"
) -> dict[str, tuple[str, str]]:
    """Write ``size`` submissions into ``folder``; returns name -> (kind, variant)."""
    folder.mkdir(parents=True, exist_ok=True)
    made = {}
    for i, (kind, variant) in enumerate(plan(size, seed)):
        name = f"student{i:04d}_{kind}_{variant}"
        suffix, content = submission(kind, variant, hangs)
        (folder / f"{name}{suffix}").write_text(content)
        made[name] = (kind, variant)
    return made


# --- a class of whole course notebooks (deep_nn_step_by_step: ten graded functions each) ------

DEEP_NN_FIXTURES = (
    Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "deep_nn_step_by_step"
)


def write_deep_nn_class(folder: Path, size: int) -> dict[str, str]:
    """``size`` whole notebooks of "Deep neural network, step by step": 85% correct, in both
    course generations' shapes (their failing course imports and test cells included), the
    rest one catalogued mistake each, or the backward half left blank. Returns name -> kind."""
    correct = [DEEP_NN_FIXTURES / "correct_2021.ipynb", DEEP_NN_FIXTURES / "correct_2017.ipynb"]
    mistakes = sorted(p for p in DEEP_NN_FIXTURES.glob("*.py") if p.name != "generate.py")
    others = [DEEP_NN_FIXTURES / "forward_half_done.ipynb", *mistakes]
    folder.mkdir(parents=True, exist_ok=True)
    made = {}
    wrong = size * 15 // 100
    for i in range(size):
        source = others[i % len(others)] if i < wrong else correct[i % 2]
        name = f"student{i:04d}_{source.stem}"
        (folder / f"{name}{source.suffix}").write_bytes(source.read_bytes())
        made[name] = source.stem
    return made
