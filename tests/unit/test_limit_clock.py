"""The clock of every time limit: wall time less waits for a CPU, capped, strict when blind."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.sandbox import protocol
from grader.sandbox.protocol import LimitClock, cpu_wait_seconds


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock_time(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    fake = FakeTime()
    monkeypatch.setattr(protocol.time, "monotonic", fake.monotonic)
    return fake


def schedstat(path: Path, waited_ns: int) -> str:
    """Write a schedstat line: ns on a CPU, ns waiting for one, timeslices."""
    path.write_text(f"123456 {waited_ns} 7\n")
    return str(path)


def test_reads_the_wait_field_in_seconds(tmp_path: Path) -> None:
    assert cpu_wait_seconds(schedstat(tmp_path / "s", 2_500_000_000)) == 2.5
    assert cpu_wait_seconds(str(tmp_path / "missing")) is None
    (tmp_path / "bad").write_text("garbage")
    assert cpu_wait_seconds(str(tmp_path / "bad")) is None


def test_time_spent_waiting_for_a_cpu_is_given_back(tmp_path: Path, clock_time: FakeTime) -> None:
    path = schedstat(tmp_path / "s", 1_000_000_000)
    clock = LimitClock(2.0, wall_factor=5.0, schedstat=path)
    clock_time.now += 1.5
    assert clock.left() == pytest.approx(0.5)
    schedstat(tmp_path / "s", 2_000_000_000)  # it waited 1 s of those 1.5
    assert clock.left() == pytest.approx(1.5)
    clock_time.now += 1.5
    assert clock.left() == pytest.approx(0.0)


def test_the_wall_cap_ends_a_starved_limit(tmp_path: Path, clock_time: FakeTime) -> None:
    path = schedstat(tmp_path / "s", 0)
    clock = LimitClock(1.0, wall_factor=3.0, schedstat=path)
    clock_time.now += 2.9
    schedstat(tmp_path / "s", 2_900_000_000)  # waited the whole time: used nothing
    assert clock.left() == pytest.approx(0.1)
    clock_time.now += 0.2
    assert clock.left() < 0


def test_without_a_readable_schedstat_every_wall_second_counts(
    tmp_path: Path, clock_time: FakeTime
) -> None:
    blind = LimitClock(1.0, wall_factor=5.0, schedstat=str(tmp_path / "missing"))
    wall = LimitClock(1.0, wall_factor=5.0)
    clock_time.now += 0.75
    assert blind.left() == wall.left() == pytest.approx(0.25)


def test_a_thread_that_disappears_counts_strictly(tmp_path: Path, clock_time: FakeTime) -> None:
    path = schedstat(tmp_path / "s", 0)
    clock = LimitClock(1.0, wall_factor=5.0, schedstat=path)
    (tmp_path / "s").unlink()
    clock_time.now += 1.0
    assert clock.left() == pytest.approx(0.0)


def test_attaching_later_counts_the_earlier_waits_as_used(
    tmp_path: Path, clock_time: FakeTime
) -> None:
    clock = LimitClock(3.0, wall_factor=5.0)
    clock_time.now += 1.0
    path = schedstat(tmp_path / "s", 5_000_000_000)
    clock.attach(path)
    clock_time.now += 1.0
    schedstat(tmp_path / "s", 5_600_000_000)
    assert clock.left() == pytest.approx(3.0 - 2.0 + 0.6)


def test_a_wall_factor_below_one_never_shortens_the_limit(clock_time: FakeTime) -> None:
    clock = LimitClock(2.0, wall_factor=0.5)
    clock_time.now += 1.0
    assert clock.left() == pytest.approx(1.0)


def test_detaching_counts_every_wall_second_from_the_start(
    tmp_path: Path, clock_time: FakeTime
) -> None:
    path = schedstat(tmp_path / "s", 0)
    clock = LimitClock(1.0, wall_factor=5.0, schedstat=path)
    clock_time.now += 1.5
    schedstat(tmp_path / "s", 1_000_000_000)
    assert clock.discounting
    assert clock.beyond_limit_in_wall_time()
    assert clock.left() == pytest.approx(0.5)
    clock.detach()  # it turned out to have helpers of its own
    assert not clock.discounting
    assert clock.left() == pytest.approx(-0.5)
