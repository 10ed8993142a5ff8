"""/privacy tells users what the bot keeps, for how long, and who runs it."""

from __future__ import annotations

from typing import Any

from tests.conftest import command_menus, send_command
from tests.fakes.telegram import FakeTelegram

CHAT = 9501


async def test_privacy_states_the_configured_retention_and_operator(
    telegram: FakeTelegram, bot_factory: Any
) -> None:
    running = bot_factory(retention_days=12, operator_contact="Lagos Clinic IT, it@clinic.example")
    await running.start()
    try:
        [page] = await send_command(telegram, CHAT, "/privacy")
        text = page["text"]
        assert "erased 12 days after" in text
        assert "30 days" not in text
        assert "Intron" in text and "do not keep the audio" in text
        assert "/forget" in text
        assert "stored encrypted (AES-GCM)" in text
        assert "operated by Lagos Clinic IT, it@clinic.example" in text
        [start] = await send_command(telegram, CHAT, "/start")
        assert "/privacy" in start["text"]
        await command_menus(telegram)  # published at start-up
        assert "privacy" in {c["command"] for c in telegram.my_commands}
    finally:
        await running.stop()


async def test_privacy_without_an_operator_contact_says_none_was_published(
    telegram: FakeTelegram, bot_factory: Any
) -> None:
    running = bot_factory()
    await running.start()
    try:
        [page] = await send_command(telegram, CHAT, "/privacy")
        assert "erased 30 days after" in page["text"]
        assert "has not published a contact" in page["text"]
    finally:
        await running.stop()


async def test_help_describes_links_forwarded_notes_and_privacy(
    telegram: FakeTelegram, bot_factory: Any
) -> None:
    running = bot_factory(max_links_per_message=3)
    await running.start()
    try:
        [help_text] = await send_command(telegram, CHAT, "/help")
        text = help_text["text"]
        assert "send a link to the audio or video file" in text
        assert "up to 3 links in one message" in text
        assert "forwarded to me that was already transcribed" in text
        assert "/privacy — What the bot keeps" in text
    finally:
        await running.stop()
