"""Request checks: what real Telegram rejects in texts, entities, keyboards and replies."""

from __future__ import annotations

import contextlib
import re
from typing import Any

from tests.fakes.telegram.errors import ApiError, EntityParseError, bad_request
from tests.fakes.telegram.html_parser import BARE_AMPERSAND_RE, parse_html
from tests.fakes.telegram.markdown_parser import parse_markdown, parse_markdown_v2
from tests.fakes.telegram.models import Chat, JSONDict, StoredMessage
from tests.fakes.telegram.params import maybe_json
from tests.fakes.telegram.state import ChatState
from tests.fakes.telegram.text import sort_entities, trim_whitespace, utf16_len

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_ANSWER_LENGTH = 200
MAX_UPLOAD_BYTES = 50 * 1024 * 1024

ENTITY_TYPES = frozenset(
    {
        "mention",
        "hashtag",
        "cashtag",
        "bot_command",
        "url",
        "email",
        "phone_number",
        "bold",
        "italic",
        "underline",
        "strikethrough",
        "spoiler",
        "blockquote",
        "expandable_blockquote",
        "code",
        "pre",
        "text_link",
        "text_mention",
        "custom_emoji",
        "date_time",
    }
)

CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)

BOT_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")


class RequestChecks(ChatState):
    """Parameter helpers shared by the method handlers; each raises ``ApiError`` on bad input."""

    def __init__(self, token: str, *, max_download_bytes: int) -> None:
        super().__init__(token, max_download_bytes=max_download_bytes)
        # HTML: real Telegram keeps a bare "&" literally; the fake rejects it to catch missing
        # escaping. Set to False to be exactly as lenient as Telegram.
        self.strict_html_ampersand = True

    @staticmethod
    def _int(params: JSONDict, key: str, missing: str) -> int:
        value = params.get(key)
        if value is None or value == "":
            raise bad_request(missing)
        if isinstance(value, bool):
            raise bad_request(f"wrong parameter {key} specified")
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                return int(value)
        raise bad_request(f"wrong parameter {key} specified")

    def _require_chat(self, params: JSONDict) -> Chat:
        value = params.get("chat_id")
        if value is None or value == "":
            raise bad_request("chat_id is empty")
        chat_id: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            chat_id = value
        elif isinstance(value, str):
            with contextlib.suppress(ValueError):
                chat_id = int(value)
        chat = self._chats.get(chat_id) if chat_id is not None else None
        if chat is None:
            raise bad_request("chat not found")
        if chat.migrated_to is not None:
            raise ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": chat.migrated_to},
            )
        return chat

    def _thread(self, chat: Chat, params: JSONDict, reply_to: JSONDict | None) -> int | None:
        """The forum topic a bot message lands in: its reply target's, else the one asked for
        (which must be an open topic of a forum), else none (the chat's main thread)."""
        if reply_to is not None and reply_to.get("is_topic_message"):
            return int(reply_to["message_thread_id"])
        if params.get("message_thread_id") in (None, ""):
            return None
        thread = self._int(params, "message_thread_id", "message thread not found")
        if thread not in chat.topics:
            raise bad_request("message thread not found")
        return thread

    def _require_message(self, chat: Chat, params: JSONDict, not_found: str) -> StoredMessage:
        if params.get("message_id") in (None, "") and params.get("inline_message_id"):
            raise bad_request("MESSAGE_ID_INVALID")
        message_id = self._int(params, "message_id", "message identifier is not specified")
        stored = chat.messages.get(message_id)
        if stored is None or stored.deleted:
            raise bad_request(not_found)
        return stored

    def _format(
        self,
        raw_text: Any,
        parse_mode: Any,
        raw_entities: Any,
        *,
        caption: bool,
    ) -> tuple[str, list[JSONDict]]:
        text = "" if raw_text is None else str(raw_text)
        if raw_entities not in (None, "", []):
            entities = self._validate_entities(raw_entities, text)
        elif parse_mode not in (None, ""):
            mode = str(parse_mode).lower()
            try:
                if mode == "html":
                    if not self.strict_html_ampersand:
                        text = BARE_AMPERSAND_RE.sub("&amp;", text)
                    text, entities = parse_html(text)
                elif mode == "markdownv2":
                    text, entities = parse_markdown_v2(text)
                elif mode == "markdown":
                    text, entities = parse_markdown(text)
                else:
                    raise bad_request("unsupported parse_mode")
            except EntityParseError as exc:
                raise bad_request(f"can't parse entities: {exc}") from exc
        else:
            entities = []
        text, entities = trim_whitespace(text, entities)
        length = utf16_len(text)
        if caption:
            if length > MAX_CAPTION_LENGTH:
                raise bad_request("message caption is too long")
        else:
            if not text:
                raise bad_request("message text is empty")
            if length > MAX_TEXT_LENGTH:
                raise bad_request("message is too long")
        return text, entities

    @staticmethod
    def _validate_entities(raw: Any, text: str) -> list[JSONDict]:
        raw = maybe_json(raw)
        if not isinstance(raw, list):
            raise bad_request("can't parse entities JSON object")
        total = utf16_len(text)
        result: list[JSONDict] = []
        for index, entity in enumerate(raw):
            if not isinstance(entity, dict):
                raise bad_request(f"can't parse entities: entity {index} is not an object")
            kind = entity.get("type")
            if kind not in ENTITY_TYPES:
                raise bad_request(f'can\'t parse entities: unsupported entity type "{kind}"')
            offset, length = entity.get("offset"), entity.get("length")
            if (
                not isinstance(offset, int)
                or not isinstance(length, int)
                or isinstance(offset, bool)
                or isinstance(length, bool)
            ):
                raise bad_request(f"can't parse entities: entity {index} has no offset/length")
            if offset < 0 or length < 1:
                raise bad_request(
                    f"can't parse entities: entity {index} has invalid offset {offset} "
                    f"or length {length}"
                )
            if offset + length > total:
                raise bad_request(
                    f"can't parse entities: entity beginning at UTF-16 offset {offset} ends after "
                    f"the end of the text at UTF-16 offset {total}"
                )
            normalized: JSONDict = {"type": kind, "offset": offset, "length": length}
            if kind == "text_link":
                url = entity.get("url")
                if not isinstance(url, str) or not url.strip() or " " in url.strip():
                    raise bad_request("can't parse entities: text_link entity needs a valid url")
                normalized["url"] = url.strip()
            elif kind == "text_mention":
                user = entity.get("user")
                if not isinstance(user, dict) or not isinstance(user.get("id"), int):
                    raise bad_request("can't parse entities: text_mention entity needs a user")
                normalized["user"] = user
            elif kind == "custom_emoji":
                emoji_id = entity.get("custom_emoji_id")
                if not isinstance(emoji_id, str) or not emoji_id:
                    raise bad_request("can't parse entities: custom_emoji entity needs an id")
                normalized["custom_emoji_id"] = emoji_id
            elif kind == "pre" and entity.get("language"):
                normalized["language"] = str(entity["language"])
            elif kind == "date_time":
                for key in ("unix_time", "date_time_format"):
                    if key in entity:
                        normalized[key] = entity[key]
            result.append(normalized)
        return sort_entities(result)

    @staticmethod
    def _inline_markup(raw: Any, *, inline_only: bool = False) -> JSONDict | None:
        """Validate reply_markup; returns the inline keyboard to store on the message, if any."""
        if raw is None or raw == "":
            return None
        markup = maybe_json(raw)
        if not isinstance(markup, dict):
            raise bad_request("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" not in markup:
            if inline_only:
                raise bad_request("inline keyboard expected")
            if not any(k in markup for k in ("keyboard", "remove_keyboard", "force_reply")):
                raise bad_request("can't parse reply keyboard markup JSON object")
            return None
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise bad_request('can\'t parse inline keyboard markup: field "inline_keyboard"')
        actions = (
            "url",
            "callback_data",
            "web_app",
            "login_url",
            "switch_inline_query",
            "switch_inline_query_current_chat",
            "switch_inline_query_chosen_chat",
            "copy_text",
            "callback_game",
            "pay",
        )
        for row in rows:
            for button in row:
                if not isinstance(button, dict):
                    raise bad_request("can't parse inline keyboard button: object expected")
                label = button.get("text")
                if not isinstance(label, str) or not label.strip():
                    raise bad_request("BUTTON_TEXT_INVALID")
                present = [key for key in actions if key in button]
                if len(present) != 1:
                    raise bad_request(
                        "can't parse inline keyboard button: InlineKeyboardButton must have "
                        "exactly one of the optional fields"
                    )
                if "callback_data" in button:
                    data = button["callback_data"]
                    if not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= 64:
                        raise bad_request("BUTTON_DATA_INVALID")
                if "url" in button:
                    url = button["url"]
                    if not isinstance(url, str) or not url.strip() or " " in url.strip():
                        raise bad_request("BUTTON_URL_INVALID")
        rows = [row for row in rows if row]
        if not rows:
            return None
        return {"inline_keyboard": rows}

    def _reply_target(self, chat: Chat, params: JSONDict) -> JSONDict | None:
        reply = maybe_json(params.get("reply_parameters"))
        if reply in (None, ""):
            if params.get("reply_to_message_id") in (None, ""):
                return None
            reply = {
                "message_id": params["reply_to_message_id"],
                "allow_sending_without_reply": params.get("allow_sending_without_reply", False),
            }
        if not isinstance(reply, dict):
            raise bad_request("can't parse reply parameters JSON object")
        message_id = self._int(reply, "message_id", "message to be replied not found")
        target_chat = chat
        if reply.get("chat_id") not in (None, "", chat.info["id"]):
            try:
                target_chat = self._require_chat({"chat_id": reply["chat_id"]})
            except ApiError:
                raise bad_request("message to be replied not found") from None
        stored = target_chat.messages.get(message_id)
        if stored is None or stored.deleted:
            if reply.get("allow_sending_without_reply") is True:
                return None
            raise bad_request("message to be replied not found")
        quote = reply.get("quote")
        if quote:
            content = stored.message.get("text") or stored.message.get("caption") or ""
            if str(quote) not in content:
                raise bad_request("QUOTE_TEXT_INVALID")
        return self._snapshot(stored, with_reply=False)
