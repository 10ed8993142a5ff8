"""A loopback fake of the Telegram Bot API for tests.

The real python-telegram-bot talks to it over real HTTP (``ApplicationBuilder().base_url(...)``).
It keeps per-chat message storage, a getUpdates queue with real long polling, serves files and
rejects what real Telegram rejects (bad HTML/Markdown, too long texts, replies to deleted messages,
unmodified edits, stale callback queries, ...), so that bugs in the bot show up in tests.

Nothing here talks to the network except the fake's own listener on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import copy
import inspect
import json
import logging
import mimetypes
import re
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

__all__ = ["FakeTelegram", "UploadedFile", "parse_html", "parse_markdown", "parse_markdown_v2"]

log = logging.getLogger(__name__)

JSONDict = dict[str, Any]

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_ANSWER_LENGTH = 200
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
MAX_POLL_TIMEOUT = 50.0

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
CONFLICT = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)

ENTITY_TYPES = frozenset(
    {
        "mention",
        "hashtag",
        "cashtag",
        "bot_command",
        "url",
        "email",
        "phone_number",
        "bold",
        "italic",
        "underline",
        "strikethrough",
        "spoiler",
        "blockquote",
        "expandable_blockquote",
        "code",
        "pre",
        "text_link",
        "text_mention",
        "custom_emoji",
        "date_time",
    }
)

CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)

# Update kinds Telegram does not deliver unless they are explicitly listed in allowed_updates.
NOT_DELIVERED_BY_DEFAULT = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

# Parameters that python-telegram-bot sends as plain strings (never JSON-encoded): they must
# not be JSON-decoded, or a text like "123" or "true" would change type.
STRING_PARAMS = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "callback_query_id",
        "file_id",
        "url",
        "action",
        "language_code",
        "inline_message_id",
        "business_connection_id",
        "message_effect_id",
        "document",
        "thumbnail",
        "emoji",
        "title",
        "description",
        "short_description",
        "name",
        "custom_title",
        "secret_token",
    }
)

_MIME_SUFFIXES = {
    "audio/ogg": ".oga",
    "audio/opus": ".opus",
    "audio/mpeg": ".mp3",
    "audio/mp3": ".mp3",
    "audio/mp4": ".m4a",
    "audio/x-m4a": ".m4a",
    "audio/m4a": ".m4a",
    "audio/aac": ".aac",
    "audio/wav": ".wav",
    "audio/x-wav": ".wav",
    "audio/flac": ".flac",
    "audio/webm": ".webm",
    "video/mp4": ".mp4",
    "video/webm": ".webm",
    "video/quicktime": ".mov",
    "application/pdf": ".pdf",
    "text/plain": ".txt",
}


# --------------------------------------------------------------------------------------------
# small helpers


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units, the unit Telegram counts offsets and limits in."""
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def _suffix_for(mime_type: str | None, file_name: str | None = None, default: str = "") -> str:
    if file_name and "." in file_name.rsplit("/", 1)[-1]:
        return "." + file_name.rsplit(".", 1)[-1].lower()
    if mime_type:
        mime = mime_type.split(";", 1)[0].strip().lower()
        if mime in _MIME_SUFFIXES:
            return _MIME_SUFFIXES[mime]
        guessed = mimetypes.guess_extension(mime)
        if guessed:
            return guessed
    return default


def _short(value: Any, limit: int = 300) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class EntityParseError(Exception):
    """Raised by the markup parsers; becomes ``Bad Request: can't parse entities: ...``."""


class _ApiError(Exception):
    def __init__(self, status: int, description: str, parameters: JSONDict | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


def _bad_request(description: str) -> _ApiError:
    return _ApiError(400, f"Bad Request: {description}")


@dataclass(repr=False)
class UploadedFile:
    """A file part of a multipart request, as recorded in ``FakeTelegram.requests``."""

    filename: str | None
    content_type: str | None
    data: bytes

    def __repr__(self) -> str:
        return (
            f"UploadedFile(filename={self.filename!r}, content_type={self.content_type!r}, "
            f"size={len(self.data)})"
        )


class _TextBuilder:
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


def _sort_entities(entities: list[JSONDict]) -> list[JSONDict]:
    return sorted(entities, key=lambda e: (e["offset"], -e["length"]))


# --------------------------------------------------------------------------------------------
# HTML (Telegram's subset)

_HTML_ENTITY_RE = re.compile(r"&(?:#([0-9]{1,8})|#[xX]([0-9a-fA-F]{1,8})|(lt|gt|amp|quot));")
_BARE_AMPERSAND_RE = re.compile(r"&(?!(?:#[0-9]{1,8}|#[xX][0-9a-fA-F]{1,8}|lt|gt|amp|quot);)")
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
            f"Invalid numeric HTML entity at byte offset {_byte_offset(text, match.start())}"
        )
    return chr(code)


def _unescape_attribute(value: str) -> str:
    def repl(match: re.Match[str]) -> str:
        try:
            return _decode_html_entity(match, value)
        except EntityParseError:
            return match.group(0)

    return _HTML_ENTITY_RE.sub(repl, value)


@dataclass
class _OpenTag:
    name: str
    entity_type: str | None
    start: int
    byte: int
    extra: JSONDict = field(default_factory=dict)


