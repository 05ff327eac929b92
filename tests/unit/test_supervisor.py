"""The restart policy of ``paklog dev`` on a fake clock, and the platform applying it to real processes."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from paklog.platform import ChildExited, LocalPlatform, PlatformConfig
from paklog.supervisor import CrashHistory, CrashLoop, GiveUp, ProcessChild, Restart, RestartPolicy

POLICY = RestartPolicy(backoff_seconds=1, backoff_max_seconds=8, max_crashes=5, window_seconds=60)


def test_backoff_doubles_up_to_its_cap() -> None:
    history = CrashHistory(RestartPolicy(backoff_seconds=1, backoff_max_seconds=4, max_crashes=10, window_seconds=100))
    decisions = [history.crashed(now) for now in (0, 1, 3, 7, 11, 15)]
    assert decisions == [Restart(1, 1), Restart(2, 2), Restart(4, 3), Restart(4, 4), Restart(4, 5), Restart(4, 6)]


def test_five_crashes_within_the_window_give_up() -> None:
    history = CrashHistory(POLICY)
    assert [history.crashed(now) for now in (0, 2, 5, 10, 19)][-1] == GiveUp(crashes=5, window_seconds=60)


def test_crashes_far_apart_restart_forever_from_the_shortest_backoff() -> None:
    history = CrashHistory(POLICY)
    decisions = [history.crashed(now * 61.0) for now in range(12)]
    assert {decision for decision in decisions if isinstance(decision, GiveUp)} == set()
    assert [d.delay for d in decisions if isinstance(d, Restart)] == [1] * 12
    assert history.restarts == 12


def test_a_crash_leaving_the_window_lowers_the_backoff() -> None:
    history = CrashHistory(POLICY)
    for now in (0, 1, 3, 7):
        history.crashed(now)
    # At t=62 the crashes at 0 and 1 have left the window: this is the third recent one.
    assert history.crashed(62) == Restart(delay=4, restarts=5)


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[LocalPlatform]:
    config = PlatformConfig(
        state_dir=tmp_path, postgres_url="postgresql://nobody@127.0.0.1:1", quiet=True, restart_policy=POLICY
    )
    running = LocalPlatform(config)
    try:
        yield running
    finally:
        running.stop(timeout=5)


def _wait_exit(child: ProcessChild) -> int:
    assert child.proc is not None
    return child.proc.wait(10)


def test_the_platform_restarts_a_crashed_child_after_its_backoff_then_gives_up(platform: LocalPlatform) -> None:
    platform._spawn_raw("crasher", [sys.executable, "-c", "raise SystemExit(3)"])
    (child,) = platform.children
    assert isinstance(child, ProcessChild)
    first_pid = child.proc.pid if child.proc else None
    assert _wait_exit(child) == 3

    platform.supervise_once(now=100.0)
    assert platform.events == [ChildExited("crasher", 3, restarts=1, restart_in_seconds=1)]
    platform.supervise_once(now=100.5)  # still backing off
    assert child.proc is not None
    assert child.proc.pid == first_pid
    platform.supervise_once(now=101.0)
    assert child.proc.pid != first_pid  # restarted

    def crash_and_restart(now: float) -> float:
        """One more crash noticed at ``now``; returns when the restart happened."""
        _wait_exit(child)
        platform.supervise_once(now)
        restart_at = child.restart_at
        assert restart_at is not None
        platform.supervise_once(restart_at)
        assert child.restart_at is None
        return restart_at + 0.1

    now = crash_and_restart(101.1)
    now = crash_and_restart(now)
    now = crash_and_restart(now)
    _wait_exit(child)
    with pytest.raises(CrashLoop, match=r"crasher crashed 5 times within 60 s \(last exit 3\)") as info:
        platform.supervise_once(now)
    assert info.value.label == "crasher"
    assert "crasher.log" in str(info.value)
    assert [event.restart_in_seconds for event in platform.events] == [1, 2, 4, 8, None]


def test_the_supervisor_thread_brings_back_a_killed_child(platform: LocalPlatform) -> None:
    platform.config.restart_policy = RestartPolicy(backoff_seconds=0.2, max_crashes=5, window_seconds=60)
    platform._spawn_raw("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"])
    platform._supervisor = threading.Thread(target=platform._supervise, daemon=True)
    platform._supervisor.start()
    first = platform.pid("sleeper")
    assert first is not None
    platform.kill("sleeper")
    deadline = time.monotonic() + 10
    while (platform.pid("sleeper") in (None, first)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert platform.pid("sleeper") not in (None, first)
    assert platform.events[0].label == "sleeper"
    assert platform.events[0].exit_code == -9
    assert platform.failure is None


def running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie waiting for a parent that is not us."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_stop_leaves_no_process_behind(platform: LocalPlatform, tmp_path: Path) -> None:
    # A child with a grandchild in its process group: both must go.
    pid_file = tmp_path / "grandchild.pid"
    platform._spawn_raw("family", ["sh", "-c", f"sleep 60 & echo $! > {pid_file}; sleep 60"])
    (child,) = platform.children
    assert isinstance(child, ProcessChild)
    assert child.proc is not None
    deadline = time.monotonic() + 5
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    grandchild = int(pid_file.read_text())
    parent = child.proc.pid
    assert running(parent)
    assert running(grandchild)
    platform.stop(timeout=5)
    assert not running(parent)
    deadline = time.monotonic() + 2  # SIGKILL is delivered asynchronously
    while running(grandchild) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not running(grandchild)
