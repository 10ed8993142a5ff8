"""Messages as Telegram sees them: text measured in UTF-16, entities attached to it.

Everything that cuts, joins or trims a message goes through here, so entity offsets stay
valid whatever happens to the text around them.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import TypeAlias

from telegram import MessageEntity

MAX_MESSAGE_LEN = 4096
# Telegram silently ignores formatting past the 100th entity of a message, so a message
# carrying more is cut earlier instead: the reader then sees every bit of formatting.
MAX_ENTITIES_PER_MESSAGE = 100
# The total size of a message's entities is limited too ("Entities_too_long"); only link
# URLs can make that large, so their combined length per message is kept well below it.
MAX_LINK_URL_CHARS_PER_MESSAGE = 2000


@dataclass(frozen=True)
class OutgoingText:
    text: str
    # Offsets and lengths in UTF-16 code units; the text is sent with no parse_mode.
    entities: tuple[MessageEntity, ...]


# --- Text measurement and cleaning ---------------------------------------------------------


def utf16_len(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (an emoji outside the BMP counts 2)."""
    # surrogatepass: a lone surrogate must count, not raise.
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def utf16_table(text: str) -> list[int]:
    """table[i] is the UTF-16 offset of text[i]; table[len(text)] is the total length."""
    return [0, *accumulate(2 if ord(ch) > 0xFFFF else 1 for ch in text)]


_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def sanitize_chars(text: str) -> str:
    """Make text sendable without changing its UTF-16 length, so entity offsets stay valid.

    A lone surrogate (possible from JSON) cannot be encoded for the request at all, and
    Telegram drops or rewrites control characters server-side, which would shift every
    entity after them.
    """
    if text.isascii() and not _CONTROL_CHARS.search(text):
        return text
    text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    # A CR before LF becomes a space (invisible, trimmed); a lone CR was a line break.
    text = text.replace("\r\n", " \n").replace("\r", "\n")
    return _CONTROL_CHARS.sub(" ", text)


def clean_text(value: object) -> str:
    """Any incoming value as clean text, line endings normalised (offsets not yet computed)."""
    try:
        text = value if isinstance(value, str) else str(value)
    except Exception:
        return ""
    return sanitize_chars(text.replace("\r\n", "\n"))


# --- Entities --------------------------------------------------------------------------------

# (start, end, template) in code-point indices of the text; the template carries type, url...
Span: TypeAlias = tuple[int, int, MessageEntity]


def entity_at(template: MessageEntity, offset: int, length: int) -> MessageEntity:
    return MessageEntity(
        type=template.type,
        offset=offset,
        length=length,
        url=template.url,
        language=template.language,
        custom_emoji_id=template.custom_emoji_id,
    )


def entity_spans(entities: Iterable[MessageEntity], table: Sequence[int]) -> list[Span]:
    """Entities as code-point spans, clamped to the text; empty ones are dropped."""
    total = table[-1]
    spans: list[Span] = []
    for ent in entities:
        start_u16 = min(max(int(ent.offset), 0), total)
        end_u16 = min(max(int(ent.offset) + int(ent.length), 0), total)
        start = bisect_left(table, start_u16)
        if table[start] != start_u16:  # inside a surrogate pair: widen to the whole char
            start -= 1
        end = bisect_left(table, end_u16)
        if start < end:
            spans.append((start, end, ent))
    spans.sort(key=lambda span: (span[0], -span[1]))
    return spans


def slice_message(
    text: str, table: Sequence[int], spans: Sequence[Span], lo: int, hi: int
) -> OutgoingText:
    """text[lo:hi] with the spans clipped to it and rebased, so formatting crosses cuts."""
    base = table[lo]
    entities: list[MessageEntity] = []
    for start, end, template in spans:
        if start >= hi:
            break
        if end <= lo:
            continue
        clip_start, clip_end = max(start, lo), min(end, hi)
        length = table[clip_end] - table[clip_start]
        if length > 0:
            entities.append(entity_at(template, table[clip_start] - base, length))
    return OutgoingText(text[lo:hi], tuple(entities))


def _shift(entities: Iterable[MessageEntity], by: int) -> list[MessageEntity]:
    return [entity_at(e, e.offset + by, e.length) for e in entities]


def concat(first: OutgoingText, second: OutgoingText, separator: str) -> OutgoingText:
    head = first.text + separator
    return OutgoingText(
        head + second.text, (*first.entities, *_shift(second.entities, utf16_len(head)))
    )


def strip_message(message: OutgoingText) -> OutgoingText:
    text = message.text
    lo, hi = 0, len(text)
    while lo < hi and text[lo].isspace():
        lo += 1
    while hi > lo and text[hi - 1].isspace():
        hi -= 1
    if (lo, hi) == (0, len(text)):
        return message
    table = utf16_table(text)
    return slice_message(text, table, entity_spans(message.entities, table), lo, hi)


_QUOTES = frozenset({MessageEntity.BLOCKQUOTE, MessageEntity.EXPANDABLE_BLOCKQUOTE})


def _nesting_kind(entity: MessageEntity) -> tuple[object, ...]:
    if entity.type in _QUOTES:
        return (MessageEntity.BLOCKQUOTE,)  # no block quote may be inside another, of any kind
    return (entity.type, entity.url, entity.language, entity.custom_emoji_id)


def drop_redundant(entities: Iterable[MessageEntity]) -> tuple[MessageEntity, ...]:
    """The entities less those inside another of the same kind, sorted by position.

    Bold inside bold looks like bold, and Telegram refuses a block quote inside another, so
    they add nothing but count: deeply nested emphasis or quotes in the Markdown otherwise
    make messages of thousands of entities, of which Telegram shows the first 100.
    """
    reach: dict[tuple[object, ...], int] = {}  # kind -> furthest end kept so far
    kept: list[MessageEntity] = []
    for entity in sorted(entities, key=lambda e: (e.offset, -e.length)):
        kind = _nesting_kind(entity)
        end = entity.offset + entity.length
        # Sorted by start, the kept entity reaching furthest starts no later: it holds this one.
        if end <= reach.get(kind, -1):
            continue
        reach[kind] = end
        kept.append(entity)
    return tuple(kept)


def within_budget(message: OutgoingText) -> OutgoingText:
    """The message with its entities cut down to what Telegram shows: the first 100, and
    link URLs up to their combined limit. Outer entities come first, so what is lost is the
    innermost formatting. Only text too deeply formatted for any cut to help needs it."""
    if _within_budget(message.entities):
        return message
    kept: list[MessageEntity] = []
    url_chars = 0
    for entity in message.entities:
        if len(kept) == MAX_ENTITIES_PER_MESSAGE:
            break
        if url_chars + len(entity.url or "") > MAX_LINK_URL_CHARS_PER_MESSAGE:
            continue
        url_chars += len(entity.url or "")
        kept.append(entity)
    return OutgoingText(message.text, tuple(kept))


def _within_budget(entities: Sequence[MessageEntity]) -> bool:
    if len(entities) > MAX_ENTITIES_PER_MESSAGE:
        return False
    return sum(len(e.url or "") for e in entities) <= MAX_LINK_URL_CHARS_PER_MESSAGE


def fits(message: OutgoingText, max_len: int) -> bool:
    return utf16_len(message.text) <= max_len and _within_budget(message.entities)
