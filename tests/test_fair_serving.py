"""One busy chat never stalls the others: a burst in a group, or Telegram's flood limit in it,
leaves every other chat's "Received" prompt."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from storage.models import Job
from tests.conftest import RunningBot, eventually, fixture_bytes, replies_to, send_voice
from tests.fakes.intron_api import FakeIntron
from tests.fakes.telegram import FakeTelegram

GROUP = -1009001
PRIVATE = 9501
BUSY = 9502
# A group's backlog would hold a message for a minute; a busy machine takes a few seconds.
PROMPT_SECONDS = 10.0


def group_messages(telegram: FakeTelegram) -> int:
    """Everything the bot sent the group (status messages are deleted once results arrive)."""
    return len(telegram.bot_messages(GROUP, include_deleted=True))


def flood_refusals(telegram: FakeTelegram) -> list[str]:
    return [why for _, _, why in telegram.rejections if why.startswith("Too Many Requests")]


async def received_within(telegram: FakeTelegram, chat: int, message_id: int) -> float:
    """Seconds until the bot's first answer to the message (its "Received")."""
    started = time.monotonic()
    await telegram.wait_for(lambda: bool(replies_to(telegram, chat, message_id)), timeout=30)
    return time.monotonic() - started


async def test_eighty_voice_notes_in_a_group_never_delay_a_private_chats_received(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    telegram.limit_group_messages(per_minute=20)  # as Telegram: the 21st gets a 429
    voice = fixture_bytes("voice_consultation.ogg")
    for member in range(80):
        telegram.user_message(
            GROUP, user_id=100 + member, chat_type="group", voice=telegram.voice(voice)
        )
    first = send_voice(telegram, PRIVATE)
    assert await received_within(telegram, PRIVATE, first["message_id"]) < PROMPT_SECONDS

    # The group's minute is used up: its next messages wait a minute. A private chat does not.
    await telegram.wait_for(lambda: group_messages(telegram) >= 20, timeout=30)
    second = send_voice(telegram, PRIVATE)
    assert await received_within(telegram, PRIVATE, second["message_id"]) < PROMPT_SECONDS
    assert group_messages(telegram) == 20, "the bot keeps to the group's 20 a minute"
    assert flood_refusals(telegram) == [], "the bot waits for the minute instead of a 429"


async def test_a_429_in_one_group_pauses_that_group_only(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    telegram.fail_next("sendMessage", retry_after=3)  # will hit the group's "Received"
    in_group = send_voice(telegram, GROUP, chat_type="group")
    await telegram.wait_for(lambda: bool(flood_refusals(telegram)))
    refused_at = time.monotonic()
    private = send_voice(telegram, PRIVATE)
    assert await received_within(telegram, PRIVATE, private["message_id"]) < PROMPT_SECONDS
    await telegram.wait_for(lambda: bool(replies_to(telegram, GROUP, in_group["message_id"])))
    assert time.monotonic() - refused_at >= 2.9, "the group waited out its retry_after"


async def test_a_quiet_chats_upload_comes_before_a_busy_chats_backlog(
    telegram: FakeTelegram, intron: FakeIntron, bot_factory: Callable[..., RunningBot]
) -> None:
    """One chat's batch takes a turn in each round, so a note from another chat waits for a
    round, not for the batch. Intron holds the first uploads until every note is in, so the
    order is the bot's, whatever the machine's speed."""
    running = bot_factory(max_concurrent_transfers=2)
    await running.start()
    try:
        intron.hold_uploads()
        data = fixture_bytes("voice_consultation.ogg")
        busy = [
            telegram.user_message(
                BUSY, audio=telegram.audio(data, mime_type="audio/ogg", file_name=f"busy-{n}.ogg")
            )
            for n in range(30)
        ]
        await telegram.wait_for(
            lambda: all(replies_to(telegram, BUSY, m["message_id"]) for m in busy), timeout=120
        )
        await intron.wait_for(lambda: intron.uploads_waiting == 2)  # both transfer slots
        quiet = telegram.user_message(
            PRIVATE, audio=telegram.audio(data, mime_type="audio/ogg", file_name="quiet.ogg")
        )
        await telegram.wait_for(lambda: bool(replies_to(telegram, PRIVATE, quiet["message_id"])))
        # Due once its "Received" is recorded, a moment after Telegram has it.
        await eventually(released(PRIVATE), what="the quiet note's job released")
        intron.release_uploads()
        await intron.wait_for(lambda: "quiet.ogg" in uploaded_names(intron), timeout=120)

        names = uploaded_names(intron)
        # Claims are made in fair turns, so the quiet note's job is claimed at the first free
        # room. Before it go the transfers claimed before it arrived (twice the slots), and at
        # most a round's worth claimed beside or just after it: a claimed job first edits its
        # progress message, then takes a slot, and a loaded machine may answer another job's
        # edit first. Far from the 30 of the backlog.
        assert names.index("quiet.ogg") <= 2 * 2 + 2 * 2, names
        assert len(names) - 1 < len(busy), "the busy chat's backlog was still waiting"
    finally:
        await running.stop()


def released(chat: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await Job.filter(chat_id=chat, status_message_id__isnull=False).exists()

    return check


def uploaded_names(intron: FakeIntron) -> list[str]:
    return [upload.fields["audio_file_name"] for upload in intron.uploads]
