"""Turn a finished Intron job into Telegram messages that Telegram cannot reject.

Everything goes out as plain text plus explicit entities (never a parse mode), because
Intron's Markdown is written by an LLM: one stray `_` or `<` would make Telegram refuse a
whole message under MarkdownV2 or HTML. The guarantees, in order of importance:

1. no character of content is lost (the converter's silent drops are prevented or detected);
2. Telegram accepts every message (length, entity ranges, link URLs, entity count);
3. formatting survives where it can, including across message boundaries.

This module never logs and never touches the network: transcripts are medical data.
"""

from __future__ import annotations

import json
import re
import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import accumulate
from typing import Any, TypeAlias
from urllib.parse import urlsplit

import telegramify_markdown
from telegram import MessageEntity

from bot.options import RESULT_LABELS, TRANSCRIPT_LABEL, readable_name

MAX_MESSAGE_LEN = 4096
# Telegram silently ignores formatting past the 100th entity of a message, so a message
# carrying more is cut earlier instead: the reader then sees every bit of formatting.
MAX_ENTITIES_PER_MESSAGE = 100
# The total size of a message's entities is limited too ("Entities_too_long"); only link
# URLs can make that large, so their combined length per message is kept well below it.
MAX_LINK_URL_CHARS_PER_MESSAGE = 2000
MAX_LINK_URL_LEN = 2000

NO_SPEECH = "(no speech recognised)"
UNKNOWN_RESULT_PREFIX = "🔹 "
SECTION_SEPARATOR = "\n\n"
RESULT_PREFIX = "transcript_"
FILENAME_FALLBACK = "transcript"
FILENAME_MAX_LEN = 40

# The entity types a bot can send in a message. Anything else the converter might produce
# (mentions, dates, custom emoji, which need a Fragment username) is dropped: it is
# formatting only, and an unusable entity can make Telegram refuse the message.
_SENDABLE_TYPES = frozenset(
    {
        MessageEntity.BOLD,
        MessageEntity.ITALIC,
        MessageEntity.UNDERLINE,
        MessageEntity.STRIKETHROUGH,
        MessageEntity.SPOILER,
        MessageEntity.CODE,
        MessageEntity.PRE,
        MessageEntity.TEXT_LINK,
        MessageEntity.BLOCKQUOTE,
        MessageEntity.EXPANDABLE_BLOCKQUOTE,
    }
)


@dataclass(frozen=True)
class OutgoingText:
    text: str
    # Offsets and lengths in UTF-16 code units; the text is sent with no parse_mode.
    entities: tuple[MessageEntity, ...]


@dataclass(frozen=True)
class ReportDocument:
    filename: str
    content: bytes


@dataclass(frozen=True)
class RenderedReport:
    messages: tuple[OutgoingText, ...]
    document: ReportDocument | None


# --- Text measurement and cleaning ---------------------------------------------------------


