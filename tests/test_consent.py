"""Consent on record (CONSENT_REQUIRED): a chat's recordings wait, unsent, until it (a group's
administrator) agrees to the consent text; then each is transcribed once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from storage.models import ChatConsent, Job, JobState
from tests.conftest import (
    RunningBot,
    eventually,
    idle,
    send_command,
    send_voice,
    transcript_replies,
)
from tests.fakes.intron_api import FakeIntron
from tests.fakes.telegram import FakeTelegram
from tests.test_privacy import files_holding
from tests.test_settings import buttons, press, press_data

CHAT = 9501
GROUP = -1009501
ADMIN, MEMBER = 71, 72
CONTACT = "Kano Health Clinic, privacy@kano.example"
GROUP_MEMBER = {"chat_type": "supergroup", "user_id": MEMBER}


def consent_requests(telegram: FakeTelegram, chat: int) -> list[dict[str, Any]]:
    return [m for m in telegram.bot_messages(chat) if (m.get("text") or "").startswith("🤝")]


async def held_until_asked(
    telegram: FakeTelegram, chat: int, *, requests: int = 1, **kw: Any
) -> dict[str, Any]:
    """A voice note sent in `chat`; returns the consent request the chat then has (the
    `requests`-th), once the note's job is stored held."""
    sent = send_voice(telegram, chat, **kw)
    await telegram.wait_for(lambda: len(consent_requests(telegram, chat)) == requests)
    await eventually(
        lambda: Job.filter(
            chat_id=chat, message_id=sent["message_id"], state=JobState.HELD
        ).exists(),
        what="the recording is held",
    )
    return consent_requests(telegram, chat)[-1]


async def agree(
    telegram: FakeTelegram, chat: int, request: dict[str, Any], **kw: Any
) -> dict[str, Any]:
    """Press the request's "I agree" as first sent (its data stays valid for a client after
    the bot removed the button); returns how the press was answered."""
    [button] = buttons(request)
    assert button["text"] == "✅ I agree"
    return await press_data(telegram, chat, request["message_id"], button["callback_data"], **kw)


async def settled(telegram: FakeTelegram) -> None:
    await eventually(lambda: idle(telegram), what="the bot has nothing left to do")


async def test_a_recording_waits_unsent_until_agreed_then_is_transcribed_once(
    telegram: FakeTelegram, intron: FakeIntron, bot_factory: Callable[..., RunningBot]
) -> None:
    bot = bot_factory(consent_required=True, operator_contact=CONTACT)
    await bot.start()
    try:
        request = await held_until_asked(telegram, CHAT)
        text = request["text"]
        assert "Intron (intron.io)" in text and CONTACT in text
        assert "erased 30 days after" in text  # the retention, in /privacy's words
        first = telegram.bot_messages(CHAT, include_deleted=True)[0]
        assert telegram.history(CHAT, first["message_id"])[0]["text"].startswith("⏸ Received")
        await settled(telegram)
        assert intron.uploads == [] and intron.calls == []
        history = (await send_command(telegram, CHAT, "/history"))[-1]["text"]
        assert "waiting for this chat's consent" in history

        answered = await agree(telegram, CHAT, request)
        assert "go on now" in answered["text"]
        await telegram.wait_for(lambda: bool(transcript_replies(telegram, CHAT)))
        # A second press records nothing more and sends nothing more to Intron.
        again = await agree(telegram, CHAT, request)
        assert "already agreed" in again["text"]
        await settled(telegram)
        assert len(transcript_replies(telegram, CHAT)) == 1
        assert len(intron.uploads) == 1
        assert await ChatConsent.filter(chat_id=CHAT).count() == 1
        # The request now says who agreed, and offers no button.
        edited = telegram.message(CHAT, request["message_id"])
        assert edited is not None and "✅ User9501 (id 9501) agreed" in edited["text"]
        assert buttons(edited) == []
        # Recordings after that go straight on.
        send_voice(telegram, CHAT)
        await telegram.wait_for(lambda: len(transcript_replies(telegram, CHAT)) == 2)
        assert len(consent_requests(telegram, CHAT)) == 1
    finally:
        await bot.stop()


