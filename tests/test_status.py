"""/status: the operators' view in a chat, refused to everyone else and in groups."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable

import pytest

from handlers.status import NOT_AN_OPERATOR, PRIVATE_ONLY
from tests.conftest import (
    RunningBot,
    command_menus,
    count_jobs,
    eventually,
    fixture_bytes,
    send_command,
    send_voice,
    transcript_replies,
)
from tests.fakes.intron_api import FakeIntron
from tests.fakes.telegram import FakeTelegram

ADMIN = 7701  # a private chat's id is its user's id
MEMBER = 7702
GROUP = -1007701


@pytest.fixture
async def admin_bot(bot_factory: Callable[..., RunningBot]) -> AsyncIterator[RunningBot]:
    running = bot_factory(admin_user_ids=frozenset({ADMIN}))
    await running.start()
    yield running
    await running.stop()


async def ask_status(
    telegram: FakeTelegram, chat: int, *, user_id: int | None = None, chat_type: str = "private"
) -> str:
    [answer] = await send_command(telegram, chat, "/status", user_id=user_id, chat_type=chat_type)
    return str(answer["text"])


async def test_status_shows_the_admin_what_waits_fails_and_how_fast(
    telegram: FakeTelegram, intron: FakeIntron, admin_bot: RunningBot, database_url: str
) -> None:
    slow = fixture_bytes("call_center.mp3")
    intron.processing_time_for = lambda upload: 60.0 if upload.blob == slow else 0.3
    intron.fail_processing.add("broken.m4a")
    send_voice(telegram, 7801)
    telegram.user_message(7802, audio=telegram.audio(slow, file_name="slow.mp3"))
    telegram.user_message(
        7803, audio=telegram.audio(fixture_bytes("call_center.m4a"), file_name="broken.m4a")
    )
    await telegram.wait_for(lambda: bool(transcript_replies(telegram, 7801)), timeout=20)
    await intron.wait_for(lambda: len(intron.uploads) == 3)

    # A job is final a moment after its last message: wait for the database to say so.
    async def finished() -> bool:
        return (
            await count_jobs(database_url, "delivered") == 1
            and await count_jobs(database_url, "failed") == 1
        )

    await eventually(finished, what="one job delivered and one failed")

    text = await ask_status(telegram, ADMIN)
    assert "Waiting: 0" in text
    assert "At Intron: 1" in text
    assert "Failed in the last 24 h: 1 (✅ 1 delivered)" in text
    assert re.search(r"median \d+\.\d+ s over 1 result in the last hour", text)
    assert "upload 3/60" in text
    assert re.search(r"status \d+/100", text)


async def test_status_is_refused_to_others_and_in_groups(
    telegram: FakeTelegram, admin_bot: RunningBot
) -> None:
    assert await ask_status(telegram, MEMBER) == NOT_AN_OPERATOR.format(command="/status")
    member_in_group = await ask_status(telegram, GROUP, user_id=MEMBER, chat_type="supergroup")
    assert member_in_group == NOT_AN_OPERATOR.format(command="/status")
    admin_in_group = await ask_status(telegram, GROUP, user_id=ADMIN, chat_type="supergroup")
    assert admin_in_group == PRIVATE_ONLY.format(command="/status")
    # Operators only: /status is not offered in the public command menu (once there is one:
    # an empty menu would leave it out too).
    await command_menus(telegram)
    assert "status" not in [c["command"] for c in telegram.my_commands]


async def test_an_operator_gets_status_in_a_private_chat_the_allow_list_leaves_out(
    telegram: FakeTelegram, bot_factory: Callable[..., RunningBot]
) -> None:
    running = bot_factory(admin_user_ids=frozenset({ADMIN}), allowed_chat_ids=frozenset({GROUP}))
    await running.start()
    try:
        assert (await ask_status(telegram, ADMIN)).startswith("📊 Bot status")
        # Anyone else outside the list is refused before /status is even looked at.
        refusal = await ask_status(telegram, MEMBER)
        assert (
            refusal.startswith("This bot is limited to approved chats") and str(MEMBER) in refusal
        )
    finally:
        await running.stop()
