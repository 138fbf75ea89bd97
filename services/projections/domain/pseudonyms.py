"""Keyed pseudonyms for auditors.

A case is shown as ``HMAC-SHA256(k_cpts, patient_id)``, base32 without padding,
truncated to 20 characters (100 bits). ``k_cpts`` is derived per CPTS from the
service secret (``PARCOURS_PSEUDONYM_SECRET``): the same patient gets unrelated
pseudonyms in two CPTS, and nobody without the secret can link a pseudonym
back to a patient id by trying ids.

Events shown to auditors (the evidence of a case, a case's timeline) are named
by ``event_pseudonym``, keyed apart from patients: a sender's raw event id never
leaves in an audit answer, and the same event has the same name in both.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from functools import lru_cache

PSEUDONYM_LENGTH = 20


@lru_cache(maxsize=256)
def cpts_key(secret: str, cpts: str) -> bytes:
    return hmac.new(
        secret.encode(), b"parcours-pseudonym/" + cpts.encode(), hashlib.sha256
    ).digest()


def pseudonym(secret: str, cpts: str, patient_id: uuid.UUID) -> str:
    digest = hmac.new(cpts_key(secret, cpts), patient_id.bytes, hashlib.sha256).digest()
    return base64.b32encode(digest).decode().rstrip("=")[:PSEUDONYM_LENGTH]


def event_pseudonym(secret: str, cpts: str, event_id: uuid.UUID) -> str:
    return pseudonym(secret, f"{cpts}/events", event_id)
