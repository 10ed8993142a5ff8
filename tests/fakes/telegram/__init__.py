"""A loopback fake of the Telegram Bot API for tests.

The real python-telegram-bot talks to it over real HTTP (``ApplicationBuilder().base_url(...)``).
It keeps per-chat message storage, a getUpdates queue with real long polling, serves files and
rejects what real Telegram rejects (bad HTML/Markdown, too long texts, replies to deleted messages,
unmodified edits, stale callback queries, ...), so that bugs in the bot show up in tests.

Nothing here talks to the network except the fake's own listener on 127.0.0.1.

What tests read (on ``FakeTelegram``):

- ``bot_messages(chat_id)`` / ``message(chat_id, message_id)``: messages as they are *now*
  (with ``deleted``, ``reply_to_message_id`` and, for documents, ``document_bytes``).
- ``history(chat_id, message_id)``: every state a message had, oldest first, one entry per
  ``sent`` / ``edited`` / ``deleted``, each with ``at`` (``time.monotonic()``) and the
  content right after that change (``text``, ``entities``, ``caption``, ``reply_markup``...).
  Read it whenever a test means "what the message said first" or "what it went through":
  a status message is edited and deleted while the test runs, so its current state depends on
  the machine's speed. ``history(...)[0]["text"]`` is the first text.
- ``requests`` / ``calls(method)`` (every request, accepted or not), ``rejections``,
  ``answered_callbacks``, ``file_downloads``; ``wait_for(predicate)`` polls a condition.

Modules: ``models`` (stored data), ``errors``, ``text`` (UTF-16 bookkeeping), ``html_parser``
and ``markdown_parser`` (parse modes), ``params`` (request decoding), ``flood`` (the group flood
limit, opt-in), then the layers of ``FakeTelegram``: ``files`` -> ``state`` -> ``validation`` ->
``methods`` -> ``webhook`` (delivery to a webhook set with setWebhook) -> ``server``.
"""

from tests.fakes.telegram.errors import (
    CONFLICT,
    NOT_MODIFIED,
    QUERY_TOO_OLD,
    WEBHOOK_ACTIVE,
    EntityParseError,
)
from tests.fakes.telegram.html_parser import parse_html
from tests.fakes.telegram.markdown_parser import parse_markdown, parse_markdown_v2
from tests.fakes.telegram.methods import MAX_POLL_TIMEOUT, NOT_DELIVERED_BY_DEFAULT
from tests.fakes.telegram.models import JSONDict, UploadedFile
from tests.fakes.telegram.params import STRING_PARAMS
from tests.fakes.telegram.server import FakeTelegram
from tests.fakes.telegram.text import utf16_len
from tests.fakes.telegram.validation import (
    CHAT_ACTIONS,
    ENTITY_TYPES,
    MAX_CALLBACK_ANSWER_LENGTH,
    MAX_CAPTION_LENGTH,
    MAX_TEXT_LENGTH,
    MAX_UPLOAD_BYTES,
)

__all__ = [
    "CHAT_ACTIONS",
    "CONFLICT",
    "ENTITY_TYPES",
    "MAX_CALLBACK_ANSWER_LENGTH",
    "MAX_CAPTION_LENGTH",
    "MAX_POLL_TIMEOUT",
    "MAX_TEXT_LENGTH",
    "MAX_UPLOAD_BYTES",
    "NOT_DELIVERED_BY_DEFAULT",
    "NOT_MODIFIED",
    "QUERY_TOO_OLD",
    "STRING_PARAMS",
    "WEBHOOK_ACTIVE",
    "EntityParseError",
    "FakeTelegram",
    "JSONDict",
    "UploadedFile",
    "parse_html",
    "parse_markdown",
    "parse_markdown_v2",
    "utf16_len",
]
