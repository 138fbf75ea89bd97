"""What both embedded servers share: a child process on a port of its own, stopped
at exit or when this process dies (see the package docstring)."""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Self

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


# --- servers still running at exit are stopped, whatever the test or command did
_LIVE: set[_ChildServer] = set()


@atexit.register
def _stop_all() -> None:
    for server in list(_LIVE):
        with contextlib.suppress(Exception):
            server.stop(timeout=10)