async def test_in_a_group_only_an_administrator_can_agree(
    telegram: FakeTelegram, intron: FakeIntron, bot_factory: Callable[..., RunningBot]
) -> None:
    telegram.set_admins(GROUP, {ADMIN})
    bot = bot_factory(consent_required=True)
    await bot.start()
    try:
        request = await held_until_asked(telegram, GROUP, **GROUP_MEMBER)
        refused = await agree(telegram, GROUP, request, **GROUP_MEMBER)
        assert refused["show_alert"] is True
        assert "Only this group's administrators" in refused["text"]
        await settled(telegram)
        assert intron.uploads == []
        assert await ChatConsent.all().count() == 0
        assert await Job.filter(chat_id=GROUP, state=JobState.HELD).count() == 1

        answered = await agree(telegram, GROUP, request, chat_type="supergroup", user_id=ADMIN)
        assert "go on now" in answered["text"]
        await telegram.wait_for(lambda: bool(transcript_replies(telegram, GROUP)))
        await settled(telegram)
        assert len(intron.uploads) == 1
        consent = await ChatConsent.get(chat_id=GROUP)
        assert (consent.user_id, consent.user_name) == (ADMIN, f"User{ADMIN}")
    finally:
        await bot.stop()


async def test_privacy_shows_who_agreed_and_forget_withdraws_it(
    telegram: FakeTelegram, intron: FakeIntron, bot_factory: Callable[..., RunningBot]
) -> None:
    bot = bot_factory(consent_required=True)
    await bot.start()
    try:
        before = (await send_command(telegram, CHAT, "/privacy"))[-1]["text"]
        assert "nobody has agreed for this chat yet" in before

        request = await held_until_asked(telegram, CHAT)
        await agree(telegram, CHAT, request)
        await telegram.wait_for(lambda: bool(transcript_replies(telegram, CHAT)))
        consent = await ChatConsent.get(chat_id=CHAT)
        privacy = (await send_command(telegram, CHAT, "/privacy"))[-1]["text"]
        when = consent.agreed_at.strftime("%Y")
        assert f"✅ User{CHAT} (id {CHAT}) agreed for this chat on " in privacy
        assert when in privacy and f"(version {consent.version})" in privacy

        confirm = (await send_command(telegram, CHAT, "/forget"))[-1]
        await press(telegram, CHAT, confirm["message_id"], "Yes")
        await telegram.wait_for(lambda: "Erased" in (telegram.bot_messages(CHAT)[-1]["text"]))
        assert await ChatConsent.all().count() == 0
        if bot.config.database_url.startswith("sqlite://"):
            # The name of whoever agreed is gone from the database's files too.
            assert files_holding(bot.config.database_url, (f"User{CHAT}",)) == {}
        await held_until_asked(telegram, CHAT, requests=2)
        await settled(telegram)
        assert len(intron.uploads) == 1  # the second recording waits for a new agreement
    finally:
        await bot.stop()


