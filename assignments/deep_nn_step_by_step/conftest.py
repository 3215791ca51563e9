"""Lets instructors run this assignment's tests with plain pytest, against the reference
(`pytest assignments/deep_nn_step_by_step`) or a solution file (`--solution path.py`).
The grader itself does not use this file."""

import pytest

from grader.pytest_plugin import add_options, install_fixtures

install_fixtures(globals(), __file__)


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)
