"""Button data as it comes back from Telegram: any client can send a callback query with any
data on a button's message, so what the bot reads back is parsed, never trusted."""

from __future__ import annotations

import re

# ASCII digits only (`str.isdigit` takes `²` and `٣`, which `int` then refuses or reads), and
# at most 18 of them: any such number fits the 64-bit columns and parameters it is used in.
_ID = re.compile("[0-9]{1,18}")


def parse_id(text: str) -> int | None:
    """The number a button carries (a job id, a page), or None for anything else."""
    return int(text) if _ID.fullmatch(text) else None


# A field of button data besides ids: the short ASCII keys the bot writes (a category, a
# screen, an index), never free text.
_FIELD = re.compile("[a-z0-9_]{1,40}")


def parse_fields(data: str, prefix: str) -> list[str] | None:
    """The fields after `prefix` of data written as `prefix:field:field...`, or None when the
    data has another prefix or a field that is not a short lower-case key."""
    head, _, rest = data.partition(":")
    if head != prefix or not rest:
        return None
    fields = rest.split(":")
    return fields if all(_FIELD.fullmatch(f) for f in fields) else None
