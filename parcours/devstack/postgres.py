"""PostgreSQL 16 from the ``pgserver`` wheel (see the package docstring for root)."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import shutil
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path

from parcours.devstack.process import (
    MAX_CONNECTIONS,
    PG_SERVER_USER,
    DevstackError,
    _ChildServer,
    _is_postgres,
    _pid_alive,
)

# What a failing statement may write into the server log: its message only. No
# statement text, no parameters, no DETAIL or CONTEXT (a JSON parse error's
# context quotes the JSON, which could be identity traits). deploy/compose.yaml
# and the CloudNativePG cluster (deploy/k8s) start PostgreSQL with the same settings.
QUIET_LOGGING = (
    "log_error_verbosity=terse",
    "log_min_error_statement=panic",
    "log_parameter_max_length_on_error=0",
    "log_parameter_max_length=0",
    "log_statement=none",
    "log_min_duration_statement=-1",
)


class EmbeddedPostgres(_ChildServer):
    """A PostgreSQL 16 server from the ``pgserver`` wheel, owned by this process.

    ``fast=True`` is for tests: no fsync and no full-page writes. Commits stay
    synchronous, so a committed transaction survives ``kill()`` (a process
    crash); only an operating-system crash could lose it.

    ``tuning``: more ``name=value`` settings (the benchmarks size memory for the machine).
    """

    name = "postgres"
    stop_signal = signal.SIGINT  # "fast" shutdown: abort sessions, checkpoint, exit

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        *,
        fast: bool = False,
        tuning: Sequence[str] = (),
    ) -> None:
        super().__init__(data_dir, port)
        self.fast, self.tuning = fast, tuple(tuning)
        self._server_home = self.home  # where PGDATA and the socket live (see module doc)
        self._primary: EmbeddedPostgres | None = None

    @classmethod
    def standby_of(
        cls,
        primary: EmbeddedPostgres,
        data_dir: Path,
        port: int | None = None,
        *,
        fast: bool = False,
    ) -> EmbeddedPostgres:
        """A streaming standby of running ``primary``, cloned by ``pg_basebackup`` on
        first start (``-R``: it follows the primary until promoted)."""
        server = cls(data_dir, port, fast=fast)
        server._primary = primary
        return server

    async def make_synchronous(self, standby_names: str = "*") -> None:
        """Commits on this primary wait until a standby named here has flushed them."""
        await self._sql(
            f"ALTER SYSTEM SET synchronous_standby_names = '{standby_names}'",
            "SELECT pg_reload_conf()",
        )

    async def promote(self) -> None:
        """End recovery on this standby: it becomes a primary that accepts writes."""
        await self._sql("SELECT pg_promote(wait => true)")

    async def _sql(self, *statements: str) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.url)
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    @property
    def data_dir(self) -> Path:
        return self.home

    @property
    def pgdata(self) -> Path:
        return self._server_home / "pgdata"

    @property
    def socket_dir(self) -> Path:
        return self._server_home / "run"

    @property
    def log_path(self) -> Path:
        return self.home / "postgres.log"

    @property
    def url(self) -> str:
        return self.url_for("postgres")

    def url_for(self, dbname: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self._require_port()}/{dbname}"

    def start(self) -> None:
        """Initialise the cluster if needed, launch it, wait until it accepts connections."""
        if self.running:
            return
        port = self._pick_port()
        user = self._server_user()
        self._prepare_dirs(user)
        if not (self.pgdata / "PG_VERSION").exists():
            if self._primary is not None:
                self._base_backup(user)
            else:
                self._initdb(user)
        self._clear_stale_lock()
        self.port = port
        self.port_file.write_text(f"{port}\n")
        argv = [
            str(_pg_bin("postgres")),
            "-D", str(self.pgdata),
            "-p", str(self.port),
            "-k", str(self.socket_dir),
            "-c", "listen_addresses=127.0.0.1",
            "-c", f"max_connections={MAX_CONNECTIONS}",
            *(arg for setting in QUIET_LOGGING for arg in ("-c", setting)),
        ]  # fmt: skip
        if self.fast:
            argv += ["-c", "fsync=off", "-c", "full_page_writes=off"]
        argv += [arg for setting in self.tuning for arg in ("-c", setting)]
        self._launch(argv, cwd=self._server_home, user=user)
        self._wait_ready(self._accepts_connections)

    # --- helpers
    @staticmethod
    def _server_user() -> str | None:
        if os.geteuid() != 0:
            return None
        _ensure_user_exists(PG_SERVER_USER)
        return PG_SERVER_USER

    def _prepare_dirs(self, user: str | None) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        if user is None:
            for path in (self.pgdata, self.socket_dir):
                path.mkdir(mode=0o700, exist_ok=True)
            return
        import pwd

        entry = pwd.getpwnam(user)
        if not _reachable(self.home, entry):
            self._server_home = _shared_dir("pg", str(self.home))
            link = self.home / "pgdata"
            if not link.is_symlink():
                link.symlink_to(self.pgdata)
        self._server_home.mkdir(parents=True, exist_ok=True)
        for path in (self.pgdata, self.socket_dir):
            path.mkdir(mode=0o700, exist_ok=True)
            os.chown(path, entry.pw_uid, entry.pw_gid)
        self._server_home.chmod(self._server_home.stat().st_mode | 0o011)

    def _initdb(self, user: str | None) -> None:
        argv = [
            str(_pg_bin("initdb")),
            "-D", str(self.pgdata),
            "--auth=trust",
            "-U", "postgres",
            "-E", "UTF8",
            "--no-locale",
        ]  # fmt: skip
        if self.fast:
            argv.append("--no-sync")
        self._run_as(user, argv, "initdb")

    def _run_as(self, user: str | None, argv: list[str], what: str) -> None:
        kwargs: dict = {}
        if user is not None:
            import pwd

            entry = pwd.getpwnam(user)
            kwargs.update(user=entry.pw_uid, group=entry.pw_gid, extra_groups=[])
        done = subprocess.run(argv, cwd=self._server_home, capture_output=True, text=True, **kwargs)
        if done.returncode != 0:
            raise DevstackError(
                f"{what} failed in {self.pgdata} (code {done.returncode}):\n"
                f"{done.stdout[-2000:]}{done.stderr[-2000:]}"
            )

    def _base_backup(self, user: str | None) -> None:
        assert self._primary is not None
        primary_port = self._primary._require_port()
        argv = [
            str(_pg_bin("pg_basebackup")),
            "-d", f"host=127.0.0.1 port={primary_port} user=postgres application_name=standby",
            "-D", str(self.pgdata),
            "-R", "-X", "stream", "-c", "fast",
        ]  # fmt: skip
        self._run_as(user, argv, "pg_basebackup")

    def _clear_stale_lock(self) -> None:
        """Remove a ``postmaster.pid`` left by a killed server.

        PostgreSQL removes it itself when its pid is dead, but in a container a
        pid is soon reused by another process, and PostgreSQL then refuses to
        start. A live postgres on this data directory is a real conflict.
        """
        lock = self.pgdata / "postmaster.pid"
        try:
            pid = int(lock.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return
        if _pid_alive(pid) and _is_postgres(pid):
            raise DevstackError(
                f"a postgres (pid {pid}) is already running on {self.pgdata}; stop it first"
            )
        lock.unlink(missing_ok=True)
        for leftover in self.socket_dir.glob(".s.PGSQL.*"):
            leftover.unlink(missing_ok=True)

    def _accepts_connections(self) -> bool:
        done = subprocess.run(
            [
                str(_pg_bin("pg_isready")),
                "-q",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-t",
                "1",
            ],  # fmt: skip
            capture_output=True,
        )
        return done.returncode == 0


def _traversable(path: Path, entry) -> bool:
    """Whether the user of pwd ``entry`` may pass through directory ``path``."""
    import grp

    st = path.stat()
    if st.st_uid == entry.pw_uid:
        return bool(st.st_mode & 0o100)
    groups = {entry.pw_gid} | {g.gr_gid for g in grp.getgrall() if entry.pw_name in g.gr_mem}
    if st.st_gid in groups:
        return bool(st.st_mode & 0o010)
    return bool(st.st_mode & 0o001)


def _pg_bin(name: str) -> Path:
    return _pg_install() / "bin" / name


@functools.cache
def _pg_install() -> Path:
    """The ``pginstall`` tree of the pgserver wheel, copied where the server user
    can reach it when it cannot reach the virtual environment (see module doc).

    Found without importing ``pgserver``: its import creates runtime directories
    and warns when XDG_RUNTIME_DIR is unset. Same path as its POSTGRES_BIN_PATH.
    """
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise DevstackError("PostgreSQL binaries not found: install the pgserver wheel")
    install = Path(spec.submodule_search_locations[0]) / "pginstall"
    if os.geteuid() != 0:
        return install
    import pwd

    _ensure_user_exists(PG_SERVER_USER)
    if _reachable(install, pwd.getpwnam(PG_SERVER_USER)):
        return install
    # The binaries find their libraries through RPATH $ORIGIN/../../../pgserver.libs:
    # the copy keeps that layout (<copy>/pgserver/pginstall, <copy>/pgserver.libs).
    libs = install.parent.parent / "pgserver.libs"
    version = (install / "bin" / "postgres").stat()
    copy = _shared_dir("pginstall", f"{install}:{version.st_size}:{version.st_mtime_ns}")
    if not (copy / ".complete").exists():
        staging = copy.with_name(copy.name + f".{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(install, staging / "pgserver" / "pginstall", symlinks=True)
        if libs.is_dir():
            shutil.copytree(libs, staging / "pgserver.libs", symlinks=True)
        for path in [staging, *staging.rglob("*")]:
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | 0o444 | (0o111 if path.is_dir() else 0))
        (staging / ".complete").touch()
        shutil.rmtree(copy, ignore_errors=True)
        staging.rename(copy)
    return copy / "pgserver" / "pginstall"


SHARED_ROOT = Path("/var/lib/parcours")


def _shared_dir(kind: str, key: str) -> Path:
    """``/var/lib/parcours/<kind>-<digest of key>``, every level traversable by all."""
    SHARED_ROOT.mkdir(mode=0o755, parents=True, exist_ok=True)
    SHARED_ROOT.chmod(0o755)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return SHARED_ROOT / f"{kind}-{digest}"


def _reachable(path: Path, entry) -> bool:
    """Whether the user of pwd ``entry`` may pass through ``path`` and every parent."""
    return all(_traversable(p, entry) for p in [path, *path.parents] if p.is_dir())


def _ensure_user_exists(name: str) -> None:
    """Create system user ``name`` when missing (as ``pgserver.utils.ensure_user_exists``)."""
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "-s", "/bin/bash", name], check=True, capture_output=True)
