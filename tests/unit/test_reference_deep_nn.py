"""The deep_nn_step_by_step reference, checked by central finite differences of its forward pass.

Every backward function is checked against the forward functions it inverts, independently of
the numbers in the suites: for a per-example upstream gradient G and a forward output F, the
scalar J = (1/m) Σ G · F has dJ/dW = dW and dJ/db = db (the parameters' gradients are averaged
over the m examples) and dJ/dA_prev = dA_prev / m (dA_prev is passed on per example). The whole
network is checked end to end: L_model_backward's dW{l}, db{l} against the cost of
L_model_forward + compute_cost, and its dA{l-1} (the newer course generation's keys) against the
cost's gradient with respect to that layer's input. The provided dnn_utils must match the
reference's activations, and the reference's linear_backward must be linear_backward's.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from grader import api
from grader.assignments import load_assignment
from grader.suite import import_file

REPO = Path(__file__).resolve().parents[2]
ASSIGNMENT = "deep_nn_step_by_step"
H = 1e-6


@pytest.fixture(scope="module")
def ref() -> ModuleType:
    return import_file(REPO / "reference" / "deep_nn_step_by_step.py", "test_reference_deep_nn")


def numeric_gradient(f: Callable[[], float], x: np.ndarray) -> np.ndarray:
    """(f(x + h e_i) - f(x - h e_i)) / 2h for every element i, changing x in place and back."""
    grad = np.empty_like(x)
    for index in np.ndindex(*x.shape):
        saved = x[index]
        x[index] = saved + H
        up = f()
        x[index] = saved - H
        down = f()
        x[index] = saved
        grad[index] = (up - down) / (2 * H)
    return grad


def network(
    seed: int, dims: list[int], m: int
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """X, Y and parameters large enough that no unit sits at ReLU's kink or saturates."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((dims[0], m))
    Y = (rng.random((1, m)) > 0.5).astype(np.float64)
    parameters: dict[str, np.ndarray] = {}
    for layer in range(1, len(dims)):
        parameters[f"W{layer}"] = rng.standard_normal((dims[layer], dims[layer - 1])) * 0.7
        parameters[f"b{layer}"] = rng.standard_normal((dims[layer], 1)) * 0.3
    return X, Y, parameters


