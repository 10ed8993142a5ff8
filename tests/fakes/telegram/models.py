"""The data the fake keeps: JSON objects, uploaded files, stored chats, messages and updates."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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


@dataclass
class StoredMessage:
    message: JSONDict
    from_bot: bool
    deleted: bool = False
    document_bytes: bytes | None = None


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
    """Answer only after `delay` seconds, having carried the call out first (or not at all:
    a client that gives up meanwhile then cancels it)."""

    delay: float
    remaining: int
    carried_out: bool = True
    skip: int = 0
