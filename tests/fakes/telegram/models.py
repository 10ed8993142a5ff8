"""The data the fake keeps: JSON objects, uploaded files, stored chats, messages and updates."""

from __future__ import annotations

import copy
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

JSONDict = dict[str, Any]


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


# What a message looks like is everything but the envelope (who, where, when, replying to what).
_ENVELOPE_KEYS = frozenset(
    {"message_id", "from", "chat", "date", "edit_date", "reply_to_message", "sender_chat"}
)

HistoryEvent = Literal["sent", "edited", "deleted"]


@dataclass
class StoredMessage:
    message: JSONDict  # the current state
    from_bot: bool
    deleted: bool = False
    document_bytes: bytes | None = None
    # Every state the message had, oldest first (see ``FakeTelegram.history``).
    history: list[JSONDict] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.history:
            self.record("sent")

    def record(self, event: HistoryEvent) -> None:
        """Note the message's state right after `event` (a deletion carries no content)."""
        entry: JSONDict = {"event": event, "at": time.monotonic()}
        if event != "deleted":
            for key, value in self.message.items():
                if key not in _ENVELOPE_KEYS:
                    entry[key] = copy.deepcopy(value)
        self.history.append(entry)


@dataclass
class Chat:
    info: JSONDict
    messages: dict[int, StoredMessage] = field(default_factory=dict)
    last_message_id: int = 0
    topics: set[int] = field(default_factory=set)  # open forum topics (message_thread_id)
    migrated_to: int | None = None  # a group upgraded to this supergroup

    def next_message_id(self) -> int:
        self.last_message_id += 1
        return self.last_message_id


@dataclass
class QueuedUpdate:
    update_id: int
    update: JSONDict
    delivered: bool = False


@dataclass
class FileEntry:
    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes
    forgotten: bool = False


@dataclass
class Injection:
    status: int
    description: str
    parameters: JSONDict | None
    remaining: int
    skip: int = 0  # calls let through normally before this one applies


@dataclass
class LateAnswer:
    """Carry the call out, then answer only after `delay` seconds, or (with `until`) once
    that returns."""

    delay: float
    remaining: int
    skip: int = 0
    until: Callable[[], Awaitable[None]] | None = None


@dataclass
class Webhook:
    """What setWebhook registered, and how delivery to it last went (for getWebhookInfo)."""

    url: str
    secret_token: str | None
    allowed_updates: frozenset[str] | None
    max_connections: int
    last_error_date: int | None = None
    last_error_message: str | None = None
