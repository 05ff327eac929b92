"""Keeping ``paklog dev``'s children alive: the restart policy and the children it applies to.

A child that dies is restarted after a backoff that doubles with each crash
still inside the policy's window (1 s, 2 s, 4 s, ... up to a cap); a child that
crashes ``max_crashes`` times within ``window_seconds`` is in a crash loop,
and the platform stops, naming it. The policy is pure (it is given the time),
so it is tested with a fake clock; :class:`ProcessChild` and
:class:`PostgresChild` are what :class:`~paklog.platform.LocalPlatform`
supervises.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol

from paklog.embedded_pg import EmbeddedPostgres


@dataclass(frozen=True)
class RestartPolicy:
    """How crashed children are restarted, and when to stop trying."""

    backoff_seconds: float = 1.0
    backoff_max_seconds: float = 30.0
    max_crashes: int = 5
    window_seconds: float = 60.0


@dataclass(frozen=True)
class Restart:
    """Restart the child after ``delay`` seconds; it will then have been restarted ``restarts`` times."""

    delay: float
    restarts: int


@dataclass(frozen=True)
class GiveUp:
    """The child crashed ``crashes`` times within ``window_seconds``: stop the platform."""

    crashes: int
    window_seconds: float


@dataclass
class CrashHistory:
    """One child's recent crashes; decides what each new crash calls for."""

    policy: RestartPolicy
    restarts: int = 0
    _crashes: deque[float] = field(default_factory=deque)

    def crashed(self, now: float) -> Restart | GiveUp:
        """Record a crash at monotonic time ``now`` and decide.

        Crashes older than the window are forgotten, so a child that ran
        steadily for a while starts again from the shortest backoff.
        """
        while self._crashes and self._crashes[0] <= now - self.policy.window_seconds:
            self._crashes.popleft()
        self._crashes.append(now)
        recent = len(self._crashes)
        if recent >= self.policy.max_crashes:
            return GiveUp(crashes=recent, window_seconds=self.policy.window_seconds)
        self.restarts += 1
        delay = min(self.policy.backoff_max_seconds, self.policy.backoff_seconds * 2 ** (recent - 1))
        return Restart(delay=delay, restarts=self.restarts)


class CrashLoop(RuntimeError):
    """A child kept crashing; the platform gives up."""

    def __init__(self, label: str, crashes: int, window_seconds: float, exit_code: int | None, hint: str) -> None:
        self.label = label
        self.crashes = crashes
        self.exit_code = exit_code
        super().__init__(
            f"{label} crashed {crashes} times within {window_seconds:g} s (last exit {exit_code}); "
            f"not restarting it again{hint}"
        )


class Child(Protocol):
    """Something the platform starts, watches and stops."""

    label: str
    history: CrashHistory
    restart_at: float | None

    def start(self) -> None: ...

    def returncode(self) -> int | None:
        """None while running; the exit code (or -1 when unknown) once it has stopped."""
        ...

    def kill(self) -> None:
        """Kill at once, as a crash would."""
        ...

    def stop(self, timeout: float) -> None:
        """Ask to stop, wait up to ``timeout``, then kill."""
        ...

    def log_hint(self) -> str: ...


@dataclass
class ProcessChild:
    """One child process (a PakLog process or the Temporal dev server) in its own process group."""

    label: str
    argv: list[str]
    env: Callable[[], dict[str, str]]
    history: CrashHistory
    log_file: Path | None = None
    restart_at: float | None = None
    proc: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    def start(self) -> None:
        if self.log_file is not None and self._log is None:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            self._log = self.log_file.open("ab")
        self.proc = subprocess.Popen(
            self.argv,
            env=self.env(),
            stdout=self._log,
            stderr=subprocess.STDOUT if self._log else None,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches only us, and we stop children in order
        )

    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self, timeout: float) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        # Whatever the child left in its group (it should be nothing) goes too.
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_hint(self) -> str:
        return f"; see {self.log_file}" if self.log_file else ""


@dataclass
class PostgresChild:
    """The embedded PostgreSQL: ``pg_ctl`` runs it as a daemon, so it is watched through its pid file."""

    server: EmbeddedPostgres
    history: CrashHistory
    label: str = "postgres"
    restart_at: float | None = None

    def start(self) -> None:
        self.server.start()

    def returncode(self) -> int | None:
        return None if self.server.pid() is not None else -1

    def kill(self) -> None:
        pid = self.server.pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def stop(self, timeout: float) -> None:
        self.server.stop()

    def log_hint(self) -> str:
        return f"; see {self.server.log_file}"
