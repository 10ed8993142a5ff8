"""Telegram's subset of HTML, parsed as strictly as Telegram parses it."""

from __future__ import annotations

import re

from tests.fakes.telegram.errors import EntityParseError
from tests.fakes.telegram.models import JSONDict
from tests.fakes.telegram.text import OpenTag, TextBuilder, byte_offset, sort_entities

_HTML_ENTITY_RE = re.compile(r"&(?:#([0-9]{1,8})|#[xX]([0-9a-fA-F]{1,8})|(lt|gt|amp|quot));")
BARE_AMPERSAND_RE = re.compile(r"&(?!(?:#[0-9]{1,8}|#[xX][0-9a-fA-F]{1,8}|lt|gt|amp|quot);)")
_NAMED_HTML_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_TAG_NAME_RE = re.compile(r"[a-zA-Z][a-zA-Z0-9-]*")
_ATTR_RE = re.compile(
    r"""([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?"""
)
_SIMPLE_HTML_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
}
_HTML_TAGS = frozenset({*_SIMPLE_HTML_TAGS, "span", "a", "code", "pre", "blockquote", "tg-emoji"})


def _decode_html_entity(match: re.Match[str], text: str) -> str:
    decimal, hexadecimal, named = match.groups()
    if named:
        return _NAMED_HTML_ENTITIES[named]
    code = int(decimal) if decimal else int(hexadecimal, 16)
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        raise EntityParseError(
            f"Invalid numeric HTML entity at byte offset {byte_offset(text, match.start())}"
        )
    return chr(code)


def _unescape_attribute(value: str) -> str:
    def repl(match: re.Match[str]) -> str:
        try:
            return _decode_html_entity(match, value)
        except EntityParseError:
            return match.group(0)

    return _HTML_ENTITY_RE.sub(repl, value)


def parse_html(text: str) -> tuple[str, list[JSONDict]]:
    """Parse Telegram-flavoured HTML strictly. Returns (plain text, entities)."""
    out = TextBuilder()
    entities: list[JSONDict] = []
    stack: list[OpenTag] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "&":
            match = _HTML_ENTITY_RE.match(text, i)
            if match is None:
                raise EntityParseError(
                    f'Character "&" must be escaped as "&amp;" (byte offset {byte_offset(text, i)})'
                )
            out.add(_decode_html_entity(match, text))
            i = match.end()
            continue
        if c != "<":
            j = i + 1
            while j < n and text[j] not in "<&":
                j += 1
            out.add(text[i:j])
            i = j
            continue

        tag_byte = byte_offset(text, i)
        if text.startswith("</", i):
            name_match = _TAG_NAME_RE.match(text, i + 2)
            name = name_match.group(0).lower() if name_match else ""
            j = name_match.end() if name_match else i + 2
            while j < n and text[j].isspace():
                j += 1
            if j >= n or text[j] != ">":
                raise EntityParseError(f"Can't find end of the end tag at byte offset {tag_byte}")
            if not stack:
                raise EntityParseError(f"Unexpected end tag at byte offset {tag_byte}")
            top = stack[-1]
            if name != top.name:
                raise EntityParseError(
                    f'Unmatched end tag at byte offset {tag_byte}, expected "</{top.name}>", '
                    f'found "</{name}>"'
                )
            stack.pop()
            if top.entity_type is not None and out.u16 > top.start:
                entities.append(
                    {
                        "type": top.entity_type,
                        "offset": top.start,
                        "length": out.u16 - top.start,
                        **top.extra,
                    }
                )
            i = j + 1
            continue

        name_match = _TAG_NAME_RE.match(text, i + 1)
        name = name_match.group(0).lower() if name_match else ""
        if name not in _HTML_TAGS or name_match is None:
            raise EntityParseError(f'Unsupported start tag "{name}" at byte offset {tag_byte}')
        j = name_match.end()
        attrs: dict[str, str] = {}
        while True:
            while j < n and text[j].isspace():
                j += 1
            if j >= n:
                raise EntityParseError(f"Unclosed start tag at byte offset {tag_byte}")
            if text[j] == ">":
                j += 1
                break
            attr = _ATTR_RE.match(text, j)
            if attr is None:
                raise EntityParseError(
                    f'Empty attribute name in the tag "{name}" at byte offset {tag_byte}'
                )
            raw_value = next((g for g in attr.groups()[1:] if g is not None), "")
            attrs[attr.group(1).lower()] = _unescape_attribute(raw_value)
            j = attr.end()

        entity_type: str | None
        extra: JSONDict = {}
        if name in _SIMPLE_HTML_TAGS:
            entity_type = _SIMPLE_HTML_TAGS[name]
        elif name == "span":
            if attrs.get("class") != "tg-spoiler":
                raise EntityParseError(
                    f'Tag "span" must have class "tg-spoiler" at byte offset {tag_byte}'
                )
            entity_type = "spoiler"
        elif name == "a":
            href = attrs.get("href", "").strip()
            entity_type = None
            if href.startswith("tg://user?id="):
                user_id = href.removeprefix("tg://user?id=")
                if user_id.isdigit():
                    entity_type = "text_mention"
                    extra = {"user": {"id": int(user_id), "is_bot": False, "first_name": ""}}
            if entity_type is None and href:
                entity_type = "text_link"
                extra = {"url": href}
        elif name == "code":
            entity_type = "code"
            if stack and stack[-1].name == "pre":
                entity_type = None
                language = attrs.get("class", "")
                if language.startswith("language-") and "language" not in stack[-1].extra:
                    stack[-1].extra["language"] = language.removeprefix("language-")
        elif name == "pre":
            entity_type = "pre"
        elif name == "blockquote":
            entity_type = "expandable_blockquote" if "expandable" in attrs else "blockquote"
        else:  # tg-emoji
            emoji_id = attrs.get("emoji-id", "")
            if not emoji_id.isdigit():
                raise EntityParseError(
                    f'Tag "tg-emoji" must have a valid "emoji-id" at byte offset {tag_byte}'
                )
            entity_type = "custom_emoji"
            extra = {"custom_emoji_id": emoji_id}
        stack.append(OpenTag(name, entity_type, out.u16, tag_byte, extra))
        i = j

    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"')
    return out.text(), sort_entities(entities)
