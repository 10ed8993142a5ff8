"""When a handler fails: one log line without text, an answer for whoever waits, and the bot goes
on; a button pressed while the bot was down still does what it says."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from handlers.common import BUTTON_EXPIRED
from handlers.errors import SORRY_BUTTON
from tests.conftest import RunningBot, replies_to, send_voice, texts, transcript_replies
from tests.fakes.intron_api import FakeIntron
from tests.fakes.telegram import FakeTelegram
from tests.test_results import wait_delivered
from tests.test_settings import buttons, press_data

CHAT = 9101
SECRET_WORDS = "Ada Obi has a fever of 39.5"


def error_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "handlers.errors"]


async def test_failed_reply_is_logged_without_text_and_apologised_for(
    telegram: FakeTelegram, bot: RunningBot, caplog: pytest.LogCaptureFixture
) -> None:
    telegram.fail_next("sendMessage", status=500, description="Internal Server Error")
    sent = telegram.user_message(CHAT, text=SECRET_WORDS)  # "I can only transcribe audio"
    await telegram.wait_for(lambda: bool(replies_to(telegram, CHAT, sent["message_id"])))
    [apology] = replies_to(telegram, CHAT, sent["message_id"])
    assert "Sorry" in apology["text"]

    [line] = error_lines(caplog)
    message = line.getMessage()
    assert str(telegram.last_update["update_id"]) in message  # type: ignore[index]
    assert str(CHAT) in message and "NetworkError" in message
    assert all(SECRET_WORDS not in r.getMessage() for r in caplog.records)

    telegram.user_message(CHAT, text="/start")  # the bot carries on
    await telegram.wait_for(lambda: "Current settings" in texts(telegram, CHAT)[-1])


async def test_failed_command_in_a_group_gets_a_short_apology(
    telegram: FakeTelegram, bot: RunningBot
) -> None:
    group = -1009101
    telegram.fail_next("sendMessage", status=500, description="Internal Server Error")
    sent = telegram.user_message(group, chat_type="supergroup", user_id=5, text="/help")
    await telegram.wait_for(lambda: bool(replies_to(telegram, group, sent["message_id"])))
    [apology] = replies_to(telegram, group, sent["message_id"])
    assert "Sorry" in apology["text"]


async def test_button_whose_handler_failed_still_gets_an_answer(
    telegram: FakeTelegram, bot: RunningBot
) -> None:
    telegram.user_message(CHAT, text="/forget")
    await telegram.wait_for(lambda: "Erase" in texts(telegram, CHAT)[-1])
    confirm = telegram.bot_messages(CHAT)[-1]
    telegram.fail_next("answerCallbackQuery", status=500, description="Internal Server Error")
    query_id = telegram.press_button(CHAT, confirm["message_id"], "forget:no")
    await telegram.wait_for(lambda: query_id in telegram.answered_callbacks)
    assert telegram.answered_callbacks[query_id]["text"] == SORRY_BUTTON


async def test_buttons_pressed_while_the_bot_was_down_still_act_without_a_traceback(
    telegram: FakeTelegram,
    intron: FakeIntron,
    bot: RunningBot,
    caplog: pytest.LogCaptureFixture,
) -> None:
    send_voice(telegram, CHAT)
    await wait_delivered(telegram)
    telegram.user_message(CHAT, text="/history")
    await telegram.wait_for(lambda: "Recent recordings" in texts(telegram, CHAT)[-1])
    history = telegram.bot_messages(CHAT)[-1]
    [resend] = buttons(history)

    await bot.stop()
    # Pressed during the downtime: by the time the bot sees it, Telegram refuses its answer.
    telegram.press_button(CHAT, history["message_id"], resend["callback_data"], expired=True)
    await bot.start()

    await telegram.wait_for(lambda: len(transcript_replies(telegram, CHAT)) == 2, timeout=15)
    failures: list[Any] = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert failures == []
    assert any("query is too old" in r[2] for r in telegram.rejections)


MENU_EXPIRED = "This menu has expired. Send /settings to open a new one."
# Data no button of this bot carries, as any client can send it on a button's message.
FORGED = [
    ("hist:²", BUTTON_EXPIRED),  # str.isdigit says yes, int() says no
    ("hist:١٢", BUTTON_EXPIRED),  # Arabic-Indic digits: int() would read them
    ("hist:" + "9" * 40, BUTTON_EXPIRED),  # beyond any database integer
    ("hist:-1", BUTTON_EXPIRED),
    ("hist:1:2", BUTTON_EXPIRED),
    ("hist:", BUTTON_EXPIRED),
    ("hist:999999", "That result is no longer stored."),  # well-formed, but not this chat's
    ("forget:maybe", BUTTON_EXPIRED),
    ("set:lang:²", MENU_EXPIRED),
    ("set:lang:" + "9" * 40, MENU_EXPIRED),
    ("nonsense", BUTTON_EXPIRED),
]


async def test_forged_button_data_gets_a_short_answer_and_no_error_log(
    telegram: FakeTelegram,
    intron: FakeIntron,
    bot: RunningBot,
    caplog: pytest.LogCaptureFixture,
) -> None:
    send_voice(telegram, CHAT)
    await wait_delivered(telegram)
    telegram.user_message(CHAT, text="/history")
    await telegram.wait_for(lambda: "Recent recordings" in texts(telegram, CHAT)[-1])
    history = telegram.bot_messages(CHAT)[-1]
    for data, expected in FORGED:
        answer = await press_data(telegram, CHAT, history["message_id"], data)
        assert answer.get("text") == expected, data
    failures: list[Any] = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert failures == [] and error_lines(caplog) == []
    assert transcript_replies(telegram, CHAT)[1:] == [], "nothing resent"
    assert "Erased" not in texts(telegram, CHAT)[-1]

    [resend] = buttons(history)  # the real button still works
    await press_data(telegram, CHAT, history["message_id"], resend["callback_data"])
    await telegram.wait_for(lambda: len(transcript_replies(telegram, CHAT)) == 2)
