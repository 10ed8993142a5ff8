"""Decoding of request parameters, which arrive as query strings, JSON bodies or form fields."""

from __future__ import annotations

import json
from typing import Any

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


def maybe_json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def decode_param(name: str, raw: str) -> Any:
    if name in STRING_PARAMS:
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw
