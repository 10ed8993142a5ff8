"""Intron's Markdown results as plain text plus entities, with nothing silently lost."""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from html.entities import html5 as _HTML5_NAMED_REFERENCES
from itertools import accumulate
from typing import Any
from urllib.parse import urlsplit

import pyromark  # telegramify-markdown's own parser, asked where code spans are
import telegramify_markdown
from telegram import MessageEntity

from bot.render.text import (
    OutgoingText,
    clean_text,
    drop_redundant,
    entity_at,
    sanitize_chars,
    strip_message,
    utf16_len,
    utf16_table,
)

MAX_LINK_URL_LEN = 2000

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


# Characters the converter would silently turn into nothing: `<` starts HTML (dropped, with
# whole blocks of text after it), `$` math, `||` spoilers (which hide text), and a line
# starting `[label]:` is a link definition (dropped). An `&` is escaped unless it starts a
# character reference (`&amp;`, `&copy;`, `&#1234;`, `&#x4D2;`), which the converter shows as
# the character it stands for, as CommonMark says; any other `&` stays literally.
_RISKY_CHARS = frozenset("<&$")
# CommonMark's three forms; a named one must be an HTML5 name, with its semicolon.
_CHARACTER_REFERENCE = re.compile(
    r"&(?:#[0-9]{1,7};|#[xX][0-9a-fA-F]{1,6};|([A-Za-z][A-Za-z0-9]{0,31});)"
)
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


def _is_character_reference(match: re.Match[str]) -> bool:
    name = match.group(1)
    return name is None or f"{name};" in _HTML5_NAMED_REFERENCES


def _character_references(text: str) -> list[re.Match[str]]:
    return [m for m in _CHARACTER_REFERENCE.finditer(text) if _is_character_reference(m)]


def _decoded(match: re.Match[str]) -> str:
    """The character(s) a reference stands for; CommonMark's U+FFFD for an impossible one."""
    if not _is_character_reference(match):
        return match.group(0)
    if match.group(1) is not None:
        return _HTML5_NAMED_REFERENCES[f"{match.group(1)};"]
    digits = match.group(0)[2:-1]
    code = int(digits[1:], 16) if digits[:1] in "xX" else int(digits)
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return "\ufffd"
    return chr(code)


def _escape_candidates(text: str) -> list[int]:
    positions = {m.start(1) for m in _LINK_DEFINITION.finditer(text)}
    references = {m.start() for m in _character_references(text)} if "&" in text else set()
    for pos, ch in enumerate(text):
        if pos in references:
            continue
        if ch in _RISKY_CHARS or (
            ch == "|"
            and (
                (pos > 0 and text[pos - 1] == "|") or (pos + 1 < len(text) and text[pos + 1] == "|")
            )
        ):
            positions.add(pos)
    return sorted(p for p in positions if not _is_escaped(text, p))


def _parser_options() -> Any:
    """The parser options telegramify-markdown uses, so code is found where it will find it."""
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
    (renumbered) are legitimately rewritten, so they are compared apart or not at all; so
    are character references, whose letters become the one character they stand for
    (`&copy;` is "©"), except inside code, where they are shown as written.
    """
    expected = _LINK_TARGET.sub("]", source)
    expected = _FENCE_INFO.sub(r"\1", expected)
    expected = _TASK_MARKER.sub(r"\1", expected)
    expected = _LIST_NUMBER.sub(r"\1", expected)
    if "&" in expected:
        expected = _CHARACTER_REFERENCE.sub(
            lambda m: "" if _is_character_reference(m) else m.group(0), expected
        )
    visible = _alnum(rendered.text)
    remaining = iter(visible)
    if not all(ch in remaining for ch in _alnum(expected)):
        return False
    # A link inside a table cell loses its entity in the converter, and with it the target.
    urls = [_alnum(e.url or "") for e in rendered.entities]
    for match in _LINK_TARGET.finditer(source):
        written = next(iter(match.group(1).split()), "")
        target = _alnum(_CHARACTER_REFERENCE.sub(_decoded, written))
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
    table = utf16_table(text)
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
        table = utf16_table(text)
        width = utf16_len(addition)
        moved: list[MessageEntity] = []
        for ent in kept:
            if ent.offset >= position:
                moved.append(entity_at(ent, ent.offset + width, ent.length))
            elif ent.offset + ent.length > position:
                moved.append(entity_at(ent, ent.offset, ent.length + width))
            else:
                moved.append(ent)
        kept = moved
    return OutgoingText(text, drop_redundant(kept))


def _convert(source: str) -> OutgoingText | None:
    """The converter's rendering of source, or None when it cannot be trusted."""
    # No LaTeX-to-Unicode: it rewrites `\(\alpha\)` as `α`, which the content check
    # cannot tell from a loss, and a whole result would then fall back to its raw source.
    text, raw_entities = telegramify_markdown.convert(_protect(source), latex_escape=False)
    if not isinstance(text, str) or not text.strip():
        return None
    text = sanitize_chars(text)
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
    return strip_message(settled)


def to_telegram(markdown: str) -> OutgoingText:
    """One Markdown text as plain text plus entities (not split). Never raises, never drops.

    When the converter fails or its output loses content, the Markdown source is sent as
    plain text instead: less pretty, but complete.
    """
    source = clean_text(markdown)
    if not source.strip():
        return OutgoingText("", ())
    try:
        converted = _convert(source)
    except Exception:
        converted = None
    if converted is not None and converted.text:
        return converted
    return OutgoingText(source.strip(), ())
