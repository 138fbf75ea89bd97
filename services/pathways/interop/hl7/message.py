"""A small HL7 v2 (ER7) parser: segments, fields, repetitions, components, escapes.

Why our own rather than python-hl7 or hl7apy: the mapping needs only positional
access and exact error locations (segment, sequence, field, component) for the
ERR segment of an acknowledgement, which takes about a hundred lines; it keeps
the hot path free of a dependency whose parse builds a full object tree per
message. python-hl7 stays on the test side as an independent MLLP client, so the
system tests do not check our parser against itself.

Positions follow HL7: fields from 1 (``MSH-1`` is the field separator itself),
repetitions from 0, components and subcomponents from 1.
"""

from __future__ import annotations

from dataclasses import dataclass

SEGMENT_NAME_LENGTH = 3


class Hl7ParseError(ValueError):
    """The bytes are not an HL7 v2 message; ``location`` names where it went wrong."""

    def __init__(self, reason: str, segment: str = "MSH", sequence: int = 1, field: int = 0):
        super().__init__(reason)
        self.reason, self.segment, self.sequence, self.field = reason, segment, sequence, field


@dataclass(frozen=True, slots=True)
class Encoding:
    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"

    def unescape(self, text: str) -> str:
        e = self.escape
        if not e or e not in text:
            return text
        table = {
            "F": self.field,
            "S": self.component,
            "R": self.repetition,
            "E": self.escape,
            "T": self.subcomponent,
        }
        out, i = [], 0
        while i < len(text):
            j = text.find(e, i + 1) if text[i] == e else -1
            if j > i:
                code = text[i + 1 : j]
                if code in table:
                    out.append(table[code])
                elif code.startswith("X") and len(code) % 2 == 1:
                    out.append(bytes.fromhex(code[1:]).decode("latin-1", "replace"))
                # other escapes (highlighting, formatting) carry nothing for us
                i = j + 1
            else:
                out.append(text[i])
                i += 1
        return "".join(out)


@dataclass(frozen=True, slots=True)
class Segment:
    name: str
    fields: tuple[str, ...]  # fields[0] is the name; fields[n] is field n (raw)
    encoding: Encoding
    sequence: int  # 1-based occurrence of this segment name in the message

    def raw(self, field: int) -> str:
        return self.fields[field] if 0 < field < len(self.fields) else ""

    def repetitions(self, field: int) -> list[str]:
        raw = self.raw(field)
        if self.name == "MSH" and field <= 2:
            return [raw]
        return raw.split(self.encoding.repetition) if raw else []

    def value(self, field: int, component: int = 1, sub: int = 1, rep: int = 0) -> str:
        """One unescaped value; '' when absent. ``""`` (HL7 null) also reads as ''."""
        reps = self.repetitions(field)
        return component_of(reps[rep], self.encoding, component, sub) if rep < len(reps) else ""


def component_of(repetition: str, enc: Encoding, component: int = 1, sub: int = 1) -> str:
    comps = repetition.split(enc.component)
    if component > len(comps):
        return ""
    subs = comps[component - 1].split(enc.subcomponent)
    if sub > len(subs):
        return ""
    value = subs[sub - 1]
    return "" if value == '""' else enc.unescape(value)


@dataclass(frozen=True, slots=True)
class Hl7Message:
    segments: tuple[Segment, ...]

    @property
    def msh(self) -> Segment:
        return self.segments[0]

    def first(self, name: str) -> Segment | None:
        return next((s for s in self.segments if s.name == name), None)

    def all(self, name: str) -> list[Segment]:
        return [s for s in self.segments if s.name == name]


def parse(text: str) -> Hl7Message:
    """Parse one message (segments separated by CR; LF and CRLF tolerated)."""
    lines = [s for s in text.replace("\r\n", "\r").replace("\n", "\r").split("\r") if s.strip()]
    if not lines or not lines[0].startswith("MSH") or len(lines[0]) < 8:
        raise Hl7ParseError("the message does not start with an MSH segment")
    head = lines[0]
    sep = head[3]
    chars = head[4:].split(sep, 1)[0]
    if len(chars) < 4 or sep.isalnum() or len(set(chars[:4] + sep)) != 5:
        raise Hl7ParseError("MSH-2 must hold four distinct encoding characters", field=2)
    enc = Encoding(sep, chars[0], chars[1], chars[2], chars[3])
    counts: dict[str, int] = {}
    segments = []
    for line in lines:
        name = line[:SEGMENT_NAME_LENGTH]
        if not (name.isalnum() and name[:1].isalpha() and name.upper() == name):
            raise Hl7ParseError(
                "a segment name must be three upper-case letters or digits",
                segment=name or "?",
                sequence=counts.get(name, 0) + 1,
            )
        if len(line) > SEGMENT_NAME_LENGTH and line[SEGMENT_NAME_LENGTH] != sep:
            raise Hl7ParseError(
                "a segment name must be followed by the field separator", segment=name
            )
        counts[name] = counts.get(name, 0) + 1
        if name == "MSH":
            if counts[name] > 1:
                raise Hl7ParseError("only one MSH segment per message", segment=name, sequence=2)
            rest = line[SEGMENT_NAME_LENGTH + 1 :].split(sep)
            fields = ("MSH", sep, *rest)
        else:
            fields = tuple(line.split(sep))
        segments.append(Segment(name, fields, enc, counts[name]))
    return Hl7Message(tuple(segments))


def charset_of(data: bytes) -> str:
    """The Python codec for MSH-18 (PAM FR uses ``UNICODE UTF-8`` or ``8859/1``)."""
    head = data.split(b"\r", 1)[0].split(b"\n", 1)[0]
    if len(head) < 4:
        return "utf-8"
    parts = head.split(head[3:4])
    declared = parts[17].split(b"^")[0].strip().upper() if len(parts) > 17 else b""
    if declared.startswith(b"8859"):
        return "latin-1"
    return "utf-8"


def decode(data: bytes) -> str:
    """The text of a message: its declared charset, Latin-1 when UTF-8 does not fit."""
    codec = charset_of(data)
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        return data.decode("latin-1")
