"""Cutting a message into parts Telegram accepts, at the most natural place that fits."""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from typing import TypeAlias

from bot.render.text import (
    MAX_ENTITIES_PER_MESSAGE,
    MAX_LINK_URL_CHARS_PER_MESSAGE,
    MAX_MESSAGE_LEN,
    OutgoingText,
    Span,
    clean_text,
    drop_redundant,
    entity_spans,
    sanitize_chars,
    slice_message,
    utf16_table,
    within_budget,
)

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
Glue: TypeAlias = Sequence[tuple[int, int]]


def _find_outside_glue(finder: _Finder, text: str, lo: int, hi: int, glue: Glue) -> int | None:
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
    text: str, table: Sequence[int], start: int, limit: int, max_len: int, glue: Glue = ()
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


def _budget_cap(spans: Sequence[Span], start: int) -> int | None:
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
    text: str, table: Sequence[int], spans: Sequence[Span], max_len: int, glue: Glue = ()
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


# Characters Telegram treats as "empty": a message made only of them is refused.
_BLANK_EXTRA = frozenset("\u115f\u1160\u180e\u2800\u3164\uffa0")
_BLANK_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})


def _is_blank_char(ch: str) -> bool:
    return ch.isspace() or ch in _BLANK_EXTRA or unicodedata.category(ch) in _BLANK_CATEGORIES


def _has_visible(text: str) -> bool:
    return any(not _is_blank_char(ch) for ch in text)


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
    return split_with_glue(message, max_len)


def split_with_glue(message: OutgoingText, max_len: int, glue: Glue = ()) -> list[OutgoingText]:
    # A character can be 2 units wide: below that no part could hold it.
    max_len = max(int(max_len), 2)
    try:
        text = sanitize_chars(message.text)
        table = utf16_table(text)
        spans = entity_spans(drop_redundant(message.entities), table)
        # Parts are cut to keep within the entity budget; where more entities than it allows
        # cover one character, no cut can, and the innermost go.
        return [
            within_budget(slice_message(text, table, spans, lo, hi))
            for lo, hi in _part_ranges(text, table, spans, max_len, glue)
        ]
    except Exception:
        # Only reachable with malformed entities; losing formatting beats losing the text.
        return _plain_chunks(clean_text(getattr(message, "text", "")), max_len)
