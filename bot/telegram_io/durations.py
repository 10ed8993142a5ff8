"""Durations as Telegram sends them: a media file's length and a flood limit's Retry-After."""

from __future__ import annotations

from datetime import timedelta


def as_seconds(value: timedelta | float | None) -> int | None:
    """python-telegram-bot 22 gives durations as timedelta (older versions gave int)."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        return round(value.total_seconds())
    return round(value)
