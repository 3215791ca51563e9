"""The leaky_relu_backward suites keep the contract issue 2 states, as data (no sandbox).

- the tags are exactly issue 2's list: each test carries at least one, each tag is used;
- the hidden suite totals 100 points, at least 70 of them on values (a test whose tags are
  all properties is a property test).
"""

from __future__ import annotations

import pytest

from grader import api
from grader.suite import SuiteName

ASSIGNMENT = "leaky_relu_backward"
#: Issue 2's tags, spelled as it spells them (later checks rely on them exactly).
PROPERTY_TAGS = frozenset({"shape", "no-mutation", "cache-intact", "return-type"})
ISSUE_TAGS = frozenset({"positive", "negative", "zero", "chain-rule"}) | PROPERTY_TAGS


@pytest.fixture(scope="module")
def prepared() -> api.PreparedAssignment:
    return api.prepare_assignment(ASSIGNMENT)


@pytest.mark.parametrize("suite", ["visible", "hidden"])
def test_tags_are_exactly_the_issues_and_every_test_has_one(
    prepared: api.PreparedAssignment, suite: SuiteName
) -> None:
    cases = prepared.tests(suite)
    assert [c.name for c in cases if not c.tags] == []
    assert {t for c in cases for t in c.tags} == ISSUE_TAGS


def test_values_carry_at_least_70_of_100_points(prepared: api.PreparedAssignment) -> None:
    values = [c for c in prepared.hidden if not set(c.tags) <= PROPERTY_TAGS]
    properties = [c for c in prepared.hidden if set(c.tags) <= PROPERTY_TAGS]
    assert sum(c.points for c in prepared.hidden) == 100
    assert sum(c.points for c in values) >= 70
    # The four properties issue 2 names, each its own test.
    assert sorted(t for c in properties for t in c.tags) == sorted(PROPERTY_TAGS)
