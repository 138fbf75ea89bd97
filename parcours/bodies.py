"""JSON bodies at the edge: bounded nesting, strict decoding.

- **Nesting.** A fact is a few levels deep; a body nested deeper than
  ``MAX_DEPTH`` (32) is refused with 400 before any decoder recurses into it
  (100,000 nested arrays would otherwise exhaust the decoder's recursion).
- **Strictness.** Litestar converts a body leniently (``12345`` becomes an
  instant in 1970, ``"3"`` a number). Routes whose body must be exact decode it
  once more with a strict msgspec decoder of the same type in ``before_request``:
  a number where an instant is expected is a 422 naming the field.
"""

from __future__ import annotations

import array
import itertools
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import msgspec
from litestar import Request

from parcours.problems import Problem, schema_problem

MAX_DEPTH = 32
_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b"[]{}\n")


def _depth(structure: bytes) -> int:
    """The deepest nesting of a text of brackets only."""
    steps = array.array("b", structure.translate(_STEPS))
    return max(itertools.accumulate(steps), default=0)


def too_deep(body: bytes, limit: int = MAX_DEPTH, lines: bool = False) -> bool:
    """Is a JSON text (or NDJSON with ``lines``: each line on its own) nested deeper than
    ``limit``? Free for bodies with fewer brackets than ``limit``; otherwise linear, at C
    speed: escapes, then strings, then everything but brackets are dropped."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    unescaped = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    outside_strings = b"".join(unescaped.split(b'"')[::2])
    structure = outside_strings.translate(None, _NOT_STRUCTURE)
    parts = structure.split(b"\n") if lines else [structure.replace(b"\n", b"")]
    return any(_depth(part) > limit for part in parts)


def depth_problem() -> Problem:
    return Problem(
        400,
        "Nesting too deep",
        f"the JSON body is nested more than {MAX_DEPTH} levels deep",
        reason="depth",
    )


async def bounded_json(request: Request[Any, Any, Any]) -> None:
    """``before_request``: refuse a body nested deeper than ``MAX_DEPTH`` (400)."""
    ndjson = "ndjson" in request.headers.get("content-type", "") or "jsonl" in request.headers.get(
        "content-type", ""
    )
    if too_deep(await request.body(), lines=ndjson):
        raise depth_problem()


def strict_body(
    body_type: Any, accepted_types: Sequence[str] = ()
) -> Callable[[Request[Any, Any, Any]], Awaitable[None]]:
    """A ``before_request`` hook: bounded nesting, then ``body_type`` decoded strictly (422
    with the field path). ``accepted_types`` are named when the ``type`` tag is unknown."""
    decoder = msgspec.json.Decoder(body_type)
    accepted = list(accepted_types)

    async def check(request: Request[Any, Any, Any]) -> None:
        if accepted:
            request.scope.setdefault("state", {})["accepted_types"] = accepted
        body = await request.body()
        if too_deep(body):
            raise depth_problem()
        try:
            decoder.decode(body)
        except msgspec.ValidationError as exc:
            raise schema_problem(str(exc), accepted) from None
        except msgspec.DecodeError:
            pass  # malformed JSON: the framework's decoding answers it (400)

    return check