def parse_html(text: str) -> tuple[str, list[JSONDict]]:
    """Parse Telegram-flavoured HTML strictly. Returns (plain text, entities)."""
    out = _TextBuilder()
    entities: list[JSONDict] = []
    stack: list[_OpenTag] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "&":
            match = _HTML_ENTITY_RE.match(text, i)
            if match is None:
                raise EntityParseError(
                    f'Character "&" must be escaped as "&amp;" '
                    f"(byte offset {_byte_offset(text, i)})"
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

        tag_byte = _byte_offset(text, i)
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
        stack.append(_OpenTag(name, entity_type, out.u16, tag_byte, extra))
        i = j

    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"')
    return out.text(), _sort_entities(entities)


# --------------------------------------------------------------------------------------------
# MarkdownV2

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
    out = _TextBuilder()
    entities: list[JSONDict] = []
    stack: list[_OpenTag] = []
    quote_start: int | None = None
    i, n = 0, len(text)

    def unclosed(tag: _OpenTag) -> EntityParseError:
        name = _MD_ENTITY_NAMES.get(tag.name, tag.name)
        return EntityParseError(f"Can't find end of {name} entity at byte offset {tag.byte}")

    def close(tag: _OpenTag) -> None:
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
            stack.append(_OpenTag(kind, kind, out.u16, _byte_offset(text, at)))

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
            byte = _byte_offset(text, i)
            if text.startswith("```", i):
                j = i + 3
                extra: JSONDict = {}
                newline = text.find("\n", j)
                if newline != -1:
                    candidate = text[j:newline]
                    if candidate and not any(ch.isspace() or ch == "`" for ch in candidate):
                        extra["language"] = candidate
                        j = newline + 1
                stack.append(_OpenTag("pre", "pre", out.u16, byte, extra))
                i = j
            else:
                stack.append(_OpenTag("code", "code", out.u16, byte))
                i += 1
        elif c == "[":
            stack.append(_OpenTag("text_link", "text_link", out.u16, _byte_offset(text, i)))
            i += 1
        elif c == "!" and text.startswith("![", i):
            stack.append(_OpenTag("custom_emoji", "custom_emoji", out.u16, _byte_offset(text, i)))
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
                        f"Can't find end of a URL at byte offset {_byte_offset(text, j)}"
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
    return out.text(), _sort_entities(entities)


# --------------------------------------------------------------------------------------------
# legacy Markdown


def parse_markdown(text: str) -> tuple[str, list[JSONDict]]:
    """Parse legacy Markdown: *bold*, _italic_, `code`, ```pre```, [text](url); no nesting."""
    out = _TextBuilder()
    entities: list[JSONDict] = []
    i, n = 0, len(text)

    def unclosed(at: int) -> EntityParseError:
        return EntityParseError(
            f"Can't find end of the entity starting at byte offset {_byte_offset(text, at)}"
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
    return out.text(), _sort_entities(entities)


# --------------------------------------------------------------------------------------------
# storage


@dataclass
class _StoredMessage:
    message: JSONDict
    from_bot: bool
    deleted: bool = False
    document_bytes: bytes | None = None


@dataclass
class _Chat:
    info: JSONDict
    messages: dict[int, _StoredMessage] = field(default_factory=dict)
    last_message_id: int = 0

    def next_message_id(self) -> int:
        self.last_message_id += 1
        return self.last_message_id


@dataclass
class _QueuedUpdate:
    update_id: int
    update: JSONDict
    delivered: bool = False


@dataclass
class _FileEntry:
    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes
    forgotten: bool = False


@dataclass
class _Injection:
    status: int
    description: str
    parameters: JSONDict | None
    remaining: int


_TRIM_CHARS = " \t\n\r\x0b\x0c"
_COMMAND_RE = re.compile(r"/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,64})?")
_BOT_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")


def _trim(text: str, entities: list[JSONDict]) -> tuple[str, list[JSONDict]]:
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


def _maybe_json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _decode_param(name: str, raw: str) -> Any:
    if name in STRING_PARAMS:
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _update_kind(update: JSONDict) -> str:
    return next((key for key in update if key != "update_id"), "")


class FakeTelegram:
    """A fake Telegram Bot API server on 127.0.0.1 (see module docstring)."""

    def __init__(
        self,
        token: str = "123456:TEST-TOKEN-not-real",
        *,
        max_download_bytes: int = 20 * 1024 * 1024,
    ) -> None:
        self.token: str = token
        self.max_download_bytes = max_download_bytes
        self.bot_user: JSONDict = {
            "id": int(token.split(":", 1)[0]),
            "is_bot": True,
            "first_name": "Intron Test Bot",
            "username": "intron_test_bot",
        }
        # HTML: real Telegram keeps a bare "&" literally; the fake rejects it to catch missing
        # escaping. Set to False to be exactly as lenient as Telegram.
        self.strict_html_ampersand = True

        self.requests: list[tuple[str, JSONDict]] = []
        self.rejections: list[tuple[str, JSONDict, str]] = []
        self.file_downloads: list[str] = []
        self.answered_callbacks: dict[str, JSONDict] = {}
        self.last_update: JSONDict | None = None

        self._chats: dict[int, _Chat] = {}
        self._users: dict[int, JSONDict] = {}
        self._admins: dict[int, set[int]] = {}
        self._files: dict[str, _FileEntry] = {}
        self._files_by_path: dict[str, _FileEntry] = {}
        self._file_counter = 0
        self._callbacks: dict[str, bool] = {}  # query id -> answered
        self._callback_counter = 0
        self._commands: dict[tuple[str, str], list[JSONDict]] = {}
        self._injections: dict[str, list[_Injection]] = {}

        self._queue: list[_QueuedUpdate] = []
        self._next_update_id = 100_001
        self._allowed_updates: frozenset[str] | None = None
        self._poll_generation = 0
        self._poll_waiters: set[asyncio.Event] = set()
        self._closing = False

        self._runner: web.AppRunner | None = None
        self._port: int | None = None

        self._handlers: dict[str, Callable[[JSONDict], Any]] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageCaption": self._edit_message_caption,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "sendChatAction": self._send_chat_action,
            "getFile": self._get_file,
            "getChatMember": self._get_chat_member,
            "sendDocument": self._send_document,
            "close": self._true,
            "logOut": self._true,
        }
        self._method_names = {name.lower(): name for name in self._handlers}

    # ---------------------------------------------------------------------------------------
    # lifecycle

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._require_port()}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self._require_port()}/file/bot"

    def _require_port(self) -> int:
        if self._port is None:
            raise RuntimeError("FakeTelegram is not started: await fake.start() first")
        return self._port

    async def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError("FakeTelegram is already running")
        self._closing = False
        app = web.Application(client_max_size=MAX_UPLOAD_BYTES + 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_route("GET", "/file/bot{token}/{file_path:.*}", self._handle_file)
        app.router.add_route("*", "/{tail:.*}", self._handle_unknown_path)
        runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0
        )
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind(("127.0.0.1", 0))
            site = web.SockSite(runner, sock)
            await site.start()
        except BaseException:
            sock.close()
            await runner.cleanup()
            raise
        self._port = sock.getsockname()[1]
        self._runner = runner

    async def stop(self) -> None:
        self._closing = True
        self._wake_pollers()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> FakeTelegram:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ---------------------------------------------------------------------------------------
    # files

    def _register_file(self, data: bytes, folder: str, suffix: str) -> _FileEntry:
        n = self._file_counter
        self._file_counter += 1
        entry = _FileEntry(
            file_id=f"FAKE-{n:05d}-{secrets.token_hex(8)}",
            file_unique_id=f"AgADu{n:05d}",
            file_path=f"{folder}/file_{n}{suffix}",
            data=bytes(data),
        )
        self._files[entry.file_id] = entry
        self._files_by_path[entry.file_path] = entry
        return entry

    def add_file(self, data: bytes, *, file_path_suffix: str = ".oga") -> str:
        return self._register_file(data, "voice", file_path_suffix).file_id

    def forget_file(self, file_id: str) -> None:
        self._files[file_id].forgotten = True

    def _media(self, data: bytes, folder: str, suffix: str, **fields: Any) -> JSONDict:
        entry = self._register_file(data, folder, suffix)
        media: JSONDict = {"file_id": entry.file_id, "file_unique_id": entry.file_unique_id}
        media.update({key: value for key, value in fields.items() if value is not None})
        media["file_size"] = len(data)
        return media

    def voice(self, data: bytes, *, duration: int = 7, mime_type: str = "audio/ogg") -> JSONDict:
        suffix = _suffix_for(mime_type, default=".oga")
        return self._media(data, "voice", suffix, duration=duration, mime_type=mime_type)

    def audio(
        self,
        data: bytes,
        *,
        duration: int = 6,
        mime_type: str = "audio/mpeg",
        file_name: str = "audio.mp3",
    ) -> JSONDict:
        suffix = _suffix_for(mime_type, file_name, default=".mp3")
        return self._media(
            data, "music", suffix, duration=duration, mime_type=mime_type, file_name=file_name
        )

    def video_note(self, data: bytes, *, duration: int = 4, length: int = 240) -> JSONDict:
        return self._media(data, "video_notes", ".mp4", length=length, duration=duration)

    def video(
        self,
        data: bytes,
        *,
        duration: int = 4,
        mime_type: str = "video/mp4",
        file_name: str | None = None,
    ) -> JSONDict:
        suffix = _suffix_for(mime_type, file_name, default=".mp4")
        return self._media(
            data,
            "videos",
            suffix,
            width=240,
            height=240,
            duration=duration,
            mime_type=mime_type,
            file_name=file_name,
        )

    def document(self, data: bytes, *, mime_type: str | None, file_name: str) -> JSONDict:
        suffix = _suffix_for(mime_type, file_name)
        return self._media(data, "documents", suffix, file_name=file_name, mime_type=mime_type)

    # ---------------------------------------------------------------------------------------
    # the user side

    def _user(self, user_id: int) -> JSONDict:
        return self._users.setdefault(
            user_id, {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"}
        )

    def _default_user_id(self, chat_id: int, user_id: int | None) -> int:
        return user_id if user_id is not None else abs(chat_id)

    def _chat(self, chat_id: int, chat_type: str) -> _Chat:
        chat = self._chats.get(chat_id)
        if chat is None:
            info: JSONDict = {"id": chat_id, "type": chat_type}
            if chat_type == "private":
                info["first_name"] = f"User{chat_id}"
            else:
                info["title"] = f"Chat {chat_id}"
            chat = self._chats[chat_id] = _Chat(info)
        return chat

    def user_message(
        self,
        chat_id: int,
        *,
        user_id: int | None = None,
        chat_type: str = "private",
        text: str | None = None,
        reply_to: int | None = None,
        **media: Any,
    ) -> JSONDict:
        chat = self._chat(chat_id, chat_type)
        sender = self._user(self._default_user_id(chat_id, user_id))
        message: JSONDict = {
            "message_id": chat.next_message_id(),
            "from": dict(sender),
            "chat": dict(chat.info),
            "date": int(time.time()),
        }
        if reply_to is not None:
            target = chat.messages.get(reply_to)
            if target is None:
                raise ValueError(f"chat {chat_id} has no message {reply_to} to reply to")
            message["reply_to_message"] = self._snapshot(target, with_reply=False)
        if text is not None:
            message["text"] = text
            command = _COMMAND_RE.match(text)
            if command:
                message["entities"] = [
                    {"type": "bot_command", "offset": 0, "length": utf16_len(command.group(0))}
                ]
        message.update(media)
        chat.messages[message["message_id"]] = _StoredMessage(copy.deepcopy(message), False)
        self._enqueue({"message": copy.deepcopy(message)})
        return copy.deepcopy(message)

    def push_update(self, update: JSONDict) -> None:
        update = copy.deepcopy(update)
        self._absorb(update)
        self._enqueue(update)

    def press_button(
        self,
        chat_id: int,
        message_id: int,
        data: str,
        *,
        user_id: int | None = None,
        chat_type: str = "private",
    ) -> str:
        chat = self._chats.get(chat_id)
        stored = chat.messages.get(message_id) if chat else None
        if stored is None:
            raise ValueError(f"chat {chat_id} has no message {message_id} to press a button on")
        if stored.deleted:
            raise ValueError(f"message {message_id} in chat {chat_id} was deleted")
        self._callback_counter += 1
        query_id = f"{self._callback_counter}{secrets.randbelow(10**12):012d}"
        sender = self._user(self._default_user_id(chat_id, user_id))
        self._callbacks[query_id] = False
        query = {
            "id": query_id,
            "from": dict(sender),
            "chat_instance": str(abs(chat_id) * 7919 + 104729),
            "data": data,
            "message": self._snapshot(stored),
        }
        self._enqueue({"callback_query": query})
        return query_id

    def delete_user_message(self, chat_id: int, message_id: int) -> None:
        chat = self._chats.get(chat_id)
        stored = chat.messages.get(message_id) if chat else None
        if stored is None:
            raise ValueError(f"chat {chat_id} has no message {message_id}")
        stored.deleted = True

    def set_admins(self, chat_id: int, user_ids: set[int]) -> None:
        self._admins[chat_id] = set(user_ids)

    def _absorb(self, update: JSONDict) -> None:
        """Learn chats, users, messages and callback queries from a raw update."""
        for key in ("message", "edited_message", "channel_post", "edited_channel_post"):
            message = update.get(key)
            if isinstance(message, dict):
                self._absorb_message(message, edited=key.startswith("edited"))
        query = update.get("callback_query")
        if isinstance(query, dict):
            if isinstance(query.get("id"), str):
                self._callbacks.setdefault(query["id"], False)
            if isinstance(query.get("from"), dict):
                self._absorb_user(query["from"])
            if isinstance(query.get("message"), dict):
                self._absorb_message(query["message"], edited=False)
        for key in ("my_chat_member", "chat_member", "chat_join_request"):
            member_update = update.get(key)
            if isinstance(member_update, dict) and isinstance(member_update.get("chat"), dict):
                self._absorb_chat(member_update["chat"])

    def _absorb_chat(self, chat_info: JSONDict) -> _Chat | None:
        chat_id = chat_info.get("id")
        if not isinstance(chat_id, int):
            return None
        chat = self._chats.get(chat_id)
        if chat is None:
            chat = self._chats[chat_id] = _Chat(dict(chat_info))
        return chat

    def _absorb_user(self, user: JSONDict) -> None:
        if isinstance(user.get("id"), int) and not user.get("is_bot"):
            self._users.setdefault(user["id"], dict(user))

    def _absorb_message(self, message: JSONDict, *, edited: bool) -> None:
        chat = self._absorb_chat(message.get("chat") or {})
        if isinstance(message.get("from"), dict):
            self._absorb_user(message["from"])
        message_id = message.get("message_id")
        if chat is None or not isinstance(message_id, int):
            return
        chat.last_message_id = max(chat.last_message_id, message_id)
        stored = chat.messages.get(message_id)
        if stored is None:
            from_bot = (message.get("from") or {}).get("id") == self.bot_user["id"]
            chat.messages[message_id] = _StoredMessage(copy.deepcopy(message), from_bot)
        elif edited:
            stored.message = copy.deepcopy(message)

    def _enqueue(self, update: JSONDict) -> None:
        update_id = update.get("update_id")
        if not isinstance(update_id, int):
            update_id = self._next_update_id
            rest = {key: value for key, value in update.items() if key != "update_id"}
            update = {"update_id": update_id, **rest}
        self._next_update_id = max(self._next_update_id, update_id + 1)
        self.last_update = update
        entry = _QueuedUpdate(update_id, copy.deepcopy(update))
        bisect.insort(self._queue, entry, key=lambda queued: queued.update_id)
        self._wake_pollers()

    def _wake_pollers(self) -> None:
        for event in self._poll_waiters:
            event.set()

    # ---------------------------------------------------------------------------------------
    # what the bot did

    def _snapshot(self, stored: _StoredMessage, *, with_reply: bool = True) -> JSONDict:
        message = copy.deepcopy(stored.message)
        if not with_reply:
            message.pop("reply_to_message", None)
        return message

    def _inspectable(self, stored: _StoredMessage) -> JSONDict:
        message = self._snapshot(stored)
        reply = message.get("reply_to_message")
        message["reply_to_message_id"] = reply.get("message_id") if reply else None
        message["deleted"] = stored.deleted
        if stored.document_bytes is not None:
            message["document_bytes"] = stored.document_bytes
        return message

    def bot_messages(self, chat_id: int, *, include_deleted: bool = False) -> list[JSONDict]:
        chat = self._chats.get(chat_id)
        if chat is None:
            return []
        return [
            self._inspectable(stored)
            for _, stored in sorted(chat.messages.items())
            if stored.from_bot and (include_deleted or not stored.deleted)
        ]

    def message(self, chat_id: int, message_id: int) -> JSONDict | None:
        """Any stored message (user's or bot's) with the convenience keys, or None."""
        chat = self._chats.get(chat_id)
        stored = chat.messages.get(message_id) if chat else None
        return self._inspectable(stored) if stored else None

    @property
    def my_commands(self) -> list[JSONDict]:
        """Commands set for the default scope and no language code."""
        return copy.deepcopy(self._commands.get(self._commands_key(None, None), []))

    def commands_for(
        self, scope: JSONDict | None = None, language_code: str = ""
    ) -> list[JSONDict]:
        return copy.deepcopy(self._commands.get(self._commands_key(scope, language_code), []))

    def calls(self, method: str) -> list[JSONDict]:
        """Params of every call of ``method`` (accepted or rejected), in order."""
        return [params for name, params in self.requests if name == method]

    async def wait_for(
        self,
        predicate: Callable[[], bool],
        timeout: float = 10.0,  # noqa: ASYNC109 - the interface tests are written against
    ) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        last_error: BaseException | None = None
        while True:
            try:
                if predicate():
                    return
                last_error = None
            except Exception as exc:  # e.g. IndexError while the bot has not answered yet
                last_error = exc
            if loop.time() >= deadline:
                break
            await asyncio.sleep(0.02)
        recent = [(m, p) for m, p in self.requests if m != "getUpdates"][-8:]
        lines = [f"condition not met within {timeout}s"]
        if last_error is not None:
            lines.append(f"predicate last raised {last_error!r}")
        lines.append("last requests (getUpdates omitted):")
        lines += [f"  {method} {_short(params)}" for method, params in recent] or ["  (none)"]
        if self.rejections:
            lines.append("last rejections:")
            lines += [f"  {m} -> {d} {_short(p, 200)}" for m, p, d in self.rejections[-5:]]
        raise AssertionError("\n".join(lines))

    def fail_next(
        self,
        method: str,
        *,
        status: int = 400,
        description: str = "Bad Request: injected",
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        parameters: JSONDict | None = None
        if retry_after is not None:
            if status == 400:
                status = 429
            if description == "Bad Request: injected":
                description = f"Too Many Requests: retry after {retry_after}"
            parameters = {"retry_after": retry_after}
        self._injections.setdefault(method.lower(), []).append(
            _Injection(status, description, parameters, times)
        )

    # ---------------------------------------------------------------------------------------
    # HTTP

    async def _read_params(self, request: web.Request) -> JSONDict:
        params: JSONDict = {key: _decode_param(key, value) for key, value in request.query.items()}
        if not request.can_read_body:
            return params
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError as exc:
                raise _bad_request("can't parse JSON encoded request body") from exc
            if not isinstance(body, dict):
                raise _bad_request("can't parse JSON encoded request body")
            params.update(body)
            return params
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, web.FileField):
                params[key] = UploadedFile(value.filename, value.content_type, value.file.read())
            elif isinstance(value, bytes):
                params[key] = UploadedFile(None, None, value)
            else:
                params[key] = _decode_param(key, value)
        return params

    @staticmethod
    def _error_response(error: _ApiError) -> web.Response:
        payload: JSONDict = {
            "ok": False,
            "error_code": error.status,
            "description": error.description,
        }
        if error.parameters:
            payload["parameters"] = error.parameters
        return web.json_response(payload, status=error.status)

    async def _handle_api(self, request: web.Request) -> web.Response:
        raw_method = request.match_info["method"]
        method = self._method_names.get(raw_method.lower(), raw_method)
        try:
            params = await self._read_params(request)
        except _ApiError as error:
            self.requests.append((method, {}))
            self.rejections.append((method, {}, error.description))
            return self._error_response(error)
        self.requests.append((method, params))
        try:
            if request.match_info["token"] != self.token:
                raise _ApiError(401, "Unauthorized")
            handler = self._handlers.get(method)
            if handler is None:
                raise _ApiError(404, "Not Found")
            self._apply_injection(method)
            if method == "getUpdates":
                result = await self._get_updates(params, request)
            else:
                result = handler(params)
                if inspect.isawaitable(result):
                    result = await result
        except _ApiError as error:
            transport = request.transport
            if error.status == 409 and (transport is None or transport.is_closing()):
                # The client already gave up on this long poll; nobody sees the conflict.
                return self._error_response(error)
            self.rejections.append((method, params, error.description))
            log.debug("fake telegram rejected %s: %s", method, error.description)
            return self._error_response(error)
        return web.json_response({"ok": True, "result": result})

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return self._error_response(_ApiError(401, "Unauthorized"))
        entry = self._files_by_path.get(request.match_info["file_path"])
        if entry is None or entry.forgotten:
            return self._error_response(_ApiError(404, "Not Found"))
        self.file_downloads.append(entry.file_id)
        return web.Response(body=entry.data, content_type="application/octet-stream")

    async def _handle_unknown_path(self, request: web.Request) -> web.Response:
        return self._error_response(_ApiError(404, "Not Found"))

    def _apply_injection(self, method: str) -> None:
        pending = self._injections.get(method.lower())
        if not pending:
            return
        injection = pending[0]
        injection.remaining -= 1
        if injection.remaining <= 0:
            pending.pop(0)
        raise _ApiError(injection.status, injection.description, injection.parameters)

    # ---------------------------------------------------------------------------------------
    # parameter helpers

    @staticmethod
    def _int(params: JSONDict, key: str, missing: str) -> int:
        value = params.get(key)
        if value is None or value == "":
            raise _bad_request(missing)
        if isinstance(value, bool):
            raise _bad_request(f"wrong parameter {key} specified")
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                return int(value)
        raise _bad_request(f"wrong parameter {key} specified")

    def _require_chat(self, params: JSONDict) -> _Chat:
        value = params.get("chat_id")
        if value is None or value == "":
            raise _bad_request("chat_id is empty")
        chat_id: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            chat_id = value
        elif isinstance(value, str):
            with contextlib.suppress(ValueError):
                chat_id = int(value)
        chat = self._chats.get(chat_id) if chat_id is not None else None
        if chat is None:
            raise _bad_request("chat not found")
        return chat

    def _require_message(self, chat: _Chat, params: JSONDict, not_found: str) -> _StoredMessage:
        if params.get("message_id") in (None, "") and params.get("inline_message_id"):
            raise _bad_request("MESSAGE_ID_INVALID")
        message_id = self._int(params, "message_id", "message identifier is not specified")
        stored = chat.messages.get(message_id)
        if stored is None or stored.deleted:
            raise _bad_request(not_found)
        return stored

    def _format(
        self,
        raw_text: Any,
        parse_mode: Any,
        raw_entities: Any,
        *,
        caption: bool,
    ) -> tuple[str, list[JSONDict]]:
        text = "" if raw_text is None else str(raw_text)
        if raw_entities not in (None, "", []):
            entities = self._validate_entities(raw_entities, text)
        elif parse_mode not in (None, ""):
            mode = str(parse_mode).lower()
            try:
                if mode == "html":
                    if not self.strict_html_ampersand:
                        text = _BARE_AMPERSAND_RE.sub("&amp;", text)
                    text, entities = parse_html(text)
                elif mode == "markdownv2":
                    text, entities = parse_markdown_v2(text)
                elif mode == "markdown":
                    text, entities = parse_markdown(text)
                else:
                    raise _bad_request("unsupported parse_mode")
            except EntityParseError as exc:
                raise _bad_request(f"can't parse entities: {exc}") from exc
        else:
            entities = []
        text, entities = _trim(text, entities)
        length = utf16_len(text)
        if caption:
            if length > MAX_CAPTION_LENGTH:
                raise _bad_request("message caption is too long")
        else:
            if not text:
                raise _bad_request("message text is empty")
            if length > MAX_TEXT_LENGTH:
                raise _bad_request("message is too long")
        return text, entities

    @staticmethod
    def _validate_entities(raw: Any, text: str) -> list[JSONDict]:
        raw = _maybe_json(raw)
        if not isinstance(raw, list):
            raise _bad_request("can't parse entities JSON object")
        total = utf16_len(text)
        result: list[JSONDict] = []
        for index, entity in enumerate(raw):
            if not isinstance(entity, dict):
                raise _bad_request(f"can't parse entities: entity {index} is not an object")
            kind = entity.get("type")
            if kind not in ENTITY_TYPES:
                raise _bad_request(f'can\'t parse entities: unsupported entity type "{kind}"')
            offset, length = entity.get("offset"), entity.get("length")
            if (
                not isinstance(offset, int)
                or not isinstance(length, int)
                or isinstance(offset, bool)
                or isinstance(length, bool)
            ):
                raise _bad_request(f"can't parse entities: entity {index} has no offset/length")
            if offset < 0 or length < 1:
                raise _bad_request(
                    f"can't parse entities: entity {index} has invalid offset {offset} "
                    f"or length {length}"
                )
            if offset + length > total:
                raise _bad_request(
                    f"can't parse entities: entity beginning at UTF-16 offset {offset} ends after "
                    f"the end of the text at UTF-16 offset {total}"
                )
            normalized: JSONDict = {"type": kind, "offset": offset, "length": length}
            if kind == "text_link":
                url = entity.get("url")
                if not isinstance(url, str) or not url.strip() or " " in url.strip():
                    raise _bad_request("can't parse entities: text_link entity needs a valid url")
                normalized["url"] = url.strip()
            elif kind == "text_mention":
                user = entity.get("user")
                if not isinstance(user, dict) or not isinstance(user.get("id"), int):
                    raise _bad_request("can't parse entities: text_mention entity needs a user")
                normalized["user"] = user
            elif kind == "custom_emoji":
                emoji_id = entity.get("custom_emoji_id")
                if not isinstance(emoji_id, str) or not emoji_id:
                    raise _bad_request("can't parse entities: custom_emoji entity needs an id")
                normalized["custom_emoji_id"] = emoji_id
            elif kind == "pre" and entity.get("language"):
                normalized["language"] = str(entity["language"])
            elif kind == "date_time":
                for key in ("unix_time", "date_time_format"):
                    if key in entity:
                        normalized[key] = entity[key]
            result.append(normalized)
        return _sort_entities(result)

    @staticmethod
    def _inline_markup(raw: Any, *, inline_only: bool = False) -> JSONDict | None:
        """Validate reply_markup; returns the inline keyboard to store on the message, if any."""
        if raw is None or raw == "":
            return None
        markup = _maybe_json(raw)
        if not isinstance(markup, dict):
            raise _bad_request("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" not in markup:
            if inline_only:
                raise _bad_request("inline keyboard expected")
            if not any(k in markup for k in ("keyboard", "remove_keyboard", "force_reply")):
                raise _bad_request("can't parse reply keyboard markup JSON object")
            return None
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise _bad_request('can\'t parse inline keyboard markup: field "inline_keyboard"')
        actions = (
            "url",
            "callback_data",
            "web_app",
            "login_url",
            "switch_inline_query",
            "switch_inline_query_current_chat",
            "switch_inline_query_chosen_chat",
            "copy_text",
            "callback_game",
            "pay",
        )
        for row in rows:
            for button in row:
                if not isinstance(button, dict):
                    raise _bad_request("can't parse inline keyboard button: object expected")
                label = button.get("text")
                if not isinstance(label, str) or not label.strip():
                    raise _bad_request("BUTTON_TEXT_INVALID")
                present = [key for key in actions if key in button]
                if len(present) != 1:
                    raise _bad_request(
                        "can't parse inline keyboard button: InlineKeyboardButton must have "
                        "exactly one of the optional fields"
                    )
                if "callback_data" in button:
                    data = button["callback_data"]
                    if not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= 64:
                        raise _bad_request("BUTTON_DATA_INVALID")
                if "url" in button:
                    url = button["url"]
                    if not isinstance(url, str) or not url.strip() or " " in url.strip():
                        raise _bad_request("BUTTON_URL_INVALID")
        rows = [row for row in rows if row]
        if not rows:
            return None
        return {"inline_keyboard": rows}

    def _reply_target(self, chat: _Chat, params: JSONDict) -> JSONDict | None:
        reply = _maybe_json(params.get("reply_parameters"))
        if reply in (None, ""):
            if params.get("reply_to_message_id") in (None, ""):
                return None
            reply = {
                "message_id": params["reply_to_message_id"],
                "allow_sending_without_reply": params.get("allow_sending_without_reply", False),
            }
        if not isinstance(reply, dict):
            raise _bad_request("can't parse reply parameters JSON object")
        message_id = self._int(reply, "message_id", "message to be replied not found")
        target_chat = chat
        if reply.get("chat_id") not in (None, "", chat.info["id"]):
            try:
                target_chat = self._require_chat({"chat_id": reply["chat_id"]})
            except _ApiError:
                raise _bad_request("message to be replied not found") from None
        stored = target_chat.messages.get(message_id)
        if stored is None or stored.deleted:
            if reply.get("allow_sending_without_reply") is True:
                return None
            raise _bad_request("message to be replied not found")
        quote = reply.get("quote")
        if quote:
            content = stored.message.get("text") or stored.message.get("caption") or ""
            if str(quote) not in content:
                raise _bad_request("QUOTE_TEXT_INVALID")
        return self._snapshot(stored, with_reply=False)

    def _store_bot_message(
        self,
        chat: _Chat,
        content: JSONDict,
        reply_to: JSONDict | None,
        markup: JSONDict | None,
        document_bytes: bytes | None = None,
    ) -> JSONDict:
        message: JSONDict = {
            "message_id": chat.next_message_id(),
            "from": dict(self.bot_user),
            "chat": dict(chat.info),
            "date": int(time.time()),
        }
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        message.update(content)
        if markup is not None:
            message["reply_markup"] = markup
        stored = _StoredMessage(message, True, document_bytes=document_bytes)
        chat.messages[message["message_id"]] = stored
        return self._snapshot(stored)

    # ---------------------------------------------------------------------------------------
    # methods

    def _true(self, params: JSONDict) -> bool:
        return True

    def _get_me(self, params: JSONDict) -> JSONDict:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _confirm(self, offset: int) -> None:
        if offset > 0:
            self._queue = [
                queued
                for queued in self._queue
                if not (queued.update_id < offset and queued.delivered)
            ]
        elif offset < 0:
            self._queue = self._queue[offset:]

    def _take_updates(self, limit: int) -> list[JSONDict]:
        batch: list[JSONDict] = []
        kept: list[_QueuedUpdate] = []
        for queued in self._queue:
            kind = _update_kind(queued.update)
            if self._allowed_updates is None:
                allowed = kind not in NOT_DELIVERED_BY_DEFAULT
            else:
                allowed = kind in self._allowed_updates
            if not allowed:
                continue  # Telegram drops updates of kinds the bot did not ask for
            kept.append(queued)
            if len(batch) < limit:
                queued.delivered = True
                batch.append(queued.update)
        self._queue = kept
        return batch

    async def _get_updates(
        self, params: JSONDict, request: web.Request | None = None
    ) -> list[JSONDict]:
        offset = self._int(params, "offset", "offset is empty") if "offset" in params else 0
        limit = self._int(params, "limit", "limit is empty") if "limit" in params else 100
        limit = min(max(limit, 1), 100)
        raw_timeout = params.get("timeout") or 0
        try:
            timeout = min(max(float(raw_timeout), 0.0), MAX_POLL_TIMEOUT)
        except (TypeError, ValueError):
            raise _bad_request("wrong parameter timeout specified") from None
        allowed = _maybe_json(params.get("allowed_updates"))
        if isinstance(allowed, list):
            self._allowed_updates = frozenset(str(kind) for kind in allowed) or None

        self._poll_generation += 1
        generation = self._poll_generation
        self._wake_pollers()  # an older long poll still waiting is terminated (409)
        self._confirm(offset)

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self._closing:
                return []
            if generation != self._poll_generation:
                raise _ApiError(409, CONFLICT)
            batch = self._take_updates(limit)
            if batch:
                return batch
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            event = asyncio.Event()
            self._poll_waiters.add(event)
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), remaining)
            finally:
                self._poll_waiters.discard(event)

    def _delete_webhook(self, params: JSONDict) -> bool:
        if params.get("drop_pending_updates") is True:
            self._queue.clear()
        return True

    def _get_webhook_info(self, params: JSONDict) -> JSONDict:
        pending = len(self._queue)
        return {"url": "", "has_custom_certificate": False, "pending_update_count": pending}

    @staticmethod
    def _commands_key(scope: Any, language_code: Any) -> tuple[str, str]:
        scope = _maybe_json(scope)
        if not isinstance(scope, dict):
            scope = {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(language_code or "")

    def _set_my_commands(self, params: JSONDict) -> bool:
        commands = _maybe_json(params.get("commands"))
        if not isinstance(commands, list):
            raise _bad_request("can't parse commands JSON object")
        if len(commands) > 100:
            raise _bad_request("too many commands")
        normalized: list[JSONDict] = []
        for command in commands:
            if not isinstance(command, dict):
                raise _bad_request("can't parse BotCommand JSON object")
            name = command.get("command")
            description = command.get("description")
            if not isinstance(name, str) or not _BOT_COMMAND_RE.fullmatch(name):
                raise _bad_request("BOT_COMMAND_INVALID")
            if not isinstance(description, str) or not 1 <= len(description.strip()) <= 256:
                raise _bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
            normalized.append({"command": name, "description": description})
        key = self._commands_key(params.get("scope"), params.get("language_code"))
        self._commands[key] = normalized
        return True

    def _get_my_commands(self, params: JSONDict) -> list[JSONDict]:
        key = self._commands_key(params.get("scope"), params.get("language_code"))
        return copy.deepcopy(self._commands.get(key, []))

    def _delete_my_commands(self, params: JSONDict) -> bool:
        key = self._commands_key(params.get("scope"), params.get("language_code"))
        self._commands.pop(key, None)
        return True

    def _send_message(self, params: JSONDict) -> JSONDict:
        chat = self._require_chat(params)
        text, entities = self._format(
            params.get("text"), params.get("parse_mode"), params.get("entities"), caption=False
        )
        markup = self._inline_markup(params.get("reply_markup"))
        reply_to = self._reply_target(chat, params)
        content: JSONDict = {"text": text}
        if entities:
            content["entities"] = entities
        return self._store_bot_message(chat, content, reply_to, markup)

    def _editable(self, params: JSONDict) -> _StoredMessage:
        chat = self._require_chat(params)
        stored = self._require_message(chat, params, "message to edit not found")
        if not stored.from_bot:
            raise _bad_request("message can't be edited")
        return stored

    def _edit_message_text(self, params: JSONDict) -> JSONDict:
        stored = self._editable(params)
        message = stored.message
        if "text" not in message:
            raise _bad_request("there is no text in the message to edit")
        text, entities = self._format(
            params.get("text"), params.get("parse_mode"), params.get("entities"), caption=False
        )
        markup = self._inline_markup(params.get("reply_markup"), inline_only=True)
        if (
            text == message.get("text")
            and entities == message.get("entities", [])
            and markup == message.get("reply_markup")
        ):
            raise _bad_request(NOT_MODIFIED.removeprefix("Bad Request: "))
        message["text"] = text
        self._set_optional(message, "entities", entities or None)
        self._set_optional(message, "reply_markup", markup)
        message["edit_date"] = int(time.time())
        return self._snapshot(stored)

    def _edit_message_caption(self, params: JSONDict) -> JSONDict:
        stored = self._editable(params)
        message = stored.message
        if "text" in message:
            raise _bad_request("there is no caption in the message to edit")
        caption, entities = self._format(
            params.get("caption"),
            params.get("parse_mode"),
            params.get("caption_entities"),
            caption=True,
        )
        markup = self._inline_markup(params.get("reply_markup"), inline_only=True)
        if (
            caption == message.get("caption", "")
            and entities == message.get("caption_entities", [])
            and markup == message.get("reply_markup")
        ):
            raise _bad_request(NOT_MODIFIED.removeprefix("Bad Request: "))
        self._set_optional(message, "caption", caption or None)
        self._set_optional(message, "caption_entities", entities or None)
        self._set_optional(message, "reply_markup", markup)
        message["edit_date"] = int(time.time())
        return self._snapshot(stored)

    def _edit_message_reply_markup(self, params: JSONDict) -> JSONDict:
        stored = self._editable(params)
        markup = self._inline_markup(params.get("reply_markup"), inline_only=True)
        if markup == stored.message.get("reply_markup"):
            raise _bad_request(NOT_MODIFIED.removeprefix("Bad Request: "))
        self._set_optional(stored.message, "reply_markup", markup)
        stored.message["edit_date"] = int(time.time())
        return self._snapshot(stored)

    @staticmethod
    def _set_optional(message: JSONDict, key: str, value: Any) -> None:
        if value is None:
            message.pop(key, None)
        else:
            message[key] = value

    def _delete_message(self, params: JSONDict) -> bool:
        chat = self._require_chat(params)
        stored = self._require_message(chat, params, "message to delete not found")
        if (
            not stored.from_bot
            and chat.info.get("type") != "private"
            and self.bot_user["id"] not in self._admins.get(chat.info["id"], set())
        ):
            raise _bad_request("message can't be deleted")
        stored.deleted = True
        return True

    def _answer_callback_query(self, params: JSONDict) -> bool:
        query_id = params.get("callback_query_id")
        if query_id is None or query_id == "":
            raise _bad_request("callback_query_id is empty")
        query_id = str(query_id)
        if self._callbacks.get(query_id, True):
            raise _bad_request(QUERY_TOO_OLD.removeprefix("Bad Request: "))
        text = params.get("text")
        if text is not None and len(str(text)) > MAX_CALLBACK_ANSWER_LENGTH:
            raise _bad_request("MESSAGE_TOO_LONG")
        self._callbacks[query_id] = True
        self.answered_callbacks[query_id] = dict(params)
        return True

    def _send_chat_action(self, params: JSONDict) -> bool:
        self._require_chat(params)
        if params.get("action") not in CHAT_ACTIONS:
            raise _bad_request("wrong parameter action in request")
        return True

    def _get_file(self, params: JSONDict) -> JSONDict:
        file_id = params.get("file_id")
        if file_id is None or file_id == "":
            raise _bad_request("file_id is empty")
        entry = self._files.get(str(file_id))
        if entry is None:
            raise _bad_request("invalid file_id")
        if entry.forgotten:
            raise _bad_request("wrong file_id or the file is temporarily unavailable")
        if len(entry.data) > self.max_download_bytes:
            raise _bad_request("file is too big")
        return {
            "file_id": entry.file_id,
            "file_unique_id": entry.file_unique_id,
            "file_size": len(entry.data),
            "file_path": entry.file_path,
        }

    def _get_chat_member(self, params: JSONDict) -> JSONDict:
        chat = self._require_chat(params)
        user_id = self._int(params, "user_id", "user_id is empty")
        user = dict(self.bot_user) if user_id == self.bot_user["id"] else dict(self._user(user_id))
        if user_id in self._admins.get(chat.info["id"], set()):
            return {
                "status": "administrator",
                "user": user,
                "can_be_edited": False,
                "is_anonymous": False,
                "can_manage_chat": True,
                "can_delete_messages": True,
                "can_manage_video_chats": True,
                "can_restrict_members": True,
                "can_promote_members": False,
                "can_change_info": True,
                "can_invite_users": True,
                "can_post_stories": False,
                "can_edit_stories": False,
                "can_delete_stories": False,
                "can_pin_messages": True,
                "can_manage_topics": False,
            }
        return {"status": "member", "user": user}

    def _send_document(self, params: JSONDict) -> JSONDict:
        chat = self._require_chat(params)
        document = params.get("document")
        if isinstance(document, str) and document.startswith("attach://"):
            document = params.get(document.removeprefix("attach://"))
        if isinstance(document, UploadedFile):
            if not document.data:
                raise _bad_request("file must be non-empty")
            if len(document.data) > MAX_UPLOAD_BYTES:
                raise _ApiError(413, "Request Entity Too Large")
            file_name = document.filename or "document"
            mime_type = document.content_type or "application/octet-stream"
            data = document.data
        elif isinstance(document, str) and document in self._files:
            original = self._files[document]
            data = original.data
            file_name = original.file_path.rsplit("/", 1)[-1]
            mime_type = mimetypes.guess_type(file_name)[0] or "application/octet-stream"
        elif isinstance(document, str) and document.startswith(("http://", "https://")):
            raise _bad_request("failed to get HTTP URL content")
        elif document is None or document == "":
            raise _bad_request("there is no document in the request")
        else:
            raise _bad_request("wrong file identifier/HTTP URL specified")
        caption, entities = self._format(
            params.get("caption"),
            params.get("parse_mode"),
            params.get("caption_entities"),
            caption=True,
        )
        markup = self._inline_markup(params.get("reply_markup"))
        reply_to = self._reply_target(chat, params)
        entry = self._register_file(data, "documents", _suffix_for(mime_type, file_name))
        content: JSONDict = {
            "document": {
                "file_id": entry.file_id,
                "file_unique_id": entry.file_unique_id,
                "file_name": file_name,
                "mime_type": mime_type,
                "file_size": len(data),
            }
        }
        if caption:
            content["caption"] = caption
        if entities:
            content["caption_entities"] = entities
        return self._store_bot_message(chat, content, reply_to, markup, document_bytes=data)
