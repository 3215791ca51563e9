"""Typed results, and the one place where they become (and come back from) Gradescope JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, cast

Status = Literal["passed", "failed"]
Visibility = Literal["visible", "hidden", "after_due_date", "after_published"]
VISIBILITIES: tuple[Visibility, ...] = ("visible", "hidden", "after_due_date", "after_published")


@dataclass(frozen=True)
class TestResult:
    """One graded test, as Gradescope shows it."""

    __test__ = False  # not a pytest test class, despite the name

    name: str
    score: float
    max_score: float
    status: Status
    output: str  #: student-facing: what was checked and which mistake, not just "failed"
    tags: tuple[str, ...]
    visibility: Visibility = "visible"
    misconceptions: tuple[str, ...] = ()  #: diagnosis ids that explain this failure
    suite: str = "hidden"  #: "visible" or "hidden": which test file it came from
    function: str = ""  #: the graded function it tests (assignments with several), else ""


@dataclass(frozen=True)
class GradingResult:
    """The whole results document for one submission."""

    assignment: str
    tests: tuple[TestResult, ...]
    output: str  #: overall message: load problems, notes on magics, the diagnosis summary
    execution_time: float
    misconceptions: tuple[str, ...] = ()
    sandbox: str = "none"
    warnings: tuple[str, ...] = ()
    submission: str = ""  #: file name only, never a full path
    extra: dict[str, Any] = field(default_factory=dict)  #: instructor-facing details

    @property
    def score(self) -> float:
        """Sum of the tests' scores."""
        return round(sum(t.score for t in self.tests), 6)

    @property
    def max_score(self) -> float:
        """Sum of the tests' maximum scores."""
        return round(sum(t.max_score for t in self.tests), 6)

    def subtotals(self) -> dict[str, tuple[float, float]]:
        """Graded function -> (score, max_score), in test order; empty for one function."""
        totals: dict[str, tuple[float, float]] = {}
        for t in self.tests:
            if t.function:
                score, max_score = totals.get(t.function, (0.0, 0.0))
                totals[t.function] = (score + t.score, max_score + t.max_score)
        return {f: (round(a, 6), round(b, 6)) for f, (a, b) in totals.items()}

    @property
    def all_passed(self) -> bool:
        """True when there is at least one test and every test passed."""
        return bool(self.tests) and all(t.status == "passed" for t in self.tests)

    def to_gradescope(self) -> dict[str, Any]:
        """The results.json document (Gradescope's keys, plus ``extra_data``)."""
        return {
            "score": self.score,
            "max_score": self.max_score,
            "output": self.output,
            "execution_time": round(self.execution_time, 3),
            "visibility": "visible",
            "tests": [
                {
                    "name": t.name,
                    "score": t.score,
                    "max_score": t.max_score,
                    "status": t.status,
                    "output": t.output,
                    "tags": list(t.tags),
                    "visibility": t.visibility,
                    "extra_data": {
                        "misconceptions": list(t.misconceptions),
                        "suite": t.suite,
                        **({"function": t.function} if t.function else {}),
                    },
                }
                for t in self.tests
            ],
            "extra_data": {
                "assignment": self.assignment,
                "submission": self.submission,
                "sandbox": self.sandbox,
                "warnings": list(self.warnings),
                "misconceptions": list(self.misconceptions),
                **self.extra,
            },
        }

    @classmethod
    def from_gradescope(cls, document: dict[str, Any]) -> GradingResult:
        """Rebuild a result from a document written by ``to_gradescope``."""
        extra = dict(document.get("extra_data", {}))
        tests = tuple(
            TestResult(
                name=t["name"],
                score=float(t["score"]),
                max_score=float(t["max_score"]),
                status=cast(Status, t["status"]),
                output=t.get("output", ""),
                tags=tuple(t.get("tags", ())),
                visibility=cast(Visibility, t.get("visibility", "visible")),
                misconceptions=tuple(t.get("extra_data", {}).get("misconceptions", ())),
                suite=t.get("extra_data", {}).get("suite", "hidden"),
                function=t.get("extra_data", {}).get("function", ""),
            )
            for t in document.get("tests", [])
        )
        return cls(
            assignment=extra.pop("assignment", ""),
            tests=tests,
            output=document.get("output", ""),
            execution_time=float(document.get("execution_time", 0.0)),
            misconceptions=tuple(extra.pop("misconceptions", ())),
            sandbox=extra.pop("sandbox", "none"),
            warnings=tuple(extra.pop("warnings", ())),
            submission=extra.pop("submission", ""),
            extra=extra,
        )
