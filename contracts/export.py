"""Export the contracts: JSON Schema for every event and command, AsyncAPI 3.0 for NATS.

``parcours contracts export`` writes them into ``contracts/schema/``; a test
fails when the committed files differ from what the code exports.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import msgspec

from contracts.events import ALL_PAYLOADS, Envelope
from contracts.facts import INBOUND_FACTS
from contracts.notifications import Notification
from contracts.subjects import Subjects

SCHEMA_DIR = Path(__file__).parent / "schema"


def normalised(node: Any) -> Any:
    """What the library formats, made the same across its versions.

    msgspec copies docstrings into ``description`` (dedented since 0.23, as is
    before): ``inspect.cleandoc`` gives one text either way.
    """
    if isinstance(node, dict):
        return {
            key: inspect.cleandoc(value)
            if key in ("description", "title") and isinstance(value, str)
            else normalised(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [normalised(item) for item in node]
    return node


def asyncapi_schema(node: Any) -> Any:
    """A JSON Schema made an AsyncAPI 3 Schema Object.

    AsyncAPI's ``discriminator`` is a property name (a string), not OpenAPI's
    object with a mapping; the tagged unions already say which member applies
    through each member's ``const`` tag, so the OpenAPI-style objects go.
    """
    if isinstance(node, dict):
        return {
            key: asyncapi_schema(value)
            for key, value in node.items()
            if not (key == "discriminator" and isinstance(value, dict))
        }
    if isinstance(node, list):
        return [asyncapi_schema(item) for item in node]
    return node


def event_schemas() -> dict[str, Any]:
    (refs, components) = msgspec.json.schema_components(
        [Envelope, *ALL_PAYLOADS], ref_template="#/$defs/{name}"
    )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Parcours events",
        "description": "Every stored event: the envelope and each payload, tagged by `type`.",
        "$defs": components,
        "oneOf": refs[1:],
    }


def fact_body_schemas() -> dict[str, Any]:
    (refs, components) = msgspec.json.schema_components(
        list(INBOUND_FACTS.values()), ref_template="#/$defs/{name}"
    )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Parcours fact bodies (POST /v1/facts)",
        "$defs": components,
        "oneOf": refs,
    }


def asyncapi(extra_messages: dict[str, Any] | None = None) -> dict[str, Any]:
    s = Subjects()
    envelope_ref = {"$ref": "#/components/schemas/Envelope"}
    (_, components) = msgspec.json.schema_components(
        [Envelope, Notification], ref_template="#/components/schemas/{name}"
    )
    notification = {"notification": {"$ref": "#/components/messages/Notification"}}
    channels = {
        "events": {
            "address": f"{s.prefix}.{{cpts}}.events.{{category}}",
            "description": (
                "Every committed event, in commit order, published by the relay "
                f"(JetStream stream {s.events_stream}; Nats-Msg-Id = a UUID of the CPTS and event id)."
            ),
            "parameters": {
                "cpts": {"description": "the CPTS (tenant)"},
                "category": {"enum": ["fact", "task", "enrolment", "access"]},
            },
            "messages": {"event": {"$ref": "#/components/messages/Event"}},
        },
        "professional": {
            "address": f"{s.prefix}.{{cpts}}.tasks.{{role}}.{{rpps}}",
            "description": "Task notifications for one professional "
            f"(stream {s.notifications_stream}, replayable).",
            "parameters": {"cpts": {}, "role": {}, "rpps": {}},
            "messages": notification,
        },
        "pool": {
            "address": f"{s.prefix}.{{cpts}}.pool.{{role}}.{{zone}}",
            "description": "Task notifications for the pool of a role in a zone.",
            "parameters": {
                "cpts": {},
                "role": {},
                "zone": {
                    "description": "contracts.notifications.zone_token of the patient's zone, or the CPTS sector"
                },
            },
            "messages": notification,
        },
        "coordinators": {
            "address": f"{s.prefix}.{{cpts}}.coord",
            "description": "Escalations and alerts for the CPTS coordinators.",
            "parameters": {"cpts": {}},
            "messages": notification,
        },
    }
    doc: dict[str, Any] = {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Parcours NATS API",
            "version": "0.1.0",
            "description": "Subjects of the Parcours JetStream streams.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": {
            "receiveEvents": {"action": "receive", "channel": {"$ref": "#/channels/events"}},
            **{
                f"receive{name.capitalize()}Notifications": {
                    "action": "receive",
                    "channel": {"$ref": f"#/channels/{name}"},
                    "description": "Replayable: create a consumer with deliver_policy "
                    "by_start_sequence from the last sequence seen + 1 (see deploy/nats).",
                }
                for name in ("professional", "pool", "coordinators")
            },
        },
        "components": {
            "messages": {
                "Event": {
                    "name": "Event",
                    "headers": {
                        "type": "object",
                        "properties": {
                            "Nats-Msg-Id": {"type": "string", "format": "uuid"},
                            "Parcours-Correlation-Id": {"type": "string"},
                            "Parcours-Event-Type": {"type": "string"},
                        },
                    },
                    "payload": envelope_ref,
                },
                "Notification": {
                    "name": "Notification",
                    "summary": "A line for a professional's app: task, kind, window, status, "
                    "patient reference (internal id, never identity).",
                    "headers": {
                        "type": "object",
                        "properties": {
                            "Nats-Msg-Id": {
                                "type": "string",
                                "description": "= notification_id (dedup key)",
                            },
                            "Parcours-Notification-Kind": {"type": "string"},
                        },
                    },
                    "payload": {"$ref": "#/components/schemas/Notification"},
                },
                **(extra_messages or {}),
            },
            "schemas": asyncapi_schema(components),
        },
    }
    return doc


def export(out: str | Path | None = None) -> list[Path]:
    folder = Path(out) if out else SCHEMA_DIR
    folder.mkdir(parents=True, exist_ok=True)
    documents = {
        "events.schema.json": event_schemas(),
        "facts.schema.json": fact_body_schemas(),
        "asyncapi.json": asyncapi(),
    }
    written = []
    for name, doc in documents.items():
        path = folder / name
        path.write_text(
            json.dumps(normalised(doc), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        )
        written.append(path)
    return written
