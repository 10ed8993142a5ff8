"""The Telegram fake, exercised with the real python-telegram-bot over real HTTP."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator

import pytest
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    MessageEntity,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatMemberStatus, ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import ApplicationBuilder, CommandHandler, ContextTypes

from tests.fakes.telegram import FakeTelegram, UploadedFile, parse_html, parse_markdown_v2

CHAT = 4242
GROUP = -1001234567890


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    telegram = FakeTelegram(max_download_bytes=1024)
    await telegram.start()
    try:
        yield telegram
    finally:
        await telegram.stop()


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    async with Bot(fake.token, base_url=fake.base_url, base_file_url=fake.base_file_url) as b:
        yield b


async def test_get_me(fake: FakeTelegram, bot: Bot) -> None:
    me = await bot.get_me()
    assert me.id == 123456
    assert me.is_bot
    assert me.username == "intron_test_bot"
    assert fake.requests[0][0] == "getMe"


async def test_wrong_token_raises_invalid_token(fake: FakeTelegram) -> None:
    other = Bot("999:WRONG", base_url=fake.base_url)
    with pytest.raises(InvalidToken, match=r"(?i)Unauthorized"):
        await other.get_me()
    assert fake.rejections[-1][2] == "Unauthorized"


async def test_user_message_is_delivered_and_confirmed_by_offset(
    fake: FakeTelegram, bot: Bot
) -> None:
    sent = fake.user_message(CHAT, text="/start now")
    assert sent["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]

    updates = await bot.get_updates(timeout=0)
    assert len(updates) == 1
    message = updates[0].message
    assert message is not None
    assert message.text == "/start now"
    assert message.chat.id == CHAT
    assert message.from_user is not None and message.from_user.id == CHAT
    assert message.message_id == sent["message_id"]

    # Not confirmed yet: delivered again.
    again = await bot.get_updates(timeout=0)
    assert [u.update_id for u in again] == [updates[0].update_id]

    # Confirmed by offset: gone.
    assert await bot.get_updates(offset=updates[0].update_id + 1, timeout=0) == ()


async def test_numeric_text_stays_a_string(fake: FakeTelegram, bot: Bot) -> None:
    fake.user_message(CHAT, text="hi")
    sent = await bot.send_message(CHAT, "123")
    assert sent.text == "123"
    assert fake.requests[-1] == ("sendMessage", {"chat_id": CHAT, "text": "123"})


async def test_long_poll_returns_promptly_on_push(fake: FakeTelegram, bot: Bot) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=60, read_timeout=70))
    await fake.wait_for(lambda: bool(fake.calls("getUpdates")))  # the poll is waiting
    fake.user_message(CHAT, text="hello")
    # Far sooner than the poll's 60 s: the push ended it.
    updates = await asyncio.wait_for(poll, 20)
    assert [u.message.text for u in updates if u.message] == ["hello"]


async def test_long_poll_times_out_empty(bot: Bot) -> None:
    started = time.monotonic()
    assert await asyncio.wait_for(bot.get_updates(timeout=1), 20) == ()
    assert time.monotonic() - started >= 0.9


async def test_same_update_can_be_delivered_twice(fake: FakeTelegram, bot: Bot) -> None:
    fake.user_message(CHAT, text="once")
    first = await bot.get_updates(timeout=0)
    await bot.get_updates(offset=first[-1].update_id + 1, timeout=0)
    assert fake.last_update is not None
    fake.push_update(fake.last_update)
    second = await bot.get_updates(offset=first[-1].update_id + 1, timeout=0)
    assert [u.update_id for u in second] == [first[-1].update_id]


async def test_reply_parameters_thread_the_answer(fake: FakeTelegram, bot: Bot) -> None:
    original = fake.user_message(CHAT, text="please transcribe")
    sent = await bot.send_message(
        CHAT, "on it", reply_parameters=ReplyParameters(message_id=original["message_id"])
    )
    assert sent.reply_to_message is not None
    assert sent.reply_to_message.message_id == original["message_id"]
    assert sent.reply_to_message.text == "please transcribe"
    [stored] = fake.bot_messages(CHAT)
    assert stored["text"] == "on it"
    assert stored["reply_to_message_id"] == original["message_id"]
    assert stored["deleted"] is False
    assert stored["message_id"] == original["message_id"] + 1


async def test_html_with_stray_lt_is_rejected(fake: FakeTelegram, bot: Bot) -> None:
    fake.user_message(CHAT, text="hi")
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await bot.send_message(CHAT, "<b>pulse</b> < 60", parse_mode=ParseMode.HTML)
    assert fake.rejections[-1][0] == "sendMessage"
    assert fake.bot_messages(CHAT) == []

    sent = await bot.send_message(
        CHAT, "<b>pulse</b> &lt; 60 &amp; <i>stable</i>", parse_mode=ParseMode.HTML
    )
    assert sent.text == "pulse < 60 & stable"
    [stored] = fake.bot_messages(CHAT)
    assert stored["entities"] == [
        {"type": "bold", "offset": 0, "length": 5},
        {"type": "italic", "offset": 13, "length": 6},
    ]


@pytest.mark.parametrize(
    "markup",
    ["<b>open", "<b>x</i>", "<br>", "a & b", "<span>x</span>", "</b>", "<a href='x'>y</b></a>"],
)
def test_html_parser_rejects(markup: str) -> None:
    from tests.fakes.telegram import EntityParseError

    with pytest.raises(EntityParseError):
        parse_html(markup)


def test_html_parser_entities() -> None:
    text, entities = parse_html(
        '😀 <a href="https://x.org/?a=1&amp;b=2">link</a> <pre><code class="language-py">x</code>'
        "</pre> <tg-spoiler>s</tg-spoiler> &#x1F600;"
    )
    assert text == "😀 link x s 😀"
    assert entities == [
        {"type": "text_link", "offset": 3, "length": 4, "url": "https://x.org/?a=1&b=2"},
        {"type": "pre", "offset": 8, "length": 1, "language": "py"},
        {"type": "spoiler", "offset": 10, "length": 1},
    ]


async def test_markdown_v2(fake: FakeTelegram, bot: Bot) -> None:
    fake.user_message(CHAT, text="hi")
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await bot.send_message(CHAT, "*Done*. Thanks!", parse_mode=ParseMode.MARKDOWN_V2)
    sent = await bot.send_message(CHAT, r"*Done*\. Thanks\!", parse_mode=ParseMode.MARKDOWN_V2)
    assert sent.text == "Done. Thanks!"
    assert sent.entities == (MessageEntity(MessageEntity.BOLD, 0, 4),)
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await bot.send_message(CHAT, "*bold", parse_mode=ParseMode.MARKDOWN)


def test_markdown_v2_parser() -> None:
    text, entities = parse_markdown_v2(
        r"__u__ _i_ ~s~ ||sp|| `a.b` [t](https://x.org/\)) ```py" + "\nx = 1\n```"
    )
    assert text == "u i s sp a.b t x = 1\n"
    kinds = [(e["type"], e["offset"], e["length"]) for e in entities]
    assert kinds == [
        ("underline", 0, 1),
        ("italic", 2, 1),
        ("strikethrough", 4, 1),
        ("spoiler", 6, 2),
        ("code", 9, 3),
        ("text_link", 13, 1),
        ("pre", 15, 6),
    ]
    assert entities[5]["url"] == "https://x.org/)"
    assert entities[6]["language"] == "py"


async def test_text_limits(fake: FakeTelegram, bot: Bot) -> None:
    fake.user_message(CHAT, text="hi")
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(CHAT, "a" * 4097)
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(CHAT, "😀" * 2049)  # 4098 UTF-16 code units
    with pytest.raises(BadRequest, match=r"(?i)message text is empty"):
        await bot.send_message(CHAT, " \n ")
    await bot.send_message(CHAT, "a" * 4096)
    trimmed = await bot.send_message(CHAT, "  padded \n")
    assert trimmed.text == "padded"


async def test_entities_out_of_range_are_rejected(fake: FakeTelegram, bot: Bot) -> None:
    fake.user_message(CHAT, text="hi")
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await bot.send_message(CHAT, "short", entities=[MessageEntity(MessageEntity.BOLD, 2, 10)])
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await bot.send_message(
            CHAT, "short", entities=[MessageEntity(MessageEntity.TEXT_LINK, 0, 2)]
        )
    sent = await bot.send_message(
        CHAT, "😀 short", entities=[MessageEntity(MessageEntity.BOLD, 3, 5)]
    )
    assert sent.entities == (MessageEntity(MessageEntity.BOLD, 3, 5),)


async def test_reply_to_deleted_original(fake: FakeTelegram, bot: Bot) -> None:
    original = fake.user_message(CHAT, text="voice note")
    fake.delete_user_message(CHAT, original["message_id"])
    with pytest.raises(BadRequest, match=r"(?i)message to be replied not found"):
        await bot.send_message(
            CHAT, "transcript", reply_parameters=ReplyParameters(original["message_id"])
        )
    sent = await bot.send_message(
        CHAT,
        "transcript",
        reply_parameters=ReplyParameters(original["message_id"], allow_sending_without_reply=True),
    )
    assert sent.reply_to_message is None
    [stored] = fake.bot_messages(CHAT)
    assert stored["reply_to_message_id"] is None


async def test_edit_not_modified_and_delete(fake: FakeTelegram, bot: Bot) -> None:
    fake.user_message(CHAT, text="hi")
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Again", callback_data="again")]])
    sent = await bot.send_message(CHAT, "Working…", reply_markup=keyboard)
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text("Working…", CHAT, sent.message_id, reply_markup=keyboard)
    # Without reply_markup the keyboard goes away, so this is a modification.
    await bot.edit_message_text("Working…", CHAT, sent.message_id)
    [stored] = fake.bot_messages(CHAT)
    assert "reply_markup" not in stored
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text("Working…", CHAT, sent.message_id)
    edited = await bot.edit_message_text("Done", CHAT, sent.message_id)
    assert isinstance(edited, type(sent)) and edited.text == "Done"

    assert await bot.delete_message(CHAT, sent.message_id)
    assert fake.bot_messages(CHAT) == []
    assert fake.bot_messages(CHAT, include_deleted=True)[0]["deleted"] is True
    with pytest.raises(BadRequest, match=r"(?i)message to delete not found"):
        await bot.delete_message(CHAT, sent.message_id)
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("late", CHAT, sent.message_id)


async def test_get_file_and_download(fake: FakeTelegram, bot: Bot) -> None:
    audio = b"OggS" + bytes(range(200))
    voice = fake.voice(audio, duration=3)
    fake.user_message(CHAT, voice=voice)
    [update] = await bot.get_updates(timeout=0)
    assert update.message is not None and update.message.voice is not None
    assert update.message.voice.file_size == len(audio)

    tg_file = await bot.get_file(voice["file_id"])
    assert tg_file.file_path is not None and tg_file.file_path.endswith(".oga")
    assert bytes(await tg_file.download_as_bytearray()) == audio
    assert fake.file_downloads == [voice["file_id"]]

    fake.forget_file(voice["file_id"])
    with pytest.raises(BadRequest, match=r"(?i)wrong file_id"):
        await bot.get_file(voice["file_id"])


async def test_file_too_big(fake: FakeTelegram, bot: Bot) -> None:
    file_id = fake.add_file(b"x" * 1025)
    with pytest.raises(BadRequest, match=r"(?i)file is too big"):
        await bot.get_file(file_id)


async def test_fail_next_retry_after(fake: FakeTelegram, bot: Bot) -> None:
    fake.user_message(CHAT, text="hi")
    fake.fail_next("sendMessage", retry_after=3)
    with pytest.raises(RetryAfter):
        await bot.send_message(CHAT, "hello")
    fake.fail_next("sendMessage", description="Forbidden: bot was blocked by the user", status=403)
    with pytest.raises(Forbidden, match=r"(?i)blocked"):
        await bot.send_message(CHAT, "hello")
    await bot.send_message(CHAT, "hello")
    assert [m for m, _, _ in fake.rejections] == ["sendMessage", "sendMessage"]
    assert len(fake.bot_messages(CHAT)) == 1


async def test_callback_data_over_64_bytes_rejected(fake: FakeTelegram, bot: Bot) -> None:
    fake.user_message(CHAT, text="hi")
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="é" * 33)]])
    with pytest.raises(BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):
        await bot.send_message(CHAT, "menu", reply_markup=markup)


async def test_press_button_and_answer_once(fake: FakeTelegram, bot: Bot) -> None:
    fake.user_message(CHAT, text="/settings")
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Language", callback_data="lang:en")]])
    menu = await bot.send_message(CHAT, "Settings", reply_markup=markup)
    first = await bot.get_updates(timeout=0)

    query_id = fake.press_button(CHAT, menu.message_id, "lang:en")
    updates = await bot.get_updates(offset=first[-1].update_id + 1, timeout=0)
    [update] = updates
    query = update.callback_query
    assert query is not None
    assert query.id == query_id
    assert query.data == "lang:en"
    assert query.message is not None and query.message.message_id == menu.message_id
    assert query.from_user.id == CHAT

    assert await bot.answer_callback_query(query_id, text="Saved")
    assert fake.answered_callbacks[query_id]["text"] == "Saved"
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await bot.answer_callback_query(query_id)


async def test_unknown_chat(bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.send_message(777, "hello")


async def test_send_document(fake: FakeTelegram, bot: Bot) -> None:
    original = fake.user_message(CHAT, text="hi")
    sent = await bot.send_document(
        CHAT,
        document=b"%PDF-1.4 report",
        filename="report.pdf",
        caption="Full report",
        reply_parameters=ReplyParameters(original["message_id"], allow_sending_without_reply=True),
    )
    assert sent.document is not None and sent.document.file_name == "report.pdf"
    [stored] = fake.bot_messages(CHAT)
    assert stored["document_bytes"] == b"%PDF-1.4 report"
    assert stored["caption"] == "Full report"
    assert stored["reply_to_message_id"] == original["message_id"]
    upload = fake.requests[-1][1]["document"]
    assert isinstance(upload, UploadedFile) and upload.filename == "report.pdf"

    with pytest.raises(BadRequest, match=r"(?i)caption is too long"):
        await bot.send_document(CHAT, document=b"x", filename="a.txt", caption="c" * 1025)


async def test_get_chat_member(fake: FakeTelegram, bot: Bot) -> None:
    fake.user_message(GROUP, user_id=7, chat_type="supergroup", text="hi")
    fake.set_admins(GROUP, {7})
    admin = await bot.get_chat_member(GROUP, 7)
    assert admin.status == ChatMemberStatus.ADMINISTRATOR
    member = await bot.get_chat_member(GROUP, 8)
    assert member.status == ChatMemberStatus.MEMBER


async def test_commands_and_chat_action(fake: FakeTelegram, bot: Bot) -> None:
    fake.user_message(CHAT, text="hi")
    await bot.set_my_commands([("start", "Start"), ("help", "Help")])
    assert fake.my_commands == [
        {"command": "start", "description": "Start"},
        {"command": "help", "description": "Help"},
    ]
    assert [c.command for c in await bot.get_my_commands()] == ["start", "help"]
    assert await bot.send_chat_action(CHAT, "typing")
    assert fake.requests[-1] == ("sendChatAction", {"chat_id": CHAT, "action": "typing"})


async def test_application_polls_and_replies(fake: FakeTelegram) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text("<b>hello</b>", parse_mode="HTML", do_quote=True)

    app = (
        ApplicationBuilder()
        .token(fake.token)
        .base_url(fake.base_url)
        .base_file_url(fake.base_file_url)
        .build()
    )
    app.add_handler(CommandHandler("start", start))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(timeout=5)
        sent = fake.user_message(CHAT, text="/start")
        await fake.wait_for(lambda: len(fake.bot_messages(CHAT)) == 1)
        await app.updater.stop()
        await app.stop()
    [reply] = fake.bot_messages(CHAT)
    assert reply["text"] == "hello"
    assert reply["reply_to_message_id"] == sent["message_id"]
    assert fake.rejections == []


async def test_wait_for_times_out_with_context(fake: FakeTelegram) -> None:
    with pytest.raises(AssertionError, match="condition not met"):
        await fake.wait_for(lambda: False, timeout=0.1)


async def test_late_answer_carries_the_call_out_but_times_the_client_out(
    fake: FakeTelegram, bot: Bot
) -> None:
    fake.user_message(CHAT, text="hi")
    fake.answer_late("sendMessage", delay=1.0)
    with pytest.raises(TimedOut):
        await bot.send_message(CHAT, "accepted", read_timeout=0.3)
    assert [m["text"] for m in fake.bot_messages(CHAT)] == ["accepted"]
    sent = await bot.send_message(CHAT, "on time", read_timeout=0.3)  # only the next call
    assert sent.text == "on time"

    fake.answer_late("sendMessage", delay=1.0, after=1)
    await bot.send_message(CHAT, "let through", read_timeout=0.3)
    with pytest.raises(TimedOut):
        await bot.send_message(CHAT, "late again", read_timeout=0.3)
    assert [m["text"] for m in fake.bot_messages(CHAT)][-2:] == ["let through", "late again"]


async def test_answer_when_released_carries_the_call_out_and_answers_on_release(
    fake: FakeTelegram, bot: Bot
) -> None:
    fake.user_message(CHAT, text="hi")
    answer = fake.answer_when_released("sendMessage")
    waiting = asyncio.create_task(bot.send_message(CHAT, "stored, not yet answered"))
    await fake.wait_for(lambda: bool(fake.bot_messages(CHAT)))
    other = await bot.send_message(CHAT, "answered at once")  # only the first call waits
    assert other.text == "answered at once" and not waiting.done()
    answer.release()
    assert (await waiting).text == "stored, not yet answered"


async def test_failures_after_some_calls_and_stop_failing(fake: FakeTelegram, bot: Bot) -> None:
    fake.user_message(CHAT, text="hi")
    fake.fail_next("sendMessage", status=502, description="Bad Gateway", times=5, after=1)
    await bot.send_message(CHAT, "first")
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await bot.send_message(CHAT, "second")
    fake.stop_failing()
    await bot.send_message(CHAT, "third")
    assert [m["text"] for m in fake.bot_messages(CHAT)] == ["first", "third"]


async def test_topic_messages_and_replies_stay_in_their_topic(fake: FakeTelegram, bot: Bot) -> None:
    voice = fake.user_message(GROUP, chat_type="supergroup", text="in topic", topic=7)
    assert voice["is_topic_message"] and voice["message_thread_id"] == 7
    update = (await bot.get_updates(timeout=0))[0]
    assert update.message is not None and update.message.chat.is_forum
    reply = await bot.send_message(
        GROUP, "threaded", reply_parameters=ReplyParameters(message_id=voice["message_id"])
    )
    assert reply.message_thread_id == 7 and reply.is_topic_message
    unthreaded = await bot.send_message(GROUP, "main thread")
    assert unthreaded.message_thread_id is None
    explicit = await bot.send_document(GROUP, b"x", filename="r.md", message_thread_id=7)
    assert explicit.message_thread_id == 7
    with pytest.raises(BadRequest, match="thread not found"):
        await bot.send_message(GROUP, "no such topic", message_thread_id=8)
    fake.delete_topic(GROUP, 7)
    with pytest.raises(BadRequest, match="thread not found"):
        await bot.send_message(GROUP, "topic gone", message_thread_id=7)


async def test_migrated_group_refuses_with_the_new_id_and_tells_both_chats(
    fake: FakeTelegram, bot: Bot
) -> None:
    old = -4321
    fake.user_message(old, chat_type="group", text="before")
    new = fake.migrate_chat(old)
    assert new < -1_000_000_000_000
    with pytest.raises(ChatMigrated) as info:
        await bot.send_message(old, "late")
    assert info.value.new_chat_id == new
    updates = await bot.get_updates(timeout=0)
    notices = [u.message for u in updates if u.message and u.message.text is None]
    assert [(m.chat.id, m.migrate_to_chat_id, m.migrate_from_chat_id) for m in notices] == [
        (old, new, None),
        (new, None, old),
    ]
    assert (await bot.send_message(new, "hello")).chat.type == "supergroup"
    with pytest.raises(ValueError, match="upgraded"):
        fake.user_message(old, chat_type="group", text="too late")


async def test_expired_button_press_cannot_be_answered(fake: FakeTelegram, bot: Bot) -> None:
    fake.user_message(CHAT, text="x")
    menu = await bot.send_message(CHAT, "menu")
    query_id = fake.press_button(CHAT, menu.message_id, "data", expired=True)
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await bot.answer_callback_query(query_id)


# -- message history --------------------------------------------------------------------------


async def test_history_keeps_every_state_of_a_bot_message_in_order(
    fake: FakeTelegram, bot: Bot
) -> None:
    original = fake.user_message(CHAT, text="voice note")
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Stop", callback_data="stop")]])
    sent = await bot.send_message(
        CHAT,
        "Received",
        reply_markup=keyboard,
        reply_parameters=ReplyParameters(original["message_id"]),
    )
    await bot.edit_message_text(
        "Sending", CHAT, sent.message_id, entities=[MessageEntity(MessageEntity.BOLD, 0, 4)]
    )
    with pytest.raises(BadRequest, match=r"(?i)not modified"):
        await bot.edit_message_text(
            "Sending", CHAT, sent.message_id, entities=[MessageEntity(MessageEntity.BOLD, 0, 4)]
        )
    await bot.edit_message_reply_markup(CHAT, sent.message_id, reply_markup=keyboard)
    await bot.delete_message(CHAT, sent.message_id)

    history = fake.history(CHAT, sent.message_id)
    assert [entry["event"] for entry in history] == ["sent", "edited", "edited", "deleted"]
    first, edited, markup_only, deleted = history
    assert first["text"] == "Received" and "entities" not in first
    assert first["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "stop"
    assert edited["text"] == "Sending"
    assert edited["entities"] == [{"type": "bold", "offset": 0, "length": 4}]
    assert "reply_markup" not in edited  # an edit without a keyboard removes it
    assert markup_only["text"] == "Sending" and "reply_markup" in markup_only
    assert deleted == {"event": "deleted", "at": deleted["at"]}
    # Envelope keys are not part of a state; times only go forward.
    assert not {"message_id", "chat", "from", "date", "reply_to_message"} & set(first)
    assert [entry["at"] for entry in history] == sorted(entry["at"] for entry in history)
    # The current state is still what bot_messages shows.
    [stored] = fake.bot_messages(CHAT, include_deleted=True)
    assert stored["deleted"] and stored["text"] == "Sending"


async def test_history_of_captions_and_user_messages(fake: FakeTelegram, bot: Bot) -> None:
    voice = fake.voice(b"OggS" + bytes(50))
    note = fake.user_message(CHAT, voice=voice)
    document = await bot.send_document(CHAT, b"report", filename="r.md", caption="Report")
    await bot.edit_message_caption(CHAT, document.message_id, caption="Report (final)")
    assert [(e["event"], e.get("caption")) for e in fake.history(CHAT, document.message_id)] == [
        ("sent", "Report"),
        ("edited", "Report (final)"),
    ]
    assert fake.history(CHAT, document.message_id)[0]["document"]["file_name"] == "r.md"

    [user_state] = fake.history(CHAT, note["message_id"])
    assert user_state["event"] == "sent" and user_state["voice"] == voice
    fake.delete_user_message(CHAT, note["message_id"])
    assert [e["event"] for e in fake.history(CHAT, note["message_id"])] == ["sent", "deleted"]

    typo = fake.user_message(CHAT, text="typo")
    fake.push_update({"edited_message": {**typo, "text": "fixed", "edit_date": 1}})
    assert [(e["event"], e["text"]) for e in fake.history(CHAT, typo["message_id"])] == [
        ("sent", "typo"),
        ("edited", "fixed"),
    ]


async def test_history_is_a_copy_and_unknown_messages_raise(fake: FakeTelegram, bot: Bot) -> None:
    fake.user_message(CHAT, text="hi")
    sent = await bot.send_message(CHAT, "first")
    fake.history(CHAT, sent.message_id)[0]["text"] = "tampered"
    assert fake.history(CHAT, sent.message_id)[0]["text"] == "first"
    with pytest.raises(ValueError, match="no message"):
        fake.history(CHAT, 999)
    with pytest.raises(ValueError, match="no message"):
        fake.history(777, 1)


async def test_starts_late_on_a_socket_that_refused_until_then() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
    port = sock.getsockname()[1]
    late = FakeTelegram()
    bot = Bot(late.token, base_url=f"http://127.0.0.1:{port}/bot")
    with pytest.raises(NetworkError):
        await bot.initialize()  # its getMe finds nobody listening
    await late.start(sock=sock)
    try:
        assert late.base_url == f"http://127.0.0.1:{port}/bot"
        await bot.initialize()  # the same call again, as the bot's start-up retries it
        assert bot.username == "intron_test_bot"
    finally:
        await bot.shutdown()
        await late.stop()
