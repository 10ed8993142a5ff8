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
