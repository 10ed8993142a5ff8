"""MarkdownV2 and legacy Markdown, parsed as strictly as Telegram parses them."""

from __future__ import annotations

from typing import Any

from tests.fakes.telegram.errors import EntityParseError
from tests.fakes.telegram.models import JSONDict
from tests.fakes.telegram.text import OpenTag, TextBuilder, byte_offset, sort_entities

_MDV2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")
_MD_ENTITY_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "code": "Code",
    "pre": "Pre",
    "text_link": "TextUrl",
    "custom_emoji": "CustomEmoji",
}


def parse_markdown_v2(text: str) -> tuple[str, list[JSONDict]]:
    """Parse MarkdownV2 strictly: unescaped reserved characters outside entities are errors."""
    out = TextBuilder()
    entities: list[JSONDict] = []
    stack: list[OpenTag] = []
    quote_start: int | None = None
    i, n = 0, len(text)

    def unclosed(tag: OpenTag) -> EntityParseError:
        name = _MD_ENTITY_NAMES.get(tag.name, tag.name)
        return EntityParseError(f"Can't find end of {name} entity at byte offset {tag.byte}")

    def close(tag: OpenTag) -> None:
        if out.u16 > tag.start:
            entities.append(
                {"type": tag.name, "offset": tag.start, "length": out.u16 - tag.start, **tag.extra}
            )

    def toggle(kind: str, at: int) -> None:
        if stack and stack[-1].name == kind:
            close(stack.pop())
        elif any(tag.name == kind for tag in stack):
            raise unclosed(stack[-1])
        else:
            stack.append(OpenTag(kind, kind, out.u16, byte_offset(text, at)))

    while i < n:
        c = text[i]
        top = stack[-1].name if stack else None
        if c == "\\" and i + 1 < n and 0 < ord(text[i + 1]) <= 126:
            out.add(text[i + 1])
            i += 2
            continue
        if top == "pre":
            if text.startswith("```", i):
                close(stack.pop())
                i += 3
            else:
                out.add(c)
                i += 1
            continue
        if top == "code":
            if c == "`":
                close(stack.pop())
            else:
                out.add(c)
            i += 1
            continue
        if c == ">" and (i == 0 or text[i - 1] == "\n"):
            if quote_start is None:
                quote_start = out.u16
            i += 1
            continue
        if c == "\n":
            if quote_start is not None and not text.startswith(">", i + 1):
                if out.u16 > quote_start:
                    entities.append(
                        {
                            "type": "blockquote",
                            "offset": quote_start,
                            "length": out.u16 - quote_start,
                        }
                    )
                quote_start = None
            out.add(c)
            i += 1
            continue
        if c not in _MDV2_RESERVED:
            out.add(c)
            i += 1
            continue

        if c == "*":
            toggle("bold", i)
            i += 1
        elif c == "_":
            if text.startswith("__", i):
                toggle("underline", i)
                i += 2
            else:
                toggle("italic", i)
                i += 1
        elif c == "~":
            toggle("strikethrough", i)
            i += 1
        elif c == "|" and text.startswith("||", i):
            toggle("spoiler", i)
            i += 2
        elif c == "`":
            byte = byte_offset(text, i)
            if text.startswith("```", i):
                j = i + 3
                extra: JSONDict = {}
                newline = text.find("\n", j)
                if newline != -1:
                    candidate = text[j:newline]
                    if candidate and not any(ch.isspace() or ch == "`" for ch in candidate):
                        extra["language"] = candidate
                        j = newline + 1
                stack.append(OpenTag("pre", "pre", out.u16, byte, extra))
                i = j
            else:
                stack.append(OpenTag("code", "code", out.u16, byte))
                i += 1
        elif c == "[":
            stack.append(OpenTag("text_link", "text_link", out.u16, byte_offset(text, i)))
            i += 1
        elif c == "!" and text.startswith("![", i):
            stack.append(OpenTag("custom_emoji", "custom_emoji", out.u16, byte_offset(text, i)))
            i += 2
        elif c == "]" and top in ("text_link", "custom_emoji"):
            tag = stack.pop()
            j = i + 1
            if j < n and text[j] == "(":
                k = j + 1
                url_chars: list[str] = []
                while k < n and text[k] != ")":
                    if text[k] == "\\" and k + 1 < n:
                        url_chars.append(text[k + 1])
                        k += 2
                    else:
                        url_chars.append(text[k])
                        k += 1
                if k >= n:
                    raise EntityParseError(
                        f"Can't find end of a URL at byte offset {byte_offset(text, j)}"
                    )
                url = "".join(url_chars).strip()
                i = k + 1
            else:
                url = ""
                i = j
            if tag.name == "custom_emoji":
                emoji_id = url.removeprefix("tg://emoji?id=")
                if not url.startswith("tg://emoji?id=") or not emoji_id.isdigit():
                    raise EntityParseError(
                        f"Custom emoji entity at byte offset {tag.byte} must have a "
                        "tg://emoji?id= URL"
                    )
                tag.extra["custom_emoji_id"] = emoji_id
                close(tag)
            elif url:
                if url.startswith("tg://user?id=") and url.removeprefix("tg://user?id=").isdigit():
                    tag.name = "text_mention"
                    user_id = int(url.removeprefix("tg://user?id="))
                    tag.extra["user"] = {"id": user_id, "is_bot": False, "first_name": ""}
                else:
                    tag.extra["url"] = url
                close(tag)
        else:
            raise EntityParseError(
                f"Character '{c}' is reserved and must be escaped with the preceding '\\'"
            )

    if stack:
        raise unclosed(stack[-1])
    if quote_start is not None and out.u16 > quote_start:
        entities.append(
            {"type": "blockquote", "offset": quote_start, "length": out.u16 - quote_start}
        )
    return out.text(), sort_entities(entities)


