"""Chats, users, stored messages and the update queue: the user side that tests drive."""

from __future__ import annotations

import asyncio
import bisect
import copy
import re
import secrets
import time
from typing import Any

from tests.fakes.telegram.files import FileStore
from tests.fakes.telegram.models import Chat, JSONDict, QueuedUpdate, StoredMessage
from tests.fakes.telegram.text import utf16_len

_COMMAND_RE = re.compile(r"/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,64})?")


class ChatState(FileStore):
    """What the fake knows about the conversation, and how tests add to it."""

    def __init__(self, token: str, *, max_download_bytes: int) -> None:
        super().__init__(max_download_bytes=max_download_bytes)
        self.token: str = token
        self.bot_user: JSONDict = {
            "id": int(token.split(":", 1)[0]),
            "is_bot": True,
            "first_name": "Intron Test Bot",
            "username": "intron_test_bot",
        }
        self.last_update: JSONDict | None = None

        self._chats: dict[int, Chat] = {}
        self._users: dict[int, JSONDict] = {}
        self._admins: dict[int, set[int]] = {}
        self._callbacks: dict[str, bool] = {}  # query id -> answered
        self._callback_counter = 0

        self._queue: list[QueuedUpdate] = []
        self._next_update_id = 100_001
        self._poll_waiters: set[asyncio.Event] = set()

    def _user(self, user_id: int) -> JSONDict:
        return self._users.setdefault(
            user_id, {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"}
        )

    def set_language(self, user_id: int, language_code: str | None) -> None:
        """The language this user's Telegram app is set to (`language_code` on every message
        and button press they send from now on); None removes it, as for some clients."""
        user = self._user(user_id)
        if language_code is None:
            user.pop("language_code", None)
        else:
            user["language_code"] = language_code

    def _default_user_id(self, chat_id: int, user_id: int | None) -> int:
        return user_id if user_id is not None else abs(chat_id)

    def _chat(self, chat_id: int, chat_type: str) -> Chat:
        chat = self._chats.get(chat_id)
        if chat is None:
            info: JSONDict = {"id": chat_id, "type": chat_type}
            if chat_type == "private":
                info["first_name"] = f"User{chat_id}"
            else:
                info["title"] = f"Chat {chat_id}"
            chat = self._chats[chat_id] = Chat(info)
        return chat

    def user_message(
        self,
        chat_id: int,
        *,
        user_id: int | None = None,
        chat_type: str = "private",
        text: str | None = None,
        reply_to: int | None = None,
        topic: int | None = None,
        enqueue: bool = True,
        **media: Any,
    ) -> JSONDict:
        """A user sends a message; it is queued as an update unless ``enqueue`` is False (for
        a test that delivers the update itself). ``topic`` sends it in that forum topic (the
        chat becomes a forum)."""
        chat = self._chat(chat_id, chat_type)
        if chat.migrated_to is not None:
            raise ValueError(f"chat {chat_id} was upgraded to {chat.migrated_to}")
        sender = self._user(self._default_user_id(chat_id, user_id))
        if topic is not None:
            chat.info["is_forum"] = True
            chat.topics.add(topic)
        message: JSONDict = {
            "message_id": chat.next_message_id(),
            "from": dict(sender),
            "chat": dict(chat.info),
            "date": int(time.time()),
        }
        if topic is not None:
            message["message_thread_id"] = topic
            message["is_topic_message"] = True
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
        chat.messages[message["message_id"]] = StoredMessage(copy.deepcopy(message), False)
        if enqueue:
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
        expired: bool = False,
    ) -> str:
        """A user presses an inline button. `expired`: pressed so long before the bot sees it
        (it was down) that Telegram no longer accepts an answer to it."""
        chat = self._chats.get(chat_id)
        stored = chat.messages.get(message_id) if chat else None
        if stored is None:
            raise ValueError(f"chat {chat_id} has no message {message_id} to press a button on")
        if stored.deleted:
            raise ValueError(f"message {message_id} in chat {chat_id} was deleted")
        self._callback_counter += 1
        query_id = f"{self._callback_counter}{secrets.randbelow(10**12):012d}"
        sender = self._user(self._default_user_id(chat_id, user_id))
        self._callbacks[query_id] = expired  # an expired query answers like an answered one
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
        stored.record("deleted")

    def set_admins(self, chat_id: int, user_ids: set[int]) -> None:
        self._admins[chat_id] = set(user_ids)

    def delete_topic(self, chat_id: int, topic: int) -> None:
        """Close a forum topic: sending into it is refused from now on."""
        self._chats[chat_id].topics.discard(topic)

    def migrate_chat(self, chat_id: int, *, notify: bool = True) -> int:
        """Upgrade a group to a supergroup, as Telegram does: the supergroup gets a new id,
        the old group refuses everything with `migrate_to_chat_id`, and (with `notify`) both
        chats get their service message. Returns the new id."""
        old = self._chats[chat_id]
        new_id = -1_000_000_000_000 + chat_id if chat_id > -1_000_000_000_000 else chat_id - 1
        info = {"id": new_id, "type": "supergroup", "title": old.info.get("title", "")}
        new = self._chats[new_id] = Chat(info)
        old.migrated_to = new_id
        self._admins[new_id] = set(self._admins.get(chat_id, set()))
        if notify:
            user = self._user(next(iter(self._admins.get(chat_id, set())), abs(chat_id)))
            for chat, key, other in (
                (old, "migrate_to_chat_id", new_id),
                (new, "migrate_from_chat_id", chat_id),
            ):
                message = {
                    "message_id": chat.next_message_id(),
                    "from": dict(user),
                    "chat": dict(chat.info),
                    "date": int(time.time()),
                    key: other,
                }
                chat.messages[message["message_id"]] = StoredMessage(copy.deepcopy(message), False)
                self._enqueue({"message": message})
        return new_id

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

    def _absorb_chat(self, chat_info: JSONDict) -> Chat | None:
        chat_id = chat_info.get("id")
        if not isinstance(chat_id, int):
            return None
        chat = self._chats.get(chat_id)
        if chat is None:
            chat = self._chats[chat_id] = Chat(dict(chat_info))
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
            chat.messages[message_id] = StoredMessage(copy.deepcopy(message), from_bot)
        elif edited:
            stored.message = copy.deepcopy(message)
            stored.record("edited")

    def _enqueue(self, update: JSONDict) -> None:
        update_id = update.get("update_id")
        if not isinstance(update_id, int):
            update_id = self._next_update_id
            rest = {key: value for key, value in update.items() if key != "update_id"}
            update = {"update_id": update_id, **rest}
        self._next_update_id = max(self._next_update_id, update_id + 1)
        self.last_update = update
        entry = QueuedUpdate(update_id, copy.deepcopy(update))
        bisect.insort(self._queue, entry, key=lambda queued: queued.update_id)
        self._wake_pollers()

    def _wake_pollers(self) -> None:
        for event in self._poll_waiters:
            event.set()

    # ---------------------------------------------------------------------------------------
    # what the bot did

    def _snapshot(self, stored: StoredMessage, *, with_reply: bool = True) -> JSONDict:
        message = copy.deepcopy(stored.message)
        if not with_reply:
            message.pop("reply_to_message", None)
        return message

    def _inspectable(self, stored: StoredMessage) -> JSONDict:
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

    def history(self, chat_id: int, message_id: int) -> list[JSONDict]:
        """Every state a message (user's or bot's) had, oldest first.

        One entry per change: ``{"event": "sent" | "edited" | "deleted", "at": ..., ...}``,
        where ``at`` is ``time.monotonic()`` when the fake accepted the change and the rest is
        the message's content right after it: ``text`` and ``entities``, or ``caption`` and
        ``caption_entities`` and the media (``document``, ``voice``, ...), and
        ``reply_markup``; a key the message did not have then is absent. A ``deleted`` entry
        carries no content. Only accepted requests appear; rejected ones are in
        ``rejections``.
        """
        chat = self._chats.get(chat_id)
        stored = chat.messages.get(message_id) if chat else None
        if stored is None:
            raise ValueError(f"chat {chat_id} has no message {message_id}")
        return copy.deepcopy(stored.history)
