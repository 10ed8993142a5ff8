"""Handlers of the Bot API methods the fake implements, one per method."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import mimetypes
import re
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from tests.fakes.telegram.errors import (
    CONFLICT,
    NOT_MODIFIED,
    QUERY_TOO_OLD,
    WEBHOOK_ACTIVE,
    ApiError,
    bad_request,
)
from tests.fakes.telegram.files import suffix_for
from tests.fakes.telegram.models import (
    Chat,
    JSONDict,
    QueuedUpdate,
    StoredMessage,
    UploadedFile,
    Webhook,
)
from tests.fakes.telegram.params import maybe_json
from tests.fakes.telegram.validation import (
    BOT_COMMAND_RE,
    CHAT_ACTIONS,
    MAX_CALLBACK_ANSWER_LENGTH,
    MAX_UPLOAD_BYTES,
    RequestChecks,
)

MAX_POLL_TIMEOUT = 50.0
WEBHOOK_SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")

# Update kinds Telegram does not deliver unless they are explicitly listed in allowed_updates.
NOT_DELIVERED_BY_DEFAULT = frozenset({"chat_member", "message_reaction", "message_reaction_count"})


def _update_kind(update: JSONDict) -> str:
    return next((key for key in update if key != "update_id"), "")


def _allowed_updates(params: JSONDict) -> frozenset[str] | None:
    """The allowed_updates parameter; None when not given (an empty list means the default)."""
    allowed = maybe_json(params.get("allowed_updates"))
    return frozenset(str(kind) for kind in allowed) if isinstance(allowed, list) else None


class BotApiMethods(RequestChecks):
    """Each handler takes the decoded params and returns the result or raises ``ApiError``."""

    def __init__(self, token: str, *, max_download_bytes: int) -> None:
        super().__init__(token, max_download_bytes=max_download_bytes)
        self.answered_callbacks: dict[str, JSONDict] = {}
        self._commands: dict[tuple[str, str], list[JSONDict]] = {}
        self._allowed_updates: frozenset[str] | None = None
        self._poll_generation = 0
        self._closing = False
        self.webhook: Webhook | None = None
        self._confirm_listeners: list[Callable[[list[int]], None]] = []

    def on_confirmed(self, listener: Callable[[list[int]], None]) -> None:
        """Call ``listener`` with the ids of updates the moment Telegram forgets them: when a
        getUpdates offset moves past them, or a webhook request for one is answered 2xx. It
        runs inside that request, before the bot gets its answer (a test may kill the bot)."""
        self._confirm_listeners.append(listener)

    def _confirmed(self, update_ids: list[int]) -> None:
        if update_ids:
            for listener in list(self._confirm_listeners):
                listener(update_ids)

    def _store_bot_message(
        self,
        chat: Chat,
        content: JSONDict,
        reply_to: JSONDict | None,
        markup: JSONDict | None,
        document_bytes: bytes | None = None,
        thread: int | None = None,
    ) -> JSONDict:
        message: JSONDict = {
            "message_id": chat.next_message_id(),
            "from": dict(self.bot_user),
            "chat": dict(chat.info),
            "date": int(time.time()),
        }
        if thread is not None:
            message["message_thread_id"] = thread
            message["is_topic_message"] = True
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        message.update(content)
        if markup is not None:
            message["reply_markup"] = markup
        stored = StoredMessage(message, True, document_bytes=document_bytes)
        chat.messages[message["message_id"]] = stored
        return self._snapshot(stored)

    # ---------------------------------------------------------------------------------------
    # methods

    def _true(self, params: JSONDict) -> bool:
        return True

    def _get_me(self, params: JSONDict) -> JSONDict:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _confirm(self, offset: int) -> None:
        if offset > 0:
            forgotten = [q for q in self._queue if q.update_id < offset and q.delivered]
            self._queue = [q for q in self._queue if not (q.update_id < offset and q.delivered)]
            self._confirmed([q.update_id for q in forgotten])
        elif offset < 0:
            self._queue = self._queue[offset:]

    def _allowed(self, update: JSONDict, allowed_updates: frozenset[str] | None) -> bool:
        kind = _update_kind(update)
        if allowed_updates is None:
            return kind not in NOT_DELIVERED_BY_DEFAULT
        return kind in allowed_updates

    def _take_updates(self, limit: int) -> list[JSONDict]:
        batch: list[JSONDict] = []
        kept: list[QueuedUpdate] = []
        for queued in self._queue:
            if not self._allowed(queued.update, self._allowed_updates):
                continue  # Telegram drops updates of kinds the bot did not ask for
            kept.append(queued)
            if len(batch) < limit:
                queued.delivered = True
                batch.append(queued.update)
        self._queue = kept
        return batch

    async def _get_updates(
        self, params: JSONDict, request: web.Request | None = None
    ) -> list[JSONDict]:
        offset = self._int(params, "offset", "offset is empty") if "offset" in params else 0
        limit = self._int(params, "limit", "limit is empty") if "limit" in params else 100
        limit = min(max(limit, 1), 100)
        raw_timeout = params.get("timeout") or 0
        try:
            timeout = min(max(float(raw_timeout), 0.0), MAX_POLL_TIMEOUT)
        except (TypeError, ValueError):
            raise bad_request("wrong parameter timeout specified") from None
        if self.webhook is not None:
            raise ApiError(409, WEBHOOK_ACTIVE)
        allowed = _allowed_updates(params)
        if allowed is not None:
            self._allowed_updates = allowed or None

        self._poll_generation += 1
        generation = self._poll_generation
        self._wake_pollers()  # an older long poll still waiting is terminated (409)
        self._confirm(offset)

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self._closing:
                return []
            if generation != self._poll_generation:
                raise ApiError(409, CONFLICT)
            if self.webhook is not None:
                raise ApiError(409, WEBHOOK_ACTIVE)
            batch = self._take_updates(limit)
            if batch:
                return batch
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            event = asyncio.Event()
            self._poll_waiters.add(event)
            try:
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow the
                # cancellation of a poll whose client went away just as an update came in.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(remaining):
                        await event.wait()
            finally:
                self._poll_waiters.discard(event)

    def _set_webhook(self, params: JSONDict) -> bool:
        url = params.get("url")
        if not isinstance(url, str) or not url:
            return self._delete_webhook(params)  # an empty URL removes the webhook
        # Real Telegram demands https on ports 443, 80, 88 or 8443; the fake delivers to the
        # bot's plain-http listener on 127.0.0.1, as a TLS reverse proxy would.
        if not url.startswith(("https://", "http://127.0.0.1:")):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not WEBHOOK_SECRET_RE.fullmatch(str(secret)):
            raise bad_request("secret token contains unallowed characters")
        allowed = _allowed_updates(params)
        if allowed is None and self.webhook is not None:
            allowed = self.webhook.allowed_updates  # not given: Telegram keeps the previous list
        max_connections = params.get("max_connections", 40)
        if not isinstance(max_connections, int) or not 1 <= max_connections <= 100:
            raise bad_request("bad webhook: max_connections must be between 1 and 100")
        if params.get("drop_pending_updates") is True:
            self._queue.clear()
        self.webhook = Webhook(
            url, str(secret) if secret else None, allowed or None, max_connections
        )
        self._wake_pollers()  # a long poll still waiting ends; webhook delivery starts
        return True

    def _delete_webhook(self, params: JSONDict) -> bool:
        if params.get("drop_pending_updates") is True:
            self._queue.clear()
        self.webhook = None
        return True

    def _get_webhook_info(self, params: JSONDict) -> JSONDict:
        hook = self.webhook
        allowed = self._allowed_updates if hook is None else hook.allowed_updates
        info: JSONDict = {
            "url": hook.url if hook else "",
            "has_custom_certificate": False,
            "pending_update_count": sum(1 for q in self._queue if self._allowed(q.update, allowed)),
        }
        if hook is not None:
            info["max_connections"] = hook.max_connections
            if hook.allowed_updates is not None:
                info["allowed_updates"] = sorted(hook.allowed_updates)
            if hook.last_error_date is not None:
                info["last_error_date"] = hook.last_error_date
                info["last_error_message"] = hook.last_error_message
        return info

    @staticmethod
    def _commands_key(scope: Any, language_code: Any) -> tuple[str, str]:
        scope = maybe_json(scope)
        if not isinstance(scope, dict):
            scope = {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(language_code or "")

    def _set_my_commands(self, params: JSONDict) -> bool:
        commands = maybe_json(params.get("commands"))
        if not isinstance(commands, list):
            raise bad_request("can't parse commands JSON object")
        if len(commands) > 100:
            raise bad_request("too many commands")
        normalized: list[JSONDict] = []
        for command in commands:
            if not isinstance(command, dict):
                raise bad_request("can't parse BotCommand JSON object")
            name = command.get("command")
            description = command.get("description")
            if not isinstance(name, str) or not BOT_COMMAND_RE.fullmatch(name):
                raise bad_request("BOT_COMMAND_INVALID")
            if not isinstance(description, str) or not 1 <= len(description.strip()) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
            normalized.append({"command": name, "description": description})
        key = self._commands_key(params.get("scope"), params.get("language_code"))
        self._commands[key] = normalized
        return True

    def _get_my_commands(self, params: JSONDict) -> list[JSONDict]:
        key = self._commands_key(params.get("scope"), params.get("language_code"))
        return copy.deepcopy(self._commands.get(key, []))

    def _delete_my_commands(self, params: JSONDict) -> bool:
        key = self._commands_key(params.get("scope"), params.get("language_code"))
        self._commands.pop(key, None)
        return True

    def _send_message(self, params: JSONDict) -> JSONDict:
        chat = self._require_chat(params)
        text, entities = self._format(
            params.get("text"), params.get("parse_mode"), params.get("entities"), caption=False
        )
        markup = self._inline_markup(params.get("reply_markup"))
        reply_to = self._reply_target(chat, params)
        thread = self._thread(chat, params, reply_to)
        content: JSONDict = {"text": text}
        if entities:
            content["entities"] = entities
        return self._store_bot_message(chat, content, reply_to, markup, thread=thread)

    def _editable(self, params: JSONDict) -> StoredMessage:
        chat = self._require_chat(params)
        stored = self._require_message(chat, params, "message to edit not found")
        if not stored.from_bot:
            raise bad_request("message can't be edited")
        return stored

    def _edit_message_text(self, params: JSONDict) -> JSONDict:
        stored = self._editable(params)
        message = stored.message
        if "text" not in message:
            raise bad_request("there is no text in the message to edit")
        text, entities = self._format(
            params.get("text"), params.get("parse_mode"), params.get("entities"), caption=False
        )
        markup = self._inline_markup(params.get("reply_markup"), inline_only=True)
        if (
            text == message.get("text")
            and entities == message.get("entities", [])
            and markup == message.get("reply_markup")
        ):
            raise bad_request(NOT_MODIFIED.removeprefix("Bad Request: "))
        message["text"] = text
        self._set_optional(message, "entities", entities or None)
        self._set_optional(message, "reply_markup", markup)
        message["edit_date"] = int(time.time())
        stored.record("edited")
        return self._snapshot(stored)

    def _edit_message_caption(self, params: JSONDict) -> JSONDict:
        stored = self._editable(params)
        message = stored.message
        if "text" in message:
            raise bad_request("there is no caption in the message to edit")
        caption, entities = self._format(
            params.get("caption"),
            params.get("parse_mode"),
            params.get("caption_entities"),
            caption=True,
        )
        markup = self._inline_markup(params.get("reply_markup"), inline_only=True)
        if (
            caption == message.get("caption", "")
            and entities == message.get("caption_entities", [])
            and markup == message.get("reply_markup")
        ):
            raise bad_request(NOT_MODIFIED.removeprefix("Bad Request: "))
        self._set_optional(message, "caption", caption or None)
        self._set_optional(message, "caption_entities", entities or None)
        self._set_optional(message, "reply_markup", markup)
        message["edit_date"] = int(time.time())
        stored.record("edited")
        return self._snapshot(stored)

    def _edit_message_reply_markup(self, params: JSONDict) -> JSONDict:
        stored = self._editable(params)
        markup = self._inline_markup(params.get("reply_markup"), inline_only=True)
        if markup == stored.message.get("reply_markup"):
            raise bad_request(NOT_MODIFIED.removeprefix("Bad Request: "))
        self._set_optional(stored.message, "reply_markup", markup)
        stored.message["edit_date"] = int(time.time())
        stored.record("edited")
        return self._snapshot(stored)

    @staticmethod
    def _set_optional(message: JSONDict, key: str, value: Any) -> None:
        if value is None:
            message.pop(key, None)
        else:
            message[key] = value

    def _delete_message(self, params: JSONDict) -> bool:
        chat = self._require_chat(params)
        stored = self._require_message(chat, params, "message to delete not found")
        if (
            not stored.from_bot
            and chat.info.get("type") != "private"
            and self.bot_user["id"] not in self._admins.get(chat.info["id"], set())
        ):
            raise bad_request("message can't be deleted")
        stored.deleted = True
        stored.record("deleted")
        return True

    def _answer_callback_query(self, params: JSONDict) -> bool:
        query_id = params.get("callback_query_id")
        if query_id is None or query_id == "":
            raise bad_request("callback_query_id is empty")
        query_id = str(query_id)
        if self._callbacks.get(query_id, True):
            raise bad_request(QUERY_TOO_OLD.removeprefix("Bad Request: "))
        text = params.get("text")
        if text is not None and len(str(text)) > MAX_CALLBACK_ANSWER_LENGTH:
            raise bad_request("MESSAGE_TOO_LONG")
        self._callbacks[query_id] = True
        self.answered_callbacks[query_id] = dict(params)
        return True

    def _send_chat_action(self, params: JSONDict) -> bool:
        self._require_chat(params)
        if params.get("action") not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        return True

    def _get_file(self, params: JSONDict) -> JSONDict:
        file_id = params.get("file_id")
        if file_id is None or file_id == "":
            raise bad_request("file_id is empty")
        entry = self._files.get(str(file_id))
        if entry is None:
            raise bad_request("invalid file_id")
        if entry.forgotten:
            raise bad_request("wrong file_id or the file is temporarily unavailable")
        if len(entry.data) > self.max_download_bytes:
            raise bad_request("file is too big")
        file_path = entry.file_path
        if self.local_files_dir is not None:
            local = self.local_files_dir / entry.file_path
            if not local.exists():
                local.parent.mkdir(parents=True, exist_ok=True)
                local.write_bytes(entry.data)
            file_path = str(local)
        return {
            "file_id": entry.file_id,
            "file_unique_id": entry.file_unique_id,
            "file_size": len(entry.data),
            "file_path": file_path,
        }

    def _get_chat_member(self, params: JSONDict) -> JSONDict:
        chat = self._require_chat(params)
        user_id = self._int(params, "user_id", "user_id is empty")
        user = dict(self.bot_user) if user_id == self.bot_user["id"] else dict(self._user(user_id))
        if user_id in self._admins.get(chat.info["id"], set()):
            return {
                "status": "administrator",
                "user": user,
                "can_be_edited": False,
                "is_anonymous": False,
                "can_manage_chat": True,
                "can_delete_messages": True,
                "can_manage_video_chats": True,
                "can_restrict_members": True,
                "can_promote_members": False,
                "can_change_info": True,
                "can_invite_users": True,
                "can_post_stories": False,
                "can_edit_stories": False,
                "can_delete_stories": False,
                "can_pin_messages": True,
                "can_manage_topics": False,
            }
        return {"status": "member", "user": user}

    def _send_document(self, params: JSONDict) -> JSONDict:
        chat = self._require_chat(params)
        document = params.get("document")
        if isinstance(document, str) and document.startswith("attach://"):
            document = params.get(document.removeprefix("attach://"))
        if isinstance(document, UploadedFile):
            if not document.data:
                raise bad_request("file must be non-empty")
            if len(document.data) > MAX_UPLOAD_BYTES:
                raise ApiError(413, "Request Entity Too Large")
            file_name = document.filename or "document"
            mime_type = document.content_type or "application/octet-stream"
            data = document.data
        elif isinstance(document, str) and document in self._files:
            original = self._files[document]
            data = original.data
            file_name = original.file_path.rsplit("/", 1)[-1]
            mime_type = mimetypes.guess_type(file_name)[0] or "application/octet-stream"
        elif isinstance(document, str) and document.startswith(("http://", "https://")):
            raise bad_request("failed to get HTTP URL content")
        elif document is None or document == "":
            raise bad_request("there is no document in the request")
        else:
            raise bad_request("wrong file identifier/HTTP URL specified")
        caption, entities = self._format(
            params.get("caption"),
            params.get("parse_mode"),
            params.get("caption_entities"),
            caption=True,
        )
        markup = self._inline_markup(params.get("reply_markup"))
        reply_to = self._reply_target(chat, params)
        thread = self._thread(chat, params, reply_to)
        entry = self._register_file(data, "documents", suffix_for(mime_type, file_name))
        content: JSONDict = {
            "document": {
                "file_id": entry.file_id,
                "file_unique_id": entry.file_unique_id,
                "file_name": file_name,
                "mime_type": mime_type,
                "file_size": len(data),
            }
        }
        if caption:
            content["caption"] = caption
        if entities:
            content["caption_entities"] = entities
        return self._store_bot_message(
            chat, content, reply_to, markup, document_bytes=data, thread=thread
        )
