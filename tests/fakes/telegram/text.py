"""Text bookkeeping shared by the markup parsers and the request checks.

Telegram counts entity offsets and length limits in UTF-16 code units, and reports parse errors
at UTF-8 byte offsets; these helpers keep both straight.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.fakes.telegram.models import JSONDict

_TRIM_CHARS = " \t\n\r\x0b\x0c"


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units, the unit Telegram counts offsets and limits in."""
    return len(text.encode("utf-16-le")) // 2


def byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


class TextBuilder:
    """Accumulates parsed text while tracking its UTF-16 length (entity offsets)."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self.u16 = 0

    def add(self, chunk: str) -> None:
        if chunk:
            self._parts.append(chunk)
            self.u16 += utf16_len(chunk)

    def text(self) -> str:
        return "".join(self._parts)


def sort_entities(entities: list[JSONDict]) -> list[JSONDict]:
    return sorted(entities, key=lambda e: (e["offset"], -e["length"]))


@dataclass
class OpenTag:
    name: str
    entity_type: str | None
    start: int
    byte: int
    extra: JSONDict = field(default_factory=dict)


def trim_whitespace(text: str, entities: list[JSONDict]) -> tuple[str, list[JSONDict]]:
    """Telegram strips leading/trailing whitespace from texts and clips entities accordingly."""
    stripped = text.strip(_TRIM_CHARS)
    if stripped == text:
        return text, entities
    if not stripped:
        return "", []
    lead = len(text) - len(text.lstrip(_TRIM_CHARS))  # whitespace is BMP: chars == UTF-16 units
    new_len = utf16_len(stripped)
    result: list[JSONDict] = []
    for entity in entities:
        start = max(entity["offset"] - lead, 0)
        end = min(entity["offset"] + entity["length"] - lead, new_len)
        if end > start:
            result.append({**entity, "offset": start, "length": end - start})
    return stripped, result
