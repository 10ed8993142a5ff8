"""The fake Telegram Bot API, under the import path the tests and the benchmark use.

The implementation lives in the ``tests.fakes.telegram`` package; this module only re-exports
its public names so that ``from tests.fakes.telegram_api import FakeTelegram`` keeps working.
"""

from tests.fakes.telegram import (
    CHAT_ACTIONS,
    CONFLICT,
    ENTITY_TYPES,
    MAX_CALLBACK_ANSWER_LENGTH,
    MAX_CAPTION_LENGTH,
    MAX_POLL_TIMEOUT,
    MAX_TEXT_LENGTH,
    MAX_UPLOAD_BYTES,
    NOT_DELIVERED_BY_DEFAULT,
    NOT_MODIFIED,
    QUERY_TOO_OLD,
    STRING_PARAMS,
    EntityParseError,
    FakeTelegram,
    JSONDict,
    UploadedFile,
    parse_html,
    parse_markdown,
    parse_markdown_v2,
    utf16_len,
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
    "EntityParseError",
    "FakeTelegram",
    "JSONDict",
    "UploadedFile",
    "parse_html",
    "parse_markdown",
    "parse_markdown_v2",
    "utf16_len",
]