def utf16_len(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (an emoji outside the BMP counts 2)."""
    # surrogatepass: a lone surrogate must count, not raise.
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _utf16_table(text: str) -> list[int]:
    """table[i] is the UTF-16 offset of text[i]; table[len(text)] is the total length."""
    return [0, *accumulate(2 if ord(ch) > 0xFFFF else 1 for ch in text)]


_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _sanitize_chars(text: str) -> str:
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


def _clean(value: object) -> str:
    """Any incoming value as clean text, line endings normalised (offsets not yet computed)."""
    try:
        text = value if isinstance(value, str) else str(value)
    except Exception:
        return ""
    return _sanitize_chars(text.replace("\r\n", "\n"))


# Characters Telegram treats as "empty": a message made only of them is refused.
_BLANK_EXTRA = frozenset("\u115f\u1160\u180e\u2800\u3164\uffa0")
_BLANK_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})


def _is_blank_char(ch: str) -> bool:
    return ch.isspace() or ch in _BLANK_EXTRA or unicodedata.category(ch) in _BLANK_CATEGORIES


def _has_visible(text: str) -> bool:
    return any(not _is_blank_char(ch) for ch in text)


# --- Entities --------------------------------------------------------------------------------

# (start, end, template) in code-point indices of the text; the template carries type, url...
_Span: TypeAlias = tuple[int, int, MessageEntity]


def _entity(template: MessageEntity, offset: int, length: int) -> MessageEntity:
    return MessageEntity(
        type=template.type,
        offset=offset,
        length=length,
        url=template.url,
        language=template.language,
        custom_emoji_id=template.custom_emoji_id,
    )


def _spans(entities: Iterable[MessageEntity], table: Sequence[int]) -> list[_Span]:
    """Entities as code-point spans, clamped to the text; empty ones are dropped."""
    total = table[-1]
    spans: list[_Span] = []
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


def _slice(
    text: str, table: Sequence[int], spans: Sequence[_Span], lo: int, hi: int
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
            entities.append(_entity(template, table[clip_start] - base, length))
    return OutgoingText(text[lo:hi], tuple(entities))


def _shift(entities: Iterable[MessageEntity], by: int) -> list[MessageEntity]:
    return [_entity(e, e.offset + by, e.length) for e in entities]


def _concat(first: OutgoingText, second: OutgoingText, separator: str) -> OutgoingText:
    head = first.text + separator
    return OutgoingText(
        head + second.text, (*first.entities, *_shift(second.entities, utf16_len(head)))
    )


def _strip(message: OutgoingText) -> OutgoingText:
    text = message.text
    lo, hi = 0, len(text)
    while lo < hi and text[lo].isspace():
        lo += 1
    while hi > lo and text[hi - 1].isspace():
        hi -= 1
    if (lo, hi) == (0, len(text)):
        return message
    table = _utf16_table(text)
    return _slice(text, table, _spans(message.entities, table), lo, hi)


def _within_budget(entities: Sequence[MessageEntity]) -> bool:
    if len(entities) > MAX_ENTITIES_PER_MESSAGE:
        return False
    return sum(len(e.url or "") for e in entities) <= MAX_LINK_URL_CHARS_PER_MESSAGE


def _fits(message: OutgoingText, max_len: int) -> bool:
    return utf16_len(message.text) <= max_len and _within_budget(message.entities)


# --- Splitting ------------------------------------------------------------------------------

_PARAGRAPH_BREAK = re.compile(r"\n[^\S\n]*\n")
# Latin-style ends need the space after them ("3.5 mg" is no end); CJK ones have none.
_SENTENCE_END = re.compile(r"[.!?…।؟][\"'”’»)\]]*(?=\s)|[。！？][」』”）]*")
_ZWJ = "\u200d"


def _paragraph_cut(text: str, lo: int, hi: int) -> int | None:
    pos = text.rfind("\n", lo, hi + 1)
    while pos != -1:
        if _PARAGRAPH_BREAK.match(text, pos):
            return pos
        pos = text.rfind("\n", lo, pos)
    return None


def _line_cut(text: str, lo: int, hi: int) -> int | None:
    pos = text.rfind("\n", lo, hi + 1)
    return None if pos == -1 else pos


def _sentence_cut(text: str, lo: int, hi: int) -> int | None:
    # The cut goes just after the punctuation, on the whitespace that follows it.
    best = None
    for match in _SENTENCE_END.finditer(text, max(lo - 8, 0), hi + 1):
        if lo <= match.end() <= hi:
            best = match.end()
    return best


def _space_cut(text: str, lo: int, hi: int) -> int | None:
    for pos in range(min(hi, len(text) - 1), lo - 1, -1):
        if text[pos].isspace():
            return pos
    return None


def _joins_previous(ch: str) -> bool:
    """Whether ch belongs to the character before it (accents, emoji modifiers, ZWJ...)."""
    code = ord(ch)
    return (
        unicodedata.category(ch) in ("Mn", "Mc", "Me")
        or ch == _ZWJ
        or 0xFE00 <= code <= 0xFE0F
        or 0x1F3FB <= code <= 0x1F3FF
        or 0xE0020 <= code <= 0xE007F
    )


def _is_regional_indicator(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF


def _hard_cut(text: str, start: int, limit: int) -> int:
    """The cut at the length limit, moved back (a little) so it splits no visible character.

    Python strings index code points, so the cut can never fall inside a surrogate pair.
    """
    pos = limit
    for _ in range(32):
        if pos <= start + 1:
            return limit
        if _joins_previous(text[pos]) or text[pos - 1] == _ZWJ:
            pos -= 1
            continue
        if _is_regional_indicator(text[pos]) and _is_regional_indicator(text[pos - 1]):
            run = 0
            while pos - 1 - run >= start and _is_regional_indicator(text[pos - 1 - run]):
                run += 1
            if run % 2:  # text[pos - 1] opens a flag that text[pos] closes
                pos -= 1
                continue
        return pos
    return limit


_Finder: TypeAlias = Callable[[str, int, int], int | None]
_CUT_FINDERS: tuple[_Finder, ...] = (_paragraph_cut, _line_cut, _sentence_cut, _space_cut)


# (a, b): no cut may fall at a position c with a < c <= b, e.g. right after a section label.
_Glue: TypeAlias = Sequence[tuple[int, int]]


def _find_outside_glue(finder: _Finder, text: str, lo: int, hi: int, glue: _Glue) -> int | None:
    while lo <= hi:
        cut = finder(text, lo, hi)
        if cut is None:
            return None
        held = next((a for a, b in glue if a < cut <= b), None)
        if held is None:
            return cut
        hi = held
    return None


def _choose_cut(
    text: str, table: Sequence[int], start: int, limit: int, max_len: int, glue: _Glue = ()
) -> int:
    """Where the part that starts at `start` ends; the part is text[start:cut], cut <= limit.

    Breaks in the first eighth of the window are tried last: a cut there would send a
    nearly empty message.
    """
    min_fill = max(bisect_left(table, table[start] + max_len // 8), start + 1)
    for lo in dict.fromkeys((min_fill, start + 1)):
        if lo > limit:
            continue
        for finder in _CUT_FINDERS:
            cut = _find_outside_glue(finder, text, lo, limit, glue)
            if cut is not None:
                return cut
    return _hard_cut(text, start, limit)


def _budget_cap(spans: Sequence[_Span], start: int) -> int | None:
    """The furthest position a part starting at `start` may reach under the entity budget."""
    count = urls = 0
    for span_start, span_end, template in spans:
        if span_end <= start:
            continue
        count += 1
        urls += len(template.url or "")
        if count > MAX_ENTITIES_PER_MESSAGE or urls > MAX_LINK_URL_CHARS_PER_MESSAGE:
            # When the entities over budget already cover `start`, no cut can help.
            return span_start if span_start > start else None
    return None


def _part_ranges(
    text: str, table: Sequence[int], spans: Sequence[_Span], max_len: int, glue: _Glue = ()
) -> list[tuple[int, int]]:
    size = len(text)
    ranges: list[tuple[int, int]] = []
    start = 0
    while start < size and text[start].isspace():
        start += 1
    while start < size:
        limit = min(bisect_right(table, table[start] + max_len) - 1, size)
        cap = _budget_cap(spans, start)
        if cap is not None:
            limit = min(limit, cap)
        cut = size if limit >= size else _choose_cut(text, table, start, limit, max_len, glue)
        end = cut
        while end > start and text[end - 1].isspace():
            end -= 1
        if end > start:
            ranges.append((start, end))
        start = max(cut, start + 1)
        while start < size and text[start].isspace():
            start += 1
    return _merge_invisible(text, table, ranges, max_len)


def _merge_invisible(
    text: str, table: Sequence[int], ranges: list[tuple[int, int]], max_len: int
) -> list[tuple[int, int]]:
    """Join a part made only of invisible characters to a neighbour: alone, it is refused."""
    merged = list(ranges)
    index = 0
    while index < len(merged) and len(merged) > 1:
        lo, hi = merged[index]
        if _has_visible(text[lo:hi]):
            index += 1
            continue
        if index > 0 and table[hi] - table[merged[index - 1][0]] <= max_len:
            merged[index - 1 : index + 1] = [(merged[index - 1][0], hi)]
            continue
        if index + 1 < len(merged) and table[merged[index + 1][1]] - table[lo] <= max_len:
            merged[index : index + 2] = [(lo, merged[index + 1][1])]
            continue
        index += 1
    return merged


def _plain_chunks(text: str, max_len: int) -> list[OutgoingText]:
    """Last-resort split by length alone, for input too broken for the real splitter."""
    chunks: list[OutgoingText] = []
    current: list[str] = []
    used = 0
    for ch in text:
        width = 2 if ord(ch) > 0xFFFF else 1
        if used + width > max_len and current:
            chunks.append(OutgoingText("".join(current), ()))
            current, used = [], 0
        current.append(ch)
        used += width
    if current:
        chunks.append(OutgoingText("".join(current), ()))
    return [OutgoingText(c.text.strip(), ()) for c in chunks if c.text.strip()]


def split_text(message: OutgoingText, max_len: int = MAX_MESSAGE_LEN) -> list[OutgoingText]:
    """Cut a message into parts Telegram accepts, in order, losing no visible character.

    Cuts go at the last paragraph break that fits, else line break, sentence end, space,
    else at the limit itself. Whitespace at the cut edges is dropped; entities crossing a
    cut are clipped into both parts.
    """
    return _split(message, max_len)


def _split(message: OutgoingText, max_len: int, glue: _Glue = ()) -> list[OutgoingText]:
    # A character can be 2 units wide: below that no part could hold it.
    max_len = max(int(max_len), 2)
    try:
        text = _sanitize_chars(message.text)
        table = _utf16_table(text)
        spans = _spans(message.entities, table)
        return [
            _slice(text, table, spans, lo, hi)
            for lo, hi in _part_ranges(text, table, spans, max_len, glue)
        ]
    except Exception:
        # Only reachable with malformed entities; losing formatting beats losing the text.
        return _plain_chunks(_clean(getattr(message, "text", "")), max_len)


# --- Markdown results ------------------------------------------------------------------------

# Characters the converter would silently turn into nothing: `<` starts HTML (dropped, with
# whole blocks of text after it), `&` starts entity references, `$` math, `||` spoilers
# (which hide text), and a line starting `[label]:` is a link definition (dropped).
_RISKY_CHARS = frozenset("<&$")
_LINK_DEFINITION = re.compile(
    r"^(?:[ \t]*(?:>|[-+*](?=[ \t])|\d{1,9}[.)](?=[ \t])))*[ \t]*(\[)(?:[^\]\\\n]|\\.)*\]:",
    re.MULTILINE,
)
_NEUTRAL = "\x01"  # one UTF-8 byte like every escaped char, and inert in Markdown


def _is_escaped(text: str, pos: int) -> bool:
    backslashes = 0
    while pos - 1 - backslashes >= 0 and text[pos - 1 - backslashes] == "\\":
        backslashes += 1
    return backslashes % 2 == 1


def _escape_candidates(text: str) -> list[int]:
    positions = {m.start(1) for m in _LINK_DEFINITION.finditer(text)}
    for pos, ch in enumerate(text):
        if ch in _RISKY_CHARS or (
            ch == "|"
            and (
                (pos > 0 and text[pos - 1] == "|") or (pos + 1 < len(text) and text[pos + 1] == "|")
            )
        ):
            positions.add(pos)
    return sorted(p for p in positions if not _is_escaped(text, p))


def _parser_options() -> Any:
    # pyromark is telegramify-markdown's parser, not a dependency of ours: imported here so
    # that without it only code detection is lost (see _protect), not the whole bot.
    import pyromark

    try:
        from telegramify_markdown.converter import STANDARD_OPTIONS

        return STANDARD_OPTIONS
    except ImportError:
        options = pyromark.Options
        return (
            options.ENABLE_TABLES
            | options.ENABLE_STRIKETHROUGH
            | options.ENABLE_TASKLISTS
            | options.ENABLE_MATH
        )


def _code_byte_ranges(text: str) -> list[tuple[int, int]]:
    """UTF-8 byte ranges that the converter's parser reads as code (kept verbatim there)."""
    import pyromark

    ranges: list[tuple[int, int]] = []
    for payload, source_range in pyromark.events_with_range(text, options=_parser_options()):
        if not isinstance(payload, dict):
            continue
        start = payload.get("Start")
        if (isinstance(start, dict) and "CodeBlock" in start) or "Code" in payload:
            ranges.append((source_range["start"], source_range["end"]))
    return ranges


def _protect(markdown: str) -> str:
    """Backslash-escape what the converter would drop, except inside code (shown verbatim)."""
    candidates = _escape_candidates(markdown)
    if not candidates:
        return markdown
    chars = list(markdown)
    for pos in candidates:
        chars[pos] = _NEUTRAL
    # Code is located in the text as it will parse once escaped: HTML can hide code spans
    # and swallow indented blocks, and escaping removes all HTML.
    neutral = "".join(chars)
    try:
        ranges = sorted(_code_byte_ranges(neutral))
    except Exception:
        ranges = []  # escaping code too only shows a backslash there; nothing is lost
    byte_at = [0, *accumulate(len(ch.encode("utf-8", "surrogatepass")) for ch in markdown)]
    starts = [r[0] for r in ranges]
    out: list[str] = []
    previous = 0
    for pos in candidates:
        index = bisect_right(starts, byte_at[pos]) - 1
        if index >= 0 and byte_at[pos] < ranges[index][1]:
            continue
        out.append(markdown[previous:pos])
        out.append("\\")
        previous = pos
    out.append(markdown[previous:])
    return "".join(out)


_LINK_TARGET = re.compile(r"\]\(([^)\n]*)\)?")
# Only an info string that is a plain language name is kept (in the entity); anything more
# would be lost, so it is left in the comparison and makes the check fail.
_FENCE_INFO = re.compile(
    r"^([ \t>]*(?:`{3,}|~{3,}))[ \t]*[A-Za-z0-9_+#.\-]{1,32}[ \t]*$", re.MULTILINE
)
_TASK_MARKER = re.compile(r"^([ \t>]*(?:[-+*]|\d{1,9}[.)])[ \t]+)\[[ xX]\]", re.MULTILINE)
_LIST_NUMBER = re.compile(r"^([ \t>]*)\d{1,9}(?=[.)])", re.MULTILINE)


def _alnum(text: str) -> str:
    return "".join(ch for ch in text if ch.isalnum())


def _keeps_content(source: str, rendered: OutgoingText) -> bool:
    """Whether every letter and digit the reader should see survived, in order.

    Link targets (moved into entities), code fence languages, task boxes and list numbers
    (renumbered) are legitimately rewritten, so they are compared apart or not at all.
    """
    expected = _LINK_TARGET.sub("]", source)
    expected = _FENCE_INFO.sub(r"\1", expected)
    expected = _TASK_MARKER.sub(r"\1", expected)
    expected = _LIST_NUMBER.sub(r"\1", expected)
    visible = _alnum(rendered.text)
    remaining = iter(visible)
    if not all(ch in remaining for ch in _alnum(expected)):
        return False
    # A link inside a table cell loses its entity in the converter, and with it the target.
    urls = [_alnum(e.url or "") for e in rendered.entities]
    for match in _LINK_TARGET.finditer(source):
        target = _alnum(next(iter(match.group(1).split()), ""))
        if target and target not in visible and not any(target in url for url in urls):
            return False
    return True


_LANGUAGE = re.compile(r"[A-Za-z0-9_+#.\-]{1,32}")
# A domain name with a real top-level domain; Telegram refuses "URL host is empty" and the
# like, and bare IPs or intranet names are not worth the risk.
_HOST = re.compile(
    r"(?:[a-z0-9\u00a1-\uffff](?:[a-z0-9\-\u00a1-\uffff]*[a-z0-9\u00a1-\uffff])?\.)+"
    r"(?:[a-z\u00a1-\uffff]{2,63}|xn--[a-z0-9\-]{1,59})\.?"
)


def _is_sendable_url(url: str) -> bool:
    """A link target Telegram accepts: it refuses the message for any other (e.g. relative)."""
    if not url or len(url) > MAX_LINK_URL_LEN or any(ch.isspace() or ord(ch) < 32 for ch in url):
        return False
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        _ = parts.port  # raises on a malformed port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and _HOST.fullmatch(host) is not None


def _library_entity(raw: Any) -> MessageEntity:
    kind = str(raw.type)
    url = getattr(raw, "url", None)
    language = getattr(raw, "language", None)
    emoji = getattr(raw, "custom_emoji_id", None)
    return MessageEntity(
        type=kind,
        offset=int(raw.offset),
        length=int(raw.length),
        url=str(url) if url is not None and kind == MessageEntity.TEXT_LINK else None,
        language=str(language) if language is not None and kind == MessageEntity.PRE else None,
        custom_emoji_id=(
            str(emoji) if emoji is not None and kind == MessageEntity.CUSTOM_EMOJI else None
        ),
    )


def _settle_entities(text: str, entities: Sequence[MessageEntity]) -> OutgoingText:
    """Keep only entities Telegram accepts; a link it would refuse keeps its URL as text."""
    table = _utf16_table(text)
    kept: list[MessageEntity] = []
    insertions: list[tuple[int, str]] = []  # (UTF-16 position, text to insert there)
    for ent in entities:
        if ent.type not in _SENDABLE_TYPES:
            continue
        if ent.type == MessageEntity.PRE and ent.language and not _LANGUAGE.fullmatch(ent.language):
            ent = MessageEntity(MessageEntity.PRE, ent.offset, ent.length)
        if ent.type == MessageEntity.TEXT_LINK:
            url = ent.url or ""
            if _is_sendable_url(url):
                kept.append(ent)
                continue
            start = bisect_left(table, ent.offset)
            end = bisect_left(table, ent.offset + ent.length)
            if url.strip() and url.strip() not in text[start:end]:
                insertions.append((ent.offset + ent.length, f" ({url.strip()})"))
            continue
        kept.append(ent)
    # Insert from the end so earlier positions stay valid; entities after an insertion move,
    # entities around it grow.
    for position, addition in sorted(insertions, reverse=True):
        index = bisect_left(table, position)
        text = text[:index] + addition + text[index:]
        table = _utf16_table(text)
        width = utf16_len(addition)
        moved: list[MessageEntity] = []
        for ent in kept:
            if ent.offset >= position:
                moved.append(_entity(ent, ent.offset + width, ent.length))
            elif ent.offset + ent.length > position:
                moved.append(_entity(ent, ent.offset, ent.length + width))
            else:
                moved.append(ent)
        kept = moved
    kept.sort(key=lambda e: (e.offset, -e.length))
    return OutgoingText(text, tuple(kept))


def _convert(source: str) -> OutgoingText | None:
    """The converter's rendering of source, or None when it cannot be trusted."""
    text, raw_entities = telegramify_markdown.convert(_protect(source))
    if not isinstance(text, str) or not text.strip():
        return None
    text = _sanitize_chars(text)
    total = utf16_len(text)
    entities: list[MessageEntity] = []
    for raw in raw_entities:
        ent = _library_entity(raw)
        if ent.length <= 0:
            continue
        if ent.offset < 0 or ent.offset + ent.length > total:
            return None
        entities.append(ent)
    settled = _settle_entities(text, entities)
    if not _keeps_content(source, settled):
        return None
    return _strip(settled)


def to_telegram(markdown: str) -> OutgoingText:
    """One Markdown text as plain text plus entities (not split). Never raises, never drops.

    When the converter fails or its output loses content, the Markdown source is sent as
    plain text instead: less pretty, but complete.
    """
    source = _clean(markdown)
    if not source.strip():
        return OutgoingText("", ())
    try:
        converted = _convert(source)
    except Exception:
        converted = None
    if converted is not None and converted.text:
        return converted
    return OutgoingText(source.strip(), ())


# --- Transcript ------------------------------------------------------------------------------

_SPEAKER_LINE = re.compile(r"^\s*SPEAKER_(\d+)\s*:\s*(.*?)\s*$", re.IGNORECASE)
# Share of non-empty lines that must be speaker lines: Intron can wrap a long turn.
_SPEAKER_LINE_SHARE = 0.8


@dataclass(frozen=True)
class _Turns:
    preamble: str  # text before the first speaker line, if any
    turns: tuple[tuple[int, str], ...]  # (speaker number from 1, what they said)


def _parse_turns(transcript: str) -> _Turns | None:
    lines = [line for line in transcript.splitlines() if line.strip()]
    matches = [_SPEAKER_LINE.match(line) for line in lines]
    hits = sum(match is not None for match in matches)
    if not lines or hits == 0 or hits < _SPEAKER_LINE_SHARE * len(lines):
        return None
    numbers: dict[int, int] = {}
    preamble: list[str] = []
    turns: list[tuple[int, list[str]]] = []
    for line, match in zip(lines, matches, strict=True):
        if match is None:
            (turns[-1][1] if turns else preamble).append(line.strip())
            continue
        speaker = numbers.setdefault(int(match.group(1)), len(numbers) + 1)
        if turns and turns[-1][0] == speaker:
            turns[-1][1].append(match.group(2))
        else:
            turns.append((speaker, [match.group(2)]))
    return _Turns(
        " ".join(preamble),
        tuple((speaker, " ".join(p for p in said if p)) for speaker, said in turns),
    )


def _speaker(number: int) -> str:
    return f"Speaker {number}"


def format_turns(transcript: str) -> OutgoingText | None:
    """A speaker-separated transcript as one paragraph per turn, "Speaker N" in bold.

    None when the transcript is not speaker-separated. The text is speech, not Markdown.
    """
    parsed = _parse_turns(_clean(transcript))
    if parsed is None:
        return None
    pieces: list[str] = []
    entities: list[MessageEntity] = []
    used = 0
    if parsed.preamble:
        pieces.append(parsed.preamble + SECTION_SEPARATOR)
        used += utf16_len(pieces[-1])
    for index, (number, said) in enumerate(parsed.turns):
        label = _speaker(number)
        entities.append(MessageEntity(MessageEntity.BOLD, used, utf16_len(label)))
        piece = f"{label}: {said}".rstrip()
        if index < len(parsed.turns) - 1:
            piece += SECTION_SEPARATOR
        pieces.append(piece)
        used += utf16_len(piece)
    return OutgoingText("".join(pieces), tuple(entities))


def _transcript_markdown(transcript: str) -> str:
    parsed = _parse_turns(transcript)
    if parsed is None:
        return transcript.strip()
    paragraphs = [parsed.preamble] if parsed.preamble else []
    paragraphs += [f"**{_speaker(n)}:** {said}".rstrip() for n, said in parsed.turns]
    return SECTION_SEPARATOR.join(paragraphs)


# --- The report ------------------------------------------------------------------------------


def _is_empty(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, Mapping | list | tuple | set | frozenset):
        return len(value) == 0
    return False


def _json_text(value: object) -> str:
    try:
        return json.dumps(value, indent=2, ensure_ascii=False, default=str)
    except Exception:
        return repr(value)


def _structured(value: object) -> OutgoingText:
    """A non-string result (structured post-processing) as a readable JSON code block."""
    text = _clean(_json_text(value)).strip()
    return OutgoingText(
        text, (MessageEntity(MessageEntity.PRE, 0, utf16_len(text), language="json"),)
    )


def _result_fields(data: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """(label, value) of every result to show: known flags in catalog order, then the rest."""
    known = {RESULT_PREFIX + flag: label for flag, label in RESULT_LABELS.items()}
    fields = [(label, data[field]) for field, label in known.items() if field in data]
    unknown = sorted(
        key
        for key in data
        if isinstance(key, str) and key.startswith(RESULT_PREFIX) and key not in known
    )
    fields += [(UNKNOWN_RESULT_PREFIX + readable_name(key), data[key]) for key in unknown]
    return [(label, value) for label, value in fields if not _is_empty(value)]


@dataclass(frozen=True)
class _Section:
    label: str
    body: OutgoingText  # label in bold, a line break, then the content


def _section(label: str, content: OutgoingText) -> _Section:
    heading = OutgoingText(label, (MessageEntity(MessageEntity.BOLD, 0, utf16_len(label)),))
    return _Section(label, _concat(heading, content, "\n"))


def _pack(sections: Sequence[_Section], max_len: int) -> list[OutgoingText]:
    """Sections into messages, starting a fresh message for a section that then fits whole."""
    messages: list[OutgoingText] = []
    current: OutgoingText | None = None
    for section in sections:
        body = section.body
        if current is None:
            candidate, at = body, 0
        else:
            candidate = _concat(current, body, SECTION_SEPARATOR)
            at = len(current.text) + len(SECTION_SEPARATOR)
        if _fits(candidate, max_len):
            current = candidate
        elif current is not None and _fits(body, max_len):
            messages.extend(split_text(current, max_len))
            current = body
        else:
            # A label must not end a message on its own, away from its content.
            parts = _split(candidate, max_len, glue=((at, at + len(section.label)),))
            messages.extend(parts[:-1])
            current = parts[-1] if parts else None
    if current is not None:
        messages.extend(split_text(current, max_len))
    return messages


_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,5}$")
_NOT_FILENAME = re.compile(r"[^A-Za-z0-9_-]+")


def report_filename(audio_name: str, when: datetime) -> str:
    stem = _EXTENSION.sub("", _clean(audio_name).strip())
    stem = _NOT_FILENAME.sub("_", stem).strip("_-")[:FILENAME_MAX_LEN].strip("_-")
    return f"{stem or FILENAME_FALLBACK}_{when.strftime('%Y-%m-%d')}.md"


def _document(
    transcript_md: str, results_md: Sequence[tuple[str, str]], audio_name: str, when: datetime
) -> ReportDocument:
    blocks = ["# Transcript", transcript_md]
    for label, markdown in results_md:
        blocks += [f"## {label}", markdown]
    content = SECTION_SEPARATOR.join(blocks) + "\n"
    return ReportDocument(report_filename(audio_name, when), _clean(content).encode("utf-8"))


def render_results(
    data: Mapping[str, Any], *, audio_name: str, when: datetime, max_len: int = MAX_MESSAGE_LEN
) -> RenderedReport:
    """A finished job's transcript and results as messages, plus a file when they are many."""
    raw_transcript = data.get("audio_transcript")
    if _is_empty(raw_transcript):
        transcript = OutgoingText(NO_SPEECH, ())
        transcript_md = NO_SPEECH
    elif isinstance(raw_transcript, str):
        cleaned = _clean(raw_transcript)
        # Speech is never Markdown: a `*` said aloud stays a `*`.
        transcript = format_turns(cleaned) or OutgoingText(cleaned.strip(), ())
        transcript_md = _transcript_markdown(cleaned)
    else:
        transcript = _structured(raw_transcript)
        transcript_md = f"```json\n{transcript.text}\n```"

    sections = [_section(TRANSCRIPT_LABEL, transcript)]
    results_md: list[tuple[str, str]] = []
    for label, value in _result_fields(data):
        if isinstance(value, str):
            content = to_telegram(value)
            markdown = _clean(value).strip()
        else:
            content = _structured(value)
            markdown = f"```json\n{content.text}\n```"
        if not content.text.strip():
            continue
        sections.append(_section(label, content))
        results_md.append((label, markdown))

    messages = _pack(sections, max_len)
    document = None
    if len(messages) > 2:
        document = _document(transcript_md, results_md, audio_name, when)
    return RenderedReport(tuple(messages), document)
