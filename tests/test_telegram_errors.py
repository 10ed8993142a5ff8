"""The one Telegram error classifier, fed the answers Telegram really sends.

Each answer goes through python-telegram-bot's own request path (a `Bot` whose HTTP transport is
an `httpx.MockTransport`), so the exception classified is the one the bot meets in production,
prefix stripping and all.
"""

from __future__ import annotations

import json

import httpx
import pytest
from telegram import Bot
from telegram.error import BadRequest, NetworkError, RetryAfter, TelegramError
from telegram.request import HTTPXRequest

from bot.telegram_io.errors import Refusal, refusal, retry_after_seconds

TOKEN = "123:TEST"


def bot_answering(status: int, body: dict[str, object]) -> Bot:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=json.dumps(body).encode())

    request = HTTPXRequest(httpx_kwargs={"transport": httpx.MockTransport(answer)})
    return Bot(TOKEN, request=request)


async def error_from(status: int, description: str, **extra: object) -> TelegramError:
    bot = bot_answering(
        status, {"ok": False, "error_code": status, "description": description, **extra}
    )
    with pytest.raises(TelegramError) as raised:
        await bot.send_message(1, "hello")
    return raised.value


@pytest.mark.parametrize(
    ("status", "description", "kind"),
    [
        (400, "Bad Request: chat not found", Refusal.CHAT_GONE),
        (403, "Forbidden: bot was blocked by the user", Refusal.BLOCKED),
        (403, "Forbidden: bot was kicked from the group chat", Refusal.BLOCKED),
        (403, "Forbidden: user is deactivated", Refusal.BLOCKED),
        (400, "Bad Request: file is too big", Refusal.FILE_TOO_BIG),
        (
            400,
            "Bad Request: can't parse entities: Can't find end of the entity starting at byte "
            "offset 7",
            Refusal.BAD_FORMATTING,
        ),
        (400, "Bad Request: message thread not found", Refusal.TOPIC_GONE),
        (400, "Bad Request: TOPIC_CLOSED", Refusal.TOPIC_GONE),
        (400, "Bad Request: TOPIC_DELETED", Refusal.TOPIC_GONE),
        (
            400,
            "Bad Request: query is too old and response timeout expired or query id is invalid",
            Refusal.QUERY_EXPIRED,
        ),
        (
            400,
            "Bad Request: message is not modified: specified new message content and reply "
            "markup are exactly the same as a content and reply markup of the current message",
            Refusal.NOT_MODIFIED,
        ),
        (400, "Bad Request: BUTTON_DATA_INVALID", Refusal.BAD_KEYBOARD),
        (
            400,
            "Bad Request: can't parse inline keyboard button: Text buttons are unallowed in the "
            "inline keyboard",
            Refusal.BAD_KEYBOARD,
        ),
        (400, "Bad Request: reply markup is too long", Refusal.BAD_KEYBOARD),
        (400, "Bad Request: message to edit not found", Refusal.OTHER),
        (400, "Bad Request: wrong file identifier/HTTP URL specified", Refusal.OTHER),
    ],
)
async def test_each_refusal_is_recognised_from_telegrams_own_answer(
    status: int, description: str, kind: Refusal
) -> None:
    error = await error_from(status, description)
    assert refusal(error) is kind


async def test_a_flood_limit_is_not_a_refusal_and_its_wait_is_read() -> None:
    error = await error_from(429, "Too Many Requests: retry after 7", parameters={"retry_after": 7})
    assert isinstance(error, RetryAfter)
    assert refusal(error) is None
    assert retry_after_seconds(error) == 7.0


async def test_a_server_error_is_not_a_refusal() -> None:
    error = await error_from(502, "Bad Gateway")
    assert isinstance(error, NetworkError) and not isinstance(error, BadRequest)
    assert refusal(error) is None
