"""``parcours notifications …``: tools of the notifications service.

``parcours notifications nats-config --out deploy/nats/generated.conf`` renders
the NATS users and permissions (``notifications.natsauth``) from the
professional directory: one user per active professional and CPTS
(``<rpps>-<cpts>``), one coordinator user per CPTS (``coord-<cpts>``) and the
three services. A directory row that cannot stand in a configuration (written
before the directory checked shapes) is left out and named on stderr: it never
stops the configuration of everyone else.
Passwords (or bcrypt hashes) come from ``--passwords FILE`` (JSON, user →
secret); users missing there get a random one, written back to that file
(mode 0600) so that the apps' credentials can be handed out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
from pathlib import Path


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("notifications", help="notifications service tools")
    sub = parser.add_subparsers(dest="action", required=True)
    p = sub.add_parser("nats-config", help="render NATS users/permissions from the directory")
    p.add_argument("--out", required=True, help="where to write the configuration")
    p.add_argument("--passwords", default="nats-passwords.json", help="JSON user → secret")
    p.set_defaults(func=cmd_nats_config)


async def _render(passwords: dict[str, str]) -> str:
    import asyncpg

    from contracts.subjects import Subjects
    from notifications import directory, natsauth
    from parcours.cli import _settings

    settings = _settings()
    subjects = Subjects(settings.nats_prefix)
    conn = await asyncpg.connect(settings.database_url)
    try:
        people = await directory.active_professionals(conn)
        cpts_list = sorted({p.cpts for p in people})
    finally:
        await conn.close()

    def secret(user: str) -> str:
        return passwords.setdefault(user, secrets.token_urlsafe(18))

    users = natsauth.services(
        subjects, {s: secret(s) for s in ("pathways", "notifications", "projections")}
    )
    users += [
        natsauth.coordinator(subjects, cpts=c, user=f"coord-{c}", password=secret(f"coord-{c}"))
        for c in cpts_list
    ]
    for n, p in enumerate(people):
        try:
            user = natsauth.professional_user(p.cpts, p.rpps)
            users.append(
                natsauth.professional(
                    subjects,
                    cpts=p.cpts,
                    role=p.task_role,
                    rpps=p.rpps,
                    zones=p.zones,
                    password=secret(user),
                )
            )
        except ValueError as exc:
            print(f"directory row {n} of CPTS {p.cpts!a} left out: {exc}", file=sys.stderr)
    return natsauth.render(users, comment=f"prefix {subjects.prefix}; {len(people)} professionals")


def cmd_nats_config(args: argparse.Namespace) -> int:
    secrets_path = Path(args.passwords)
    passwords = json.loads(secrets_path.read_text()) if secrets_path.exists() else {}
    text = asyncio.run(_render(passwords))
    Path(args.out).write_text(text)
    secrets_path.write_text(json.dumps(passwords, indent=2, sort_keys=True) + "\n")
    os.chmod(secrets_path, 0o600)
    print(f"{args.out} written; credentials in {secrets_path}")
    return 0
