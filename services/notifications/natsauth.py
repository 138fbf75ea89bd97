"""Who may listen to what on NATS: users and permissions, rendered as a server config.

One account (``PARCOURS``, JetStream enabled) holds the streams; each user has
publish/subscribe permissions (see ``deploy/nats/README.md``):

- a **professional** may subscribe to their own subject and to the pools of
  their role in their zones (live), and replay them from the notifications
  stream by creating consumers through the *filtered* create API,
  ``$JS.API.CONSUMER.CREATE.<stream>.<name>.<filter>``, allowed only for those
  filters; deliveries and API replies go to their own inbox prefix
  ``_INBOX_<user>``, the only inboxes they may subscribe to. Their user name is
  ``<rpps>-<cpts>`` (``professional_user``): one RPPS may belong to several
  CPTS, and NATS refuses a configuration that names a user twice. They cannot read
  another professional's subject, another CPTS, the events stream, or fetch
  messages directly (``DIRECT.GET``/``MSG.GET`` are not allowed);
- a **coordinator** of a CPTS: the same for every notification subject of the
  CPTS (its professionals, pools and the coordinators' subject);
- a **service**: what it publishes and consumes, and the JetStream API (the
  services provision the streams at start-up).

``render`` writes the configuration text; ``parcours notifications nats-config``
renders it from the directory, and the test of ``deploy/nats`` starts a server
with it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

import msgspec

from contracts.shapes import CPTS_PATTERN, RPPS_PATTERN, ascii_identifier
from contracts.subjects import Subjects

ACCOUNT = "PARCOURS"


class NatsUser(msgspec.Struct, frozen=True, kw_only=True):
    user: str
    password: str  # plain for development/tests, or a bcrypt hash ("$2a$…") in production
    publish: tuple[str, ...] = ()
    subscribe: tuple[str, ...] = ()


def inbox_prefix(user: str) -> str:
    return f"_INBOX_{user}"


def professional_user(cpts: str, rpps: str) -> str:
    """The NATS user of a professional in one CPTS (both shapes checked: ValueError)."""
    if not ascii_identifier(rpps, RPPS_PATTERN):
        raise ValueError("an RPPS is 11 ASCII digits")
    if not ascii_identifier(cpts, CPTS_PATTERN):
        raise ValueError("a CPTS is a slug of lower-case ASCII letters, digits and '-'")
    return f"{rpps}-{cpts}"


def _consume(subjects: Subjects, filters: Iterable[str]) -> list[str]:
    stream = subjects.notifications_stream
    return [f"$JS.API.CONSUMER.CREATE.{stream}.*.{f}" for f in filters]


def professional(
    subjects: Subjects, *, cpts: str, role: str, rpps: str, zones: Sequence[str], password: str
) -> NatsUser:
    user = professional_user(cpts, rpps)
    mine = [subjects.professional(cpts, role, rpps), *(subjects.pool(cpts, role, z) for z in zones)]
    return NatsUser(
        user=user,
        password=password,
        publish=("$JS.API.INFO", *_consume(subjects, mine)),
        subscribe=(f"{inbox_prefix(user)}.>", *mine),
    )


def coordinator(subjects: Subjects, *, cpts: str, user: str, password: str) -> NatsUser:
    p = subjects.prefix
    mine = [f"{p}.{cpts}.tasks.>", f"{p}.{cpts}.pool.>", subjects.coordinators(cpts)]
    return NatsUser(
        user=user,
        password=password,
        publish=("$JS.API.INFO", *_consume(subjects, mine)),
        subscribe=(f"{inbox_prefix(user)}.>", *mine),
    )


def services(subjects: Subjects, passwords: dict[str, str]) -> list[NatsUser]:
    """The three services; ``passwords`` maps pathways/notifications/projections to secrets."""
    p, events = subjects.prefix, subjects.events_stream
    notifications = [f"{p}.*.tasks.>", f"{p}.*.pool.>", f"{p}.*.coord"]
    common_pub = ("$JS.API.>",)
    common_sub = ("_INBOX.>",)
    specs = {
        "pathways": (common_pub + (subjects.events_wildcard,), common_sub),
        "notifications": (
            common_pub + (*notifications, f"$JS.ACK.{events}.>", "$JS.FC.>"),
            common_sub,
        ),
        "projections": (common_pub + (f"$JS.ACK.{events}.>", "$JS.FC.>"), common_sub),
    }
    return [
        NatsUser(user=name, password=passwords[name], publish=pub, subscribe=sub)
        for name, (pub, sub) in specs.items()
        if name in passwords
    ]


def render(users: Sequence[NatsUser], *, comment: str = "") -> str:
    """The ``accounts`` block of a nats-server configuration (JSON strings are valid there)."""
    lines = ["# Parcours NATS users and permissions. Generated: edit the generator, not this file."]
    if comment:
        lines += [f"# {line}" for line in comment.splitlines()]
    lines += ["accounts {", f"  {ACCOUNT} {{", "    jetstream: enabled", "    users: ["]
    for u in users:
        lines += [
            "      {",
            f"        user: {json.dumps(u.user)}",
            f"        password: {json.dumps(u.password)}",
            "        permissions: {",
            f"          publish: {{ allow: {json.dumps(list(u.publish))} }}",
            f"          subscribe: {{ allow: {json.dumps(list(u.subscribe))} }}",
            "        }",
            "      }",
        ]
    lines += ["    ]", "  }", "}", ""]
    return "\n".join(lines)
