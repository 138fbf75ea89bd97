"""Settings of the MLLP listener, from ``PARCOURS_MLLP_*`` variables.

``PARCOURS_MLLP_SENDERS`` is JSON: per sender (``"APP|FACILITY"`` from MSH-3 and
MSH-4, or ``"FACILITY"``), its time zone, FINESS and qualified PID-32 statuses,
e.g. ``{"GAM|CHU-974": {"zone": "Indian/Reunion", "finess": "970401234"}}``.

TLS (optional): ``PARCOURS_MLLP_TLS_CERT`` and ``PARCOURS_MLLP_TLS_KEY`` (PEM
files) make the listener speak MLLP over TLS; ``PARCOURS_MLLP_TLS_CLIENT_CA``
also requires each hospital to present a certificate signed by that CA
(mutual TLS, as regional integration platforms usually ask).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import msgspec

from pathways.interop.hl7.pam import SenderProfile


class MllpSettings(msgspec.Struct, frozen=True, kw_only=True):
    host: str = "127.0.0.1"
    port: int = 2575
    cpts: str = "demo"  # the CPTS the hospitals of this listener report to
    senders: dict[str, SenderProfile] = {}
    max_message_bytes: int = 1024 * 1024
    max_connections: int = 256
    read_ahead: int = 8  # frames read ahead of their answer on one connection
    in_flight: int = 32  # messages being recorded at once, all connections together
    grace_seconds: float = 10.0  # on shutdown, time to answer what was read
    idle_seconds: float = 600.0  # a silent connection is closed after this
    retention_days: int = 30
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_client_ca: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> MllpSettings:
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for name in cls.__struct_fields__:
            raw = env.get(f"PARCOURS_MLLP_{name.upper()}")
            if raw is not None:
                values[name] = msgspec.json.decode(raw) if name == "senders" else raw
        return msgspec.convert(values, cls, strict=False)

    def profile(self, application: str, facility: str) -> SenderProfile:
        return (
            self.senders.get(f"{application}|{facility}")
            or self.senders.get(facility)
            or SenderProfile()
        )