async def test_a_changed_operator_contact_asks_again(
    telegram: FakeTelegram, intron: FakeIntron, bot_factory: Callable[..., RunningBot]
) -> None:
    bot = bot_factory(consent_required=True, operator_contact=CONTACT)
    await bot.start()
    try:
        old_request = await held_until_asked(telegram, CHAT)
        await agree(telegram, CHAT, old_request)
        await telegram.wait_for(lambda: bool(transcript_replies(telegram, CHAT)))
        agreed_to = (await ChatConsent.get(chat_id=CHAT)).version
    finally:
        await bot.stop()

    bot = bot_factory(consent_required=True, operator_contact="Another Operator Ltd")
    await bot.start()
    try:
        request = await held_until_asked(telegram, CHAT, requests=2)
        assert "Another Operator Ltd" in request["text"]
        privacy = (await send_command(telegram, CHAT, "/privacy"))[-1]["text"]
        assert "to an earlier version of this text" in privacy
        # The old text's button agrees to nothing: it brings the new text.
        stale = await agree(telegram, CHAT, old_request)
        assert stale["show_alert"] is True and "has changed" in stale["text"]
        await telegram.wait_for(lambda: len(consent_requests(telegram, CHAT)) == 3)
        await settled(telegram)
        assert len(intron.uploads) == 1
        assert (await ChatConsent.get(chat_id=CHAT)).version == agreed_to
        await agree(telegram, CHAT, consent_requests(telegram, CHAT)[-1])
        await telegram.wait_for(lambda: len(transcript_replies(telegram, CHAT)) == 2)
        assert (await ChatConsent.get(chat_id=CHAT)).version != agreed_to
    finally:
        await bot.stop()


async def test_a_held_recording_survives_a_restart_and_goes_on_once_agreed(
    telegram: FakeTelegram, intron: FakeIntron, bot_factory: Callable[..., RunningBot]
) -> None:
    bot = bot_factory(consent_required=True)
    await bot.start()
    try:
        request = await held_until_asked(telegram, CHAT)
        await settled(telegram)
    finally:
        await bot.stop()

    bot = bot_factory(consent_required=True)
    await bot.start()
    try:
        await agree(telegram, CHAT, request)
        await telegram.wait_for(lambda: bool(transcript_replies(telegram, CHAT)))
        await settled(telegram)
        assert len(transcript_replies(telegram, CHAT)) == 1 and len(intron.uploads) == 1
    finally:
        await bot.stop()


async def test_recordings_held_when_the_operator_turns_consent_off_go_on_at_start_up(
    telegram: FakeTelegram, intron: FakeIntron, bot_factory: Callable[..., RunningBot]
) -> None:
    bot = bot_factory(consent_required=True)
    await bot.start()
    try:
        await held_until_asked(telegram, CHAT)
    finally:
        await bot.stop()

    bot = bot_factory()
    await bot.start()
    try:
        await telegram.wait_for(lambda: bool(transcript_replies(telegram, CHAT)))
        await settled(telegram)
        assert len(intron.uploads) == 1
        assert "Consent" not in (await send_command(telegram, CHAT, "/privacy"))[-1]["text"]
    finally:
        await bot.stop()


async def test_an_output_asked_from_a_result_waits_for_consent_like_a_recording(
    telegram: FakeTelegram, intron: FakeIntron, bot_factory: Callable[..., RunningBot]
) -> None:
    """A result from before consent was required: its "more" buttons send the recording to
    Intron again, so that waits for the chat's agreement too."""
    bot = bot_factory()
    await bot.start()
    try:
        sent = send_voice(telegram, CHAT)
        await telegram.wait_for(lambda: bool(transcript_replies(telegram, CHAT)))
        result = transcript_replies(telegram, CHAT)[0]["message_id"]
    finally:
        await bot.stop()

    bot = bot_factory(consent_required=True, operator_contact=CONTACT)
    await bot.start()
    try:
        await press(telegram, CHAT, result, "Telehealth")
        await press(telegram, CHAT, result, "SOAP note")
        await telegram.wait_for(lambda: len(consent_requests(telegram, CHAT)) == 1)
        await settled(telegram)
        assert len(intron.uploads) == 1, "nothing more went to Intron before agreeing"
        assert await Job.filter(chat_id=CHAT, state=JobState.HELD).count() == 1

        await agree(telegram, CHAT, consent_requests(telegram, CHAT)[0])
        await telegram.wait_for(
            lambda: any(
                "🩺 SOAP note" in m["text"] and m["reply_to_message_id"] == sent["message_id"]
                for m in telegram.bot_messages(CHAT)
            )
        )
        assert intron.uploads[1].fields["get_soap_note"] == "TRUE"
    finally:
        await bot.stop()
