"""What a Telegram refusal means for the bot, decided in one place.

Telegram says why it refused a request only in the text of its answer ("Bad Request: chat not
found"); python-telegram-bot turns that into a `BadRequest` or `Forbidden` whose `message` is the
text without its "Bad Request: " prefix. Every kind the bot acts on is recognised here, so the
text matching lives in one function, tested against the answers Telegram really sends.
"""

from __future__ import annotations

from enum import StrEnum

from telegram.error import BadRequest, Forbidden, RetryAfter

from bot.telegram_io.durations import as_seconds


class Refusal(StrEnum):
    CHAT_GONE = "chat gone"  # the chat does not exist for the bot (deleted, or never joined)
    BLOCKED = "blocked"  # Forbidden: blocked by the user, removed from the group, deactivated
    FILE_TOO_BIG = "file too big"  # getFile on a file over the Bot API's download limit
    BAD_FORMATTING = "bad formatting"  # the message's entities were refused
    BAD_KEYBOARD = "bad keyboard"  # the message's inline keyboard (reply_markup) was refused
    TOPIC_GONE = "topic gone"  # the forum topic was closed or deleted
    QUERY_EXPIRED = "query expired"  # a button press answered too late
    NOT_MODIFIED = "not modified"  # an edit that would change nothing
    OTHER = "other"  # refused for a reason the bot has no special answer for


# Lower-case fragments of Telegram's texts, by kind, checked in this order.
_FRAGMENTS: tuple[tuple[Refusal, tuple[str, ...]], ...] = (
    (Refusal.TOPIC_GONE, ("message thread not found", "topic_closed", "topic_deleted")),
    (Refusal.CHAT_GONE, ("chat not found",)),
    (Refusal.FILE_TOO_BIG, ("file is too big",)),
    (Refusal.QUERY_EXPIRED, ("query is too old", "query id is invalid")),
    (Refusal.NOT_MODIFIED, ("message is not modified",)),
    (Refusal.BAD_FORMATTING, ("can't parse entities", "entity", "entities")),
    (Refusal.BAD_KEYBOARD, ("reply markup", "keyboard", "button")),
)


def refusal(error: BaseException) -> Refusal | None:
    """The kind of refusal `error` is, or None when it is not a refusal at all (a network
    failure, a flood limit, a group upgraded): those are retried or followed, not refused."""
    if isinstance(error, Forbidden):
        return Refusal.BLOCKED
    if not isinstance(error, BadRequest):
        return None
    text = error.message.lower()
    for kind, fragments in _FRAGMENTS:
        if any(fragment in text for fragment in fragments):
            return kind
    return Refusal.OTHER


def is_refusal(error: BaseException, kind: Refusal) -> bool:
    return refusal(error) is kind


# The longest flood wait the bot keeps: a `retry_after` beyond it (a bug, a proxy's answer, a
# value of years) would otherwise silence a chat, or the whole bot, for good.
MAX_RETRY_AFTER = 3600.0


def retry_after_seconds(error: RetryAfter) -> float:
    """How long Telegram asked to wait: never less than a second, nor more than an hour."""
    return min(MAX_RETRY_AFTER, float(as_seconds(error.retry_after) or 1))