def away_from_kinks(ref: ModuleType, x: np.ndarray, parameters: dict[str, np.ndarray]) -> None:
    _, caches = ref.L_model_forward(x, parameters)
    for _, Z in caches:
        assert np.abs(Z).min() > 1e-4, "a unit sits at ReLU's kink: pick another seed"


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_linear_activation_backward_is_the_gradient_of_the_forward(
    ref: ModuleType, seed: int, activation: str
) -> None:
    rng = np.random.default_rng(seed)
    A_prev, W = rng.standard_normal((4, 5)), rng.standard_normal((3, 4))
    b, dA = rng.standard_normal((3, 1)), rng.standard_normal((3, 5))
    m = A_prev.shape[1]

    def J() -> float:
        A, _ = ref.linear_activation_forward(A_prev, W, b, activation)
        return float(np.sum(dA * A) / m)

    _, cache = ref.linear_activation_forward(A_prev, W, b, activation)
    assert np.abs(cache[1]).min() > 1e-4
    dA_prev, dW, db = ref.linear_activation_backward(dA, cache, activation)
    np.testing.assert_allclose(dW, numeric_gradient(J, W), rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(db, numeric_gradient(J, b), rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(dA_prev / m, numeric_gradient(J, A_prev), rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("seed", range(3))
def test_linear_backward_is_the_gradient_of_linear_forward(ref: ModuleType, seed: int) -> None:
    rng = np.random.default_rng(10 + seed)
    A_prev, W = rng.standard_normal((2, 6)), rng.standard_normal((5, 2))
    b, dZ = rng.standard_normal((5, 1)), rng.standard_normal((5, 6))

    def J() -> float:
        Z, _ = ref.linear_forward(A_prev, W, b)
        return float(np.sum(dZ * Z) / 6)

    dA_prev, dW, db = ref.linear_backward(dZ, (A_prev, W, b))
    np.testing.assert_allclose(dW, numeric_gradient(J, W), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(db, numeric_gradient(J, b), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(dA_prev / 6, numeric_gradient(J, A_prev), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize(
    ("seed", "dims", "m"), [(0, [3, 4, 1], 5), (1, [4, 5, 3, 1], 6), (2, [2, 3, 3, 2, 1], 4)]
)
def test_L_model_backward_is_the_gradient_of_the_cost(
    ref: ModuleType, seed: int, dims: list[int], m: int
) -> None:
    X, Y, parameters = network(seed, dims, m)
    away_from_kinks(ref, X, parameters)
    AL, caches = ref.L_model_forward(X, parameters)
    grads = ref.L_model_backward(AL, Y, caches)
    L = len(dims) - 1
    assert sorted(grads) == sorted(
        [f"dW{k}" for k in range(1, L + 1)]
        + [f"db{k}" for k in range(1, L + 1)]
        + [f"dA{k}" for k in range(L)]
    )

    def cost() -> float:
        return ref.forward_cost(X, Y, parameters)

    for layer in range(1, L + 1):
        for name in ("W", "b"):
            numeric = numeric_gradient(cost, parameters[f"{name}{layer}"])
            np.testing.assert_allclose(grads[f"d{name}{layer}"], numeric, rtol=1e-5, atol=1e-8)
    # dA{l-1} is the per-example gradient with respect to layer l's input, A{l-1} (A0 = X):
    # checked for X through the whole network, and for each hidden A through the layers above.
    np.testing.assert_allclose(grads["dA0"] / m, numeric_gradient(cost, X), rtol=1e-5, atol=1e-8)
    for layer in range(2, L + 1):
        A_in = caches[layer - 1][0][0].copy()
        upper = {
            f"{p}{k - layer + 1}": parameters[f"{p}{k}"]
            for k in range(layer, L + 1)
            for p in ("W", "b")
        }

        def upper_cost(a: np.ndarray = A_in, params: dict[str, np.ndarray] = upper) -> float:
            # The layers above with ReLU below the last: exactly L_model_forward on them.
            return ref.forward_cost(a, Y, params)

        numeric = numeric_gradient(upper_cost, A_in)
        np.testing.assert_allclose(grads[f"dA{layer - 1}"] / m, numeric, rtol=1e-5, atol=1e-8)


def test_compute_cost_is_the_averaged_cross_entropy(ref: ModuleType) -> None:
    AL = np.array([[0.8, 0.9, 0.4]])
    Y = np.array([[1.0, 1.0, 0.0]])
    expected = -(np.log(0.8) + np.log(0.9) + np.log(0.6)) / 3
    cost = ref.compute_cost(AL, Y)
    assert np.shape(cost) == ()
    assert float(cost) == pytest.approx(expected, rel=1e-12)


def test_output_gradient_is_the_cost_gradient_per_example(ref: ModuleType) -> None:
    rng = np.random.default_rng(3)
    AL = rng.uniform(0.1, 0.9, (1, 7))
    Y = (rng.random((1, 7)) > 0.5).astype(np.float64)
    numeric = numeric_gradient(lambda: float(ref.compute_cost(AL, Y)), AL)
    np.testing.assert_allclose(ref.output_gradient(AL, Y) / 7, numeric, rtol=1e-6)


@pytest.mark.parametrize("name", ["relu", "sigmoid"])
def test_activation_backward_is_the_derivative_of_the_activation(
    ref: ModuleType, name: str
) -> None:
    rng = np.random.default_rng(4)
    Z = rng.standard_normal((3, 4)) * 3
    Z[np.abs(Z) < 1e-3] = 0.5
    dA = rng.standard_normal((3, 4))
    forward, backward = getattr(ref, name), getattr(ref, f"{name}_backward")
    numeric = numeric_gradient(lambda: float(np.sum(dA * forward(Z)[0])), Z)
    np.testing.assert_allclose(backward(dA, Z), numeric, rtol=1e-5, atol=1e-8)
    _, cache = forward(Z)
    assert cache is Z  # the course's convention: the activation cache is Z itself


def test_a_gradient_step_lowers_the_cost_and_leaves_the_arguments_alone(ref: ModuleType) -> None:
    X, Y, parameters = network(5, [3, 4, 2, 1], 8)
    before = {k: v.copy() for k, v in parameters.items()}
    AL, caches = ref.L_model_forward(X, parameters)
    grads = ref.L_model_backward(AL, Y, caches)
    updated = ref.update_parameters(parameters, grads, 0.05)
    assert ref.forward_cost(X, Y, updated) < ref.forward_cost(X, Y, parameters)
    for key, value in before.items():
        np.testing.assert_array_equal(parameters[key], value)
        np.testing.assert_allclose(updated[key], value - 0.05 * grads[f"d{key}"])


def test_initialization_has_the_course_shapes_zero_biases_and_small_weights(
    ref: ModuleType,
) -> None:
    parameters = ref.initialize_parameters_deep([5, 4, 3, 1])
    assert {k: v.shape for k, v in parameters.items()} == {
        "W1": (4, 5), "b1": (4, 1), "W2": (3, 4), "b2": (3, 1), "W3": (1, 3), "b3": (1, 1)
    }  # fmt: skip
    for layer in (1, 2, 3):
        assert not parameters[f"b{layer}"].any()
        assert 0 < np.abs(parameters[f"W{layer}"]).max() < 0.05
    two = ref.initialize_parameters(3, 2, 1)
    assert {k: v.shape for k, v in two.items()} == {
        "W1": (2, 3), "b1": (2, 1), "W2": (1, 2), "b2": (1, 1)
    }  # fmt: skip


def test_linear_backward_is_the_linear_backward_assignment_s(ref: ModuleType) -> None:
    """The included linear_backward suite compares with its own reference; they must agree."""
    other = import_file(REPO / "reference" / "linear_backward.py", "test_reference_deep_nn_lb")
    rng = np.random.default_rng(6)
    dZ, cache = rng.standard_normal((3, 5)), (
        rng.standard_normal((4, 5)), rng.standard_normal((3, 4)), rng.standard_normal((3, 1))
    )  # fmt: skip
    for mine, theirs in zip(
        ref.linear_backward(dZ, cache), other.linear_backward(dZ, cache), strict=True
    ):
        np.testing.assert_array_equal(mine, theirs)


@pytest.mark.parametrize("module", ["dnn_utils", "dnn_utils_v2"])
def test_provided_dnn_utils_match_the_reference(ref: ModuleType, module: str) -> None:
    """Both names the course used; its return conventions: sigmoid(Z) and relu(Z) give (A, Z)."""
    provided = load_assignment("deep_nn_step_by_step", REPO).provided.files()
    utils = import_file(provided[f"{module}.py"], f"test_provided_{module}")
    Z = np.array([[-800.0, -1.0, 0.0, 2.0, 800.0]])
    dA = np.array([[1.0, -2.0, 3.0, 0.5, 4.0]])
    for name in ("sigmoid", "relu"):
        A, cache = getattr(utils, name)(Z)
        np.testing.assert_array_equal(A, getattr(ref, name)(Z)[0])
        np.testing.assert_array_equal(cache, Z)
        np.testing.assert_allclose(
            getattr(utils, f"{name}_backward")(dA, Z), getattr(ref, f"{name}_backward")(dA, Z)
        )


def test_the_assignment_s_suites_pass_against_the_reference_with_plain_pytest() -> None:
    """What an instructor runs: each test file gets its own function's reference as fixture.
    (linear_backward's included suites live, and run, in their own folder.)"""
    prepared = api.prepare_assignment(ASSIGNMENT)
    own = [c for c in (*prepared.visible, *prepared.hidden) if c.grades != "linear_backward"]
    command = ["-m", "pytest", f"assignments/{ASSIGNMENT}", "-q", "-p", "no:cacheprovider"]
    proc = subprocess.run(
        [sys.executable, *command],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    summary = proc.stdout.strip().splitlines()[-1]
    assert summary.startswith(f"{len(own)} passed in "), summary


def test_the_template_runs_as_a_notebook_and_its_check_cells_pass(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As in Jupyter, with the provided dnn_utils next to the notebook: every check cell runs
    that function's visible tests on the live function, and the instructor's copy passes."""
    nbformat = pytest.importorskip("nbformat")
    folder = REPO / "assignments" / ASSIGNMENT
    monkeypatch.syspath_prepend(str(folder / "provided"))
    monkeypatch.setitem(sys.modules, "dnn_utils", None)  # restored afterwards: not left cached
    del sys.modules["dnn_utils"]
    monkeypatch.delenv("GRADER_SANDBOX", raising=False)
    notebook = nbformat.read(folder / "template.ipynb", as_version=4)
    namespace: dict[str, object] = {}
    reports = {}
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        exec(compile(cell.source, "<cell>", "exec"), namespace)  # noqa: S102 -- our template
        last = cell.source.splitlines()[-1]
        if last.startswith("check("):
            function = last.removeprefix("check(").split(")")[0]
            reports[function] = eval(last, namespace)  # noqa: S307 -- same
    assert set(reports) == set(load_assignment(ASSIGNMENT, REPO).functions)
    for function, report in reports.items():
        assert report.result.tests, function
        assert report.result.all_passed, (function, [t.output for t in report.result.tests])