def parse_markdown(text: str) -> tuple[str, list[JSONDict]]:
    """Parse legacy Markdown: *bold*, _italic_, `code`, ```pre```, [text](url); no nesting."""
    out = TextBuilder()
    entities: list[JSONDict] = []
    i, n = 0, len(text)

    def unclosed(at: int) -> EntityParseError:
        return EntityParseError(
            f"Can't find end of the entity starting at byte offset {byte_offset(text, at)}"
        )

    def add(kind: str, inner: str, **extra: Any) -> None:
        start = out.u16
        out.add(inner)
        if out.u16 > start:
            entities.append({"type": kind, "offset": start, "length": out.u16 - start, **extra})

    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and text[i + 1] in "_*`[":
            out.add(text[i + 1])
            i += 2
        elif c in "*_":
            j = text.find(c, i + 1)
            if j == -1:
                raise unclosed(i)
            add("bold" if c == "*" else "italic", text[i + 1 : j])
            i = j + 1
        elif c == "`":
            if text.startswith("```", i):
                j = text.find("```", i + 3)
                if j == -1:
                    raise unclosed(i)
                inner = text[i + 3 : j]
                first_line, newline, rest = inner.partition("\n")
                if newline and first_line and not any(ch.isspace() for ch in first_line):
                    add("pre", rest, language=first_line)
                else:
                    add("pre", inner)
                i = j + 3
            else:
                j = text.find("`", i + 1)
                if j == -1:
                    raise unclosed(i)
                add("code", text[i + 1 : j])
                i = j + 1
        elif c == "[":
            j = text.find("]", i + 1)
            if j == -1:
                raise unclosed(i)
            inner = text[i + 1 : j]
            if text.startswith("(", j + 1):
                k = text.find(")", j + 2)
                if k == -1:
                    raise unclosed(j + 1)
                url = text[j + 2 : k].strip()
                if url:
                    add("text_link", inner, url=url)
                else:
                    out.add(inner)
                i = k + 1
            else:
                out.add(inner)
                i = j + 1
        else:
            out.add(c)
            i += 1
    return out.text(), sort_entities(entities)
