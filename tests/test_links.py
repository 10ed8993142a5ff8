"""Recordings by link: Intron reads the audio from the link (`audio_file_url`), the bot
downloads nothing, and links it must not hand on are refused with their reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.engine.pipeline import LINK_UNREADABLE
from bot.telegram_io.links import LOCAL_ADDRESS as LOCAL
from handlers.audio import LINK_RECEIVED_TEXT
from tests.conftest import (
    BotProcess,
    RunningBot,
    count_jobs,
    count_rows,
    eventually,
    idle,
    replies_to,
    send_voice,
    settings_env,
    texts,
    transcript_replies,
)
from tests.fakes.intron_api import FakeIntron, Fault
from tests.fakes.telegram import FakeTelegram
from tests.fakes.telegram.text import utf16_len
from tests.test_groups import ADMIN, GROUP, MEMBER, choose_on_request
from tests.test_settings import open_settings, press

CHAT = 9301
CALL_URL = "https://files.example.org/calls/ward-3%20round.mp3?sig=abc123"


def send_links(
    telegram: FakeTelegram, chat: int, *links: str, before: str = "Recording: ", **kw: Any
) -> dict[str, Any]:
    """A user sends text in which Telegram marked each of `links` as a link (`url` entity)."""
    text, entities = before, []
    for link in links:
        entities.append({"type": "url", "offset": utf16_len(text), "length": utf16_len(link)})
        text += link + " "
    return telegram.user_message(chat, text=text.strip(), entities=entities, **kw)


def link_uploads(intron: FakeIntron) -> list[str]:
    return [u.fields["audio_file_url"] for u in intron.uploads if "audio_file_url" in u.fields]


async def test_a_link_is_uploaded_as_audio_file_url_with_the_chats_options_and_no_download(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    menu = await open_settings(telegram, CHAT)
    await press(telegram, CHAT, menu, "Speaker separation")
    sent = send_links(telegram, CHAT, CALL_URL + "#t=30")

    await telegram.wait_for(lambda: bool(transcript_replies(telegram, CHAT)))
    [upload] = intron.uploads
    assert upload.fields == {
        "audio_file_name": "ward-3 round.mp3",
        "audio_file_url": CALL_URL,  # as written, without the fragment
        "use_diarization": "TRUE",
    }
    assert upload.blob == b""
    assert telegram.file_downloads == [] and telegram.calls("getFile") == []
    [result] = transcript_replies(telegram, CHAT)
    assert result["reply_to_message_id"] == sent["message_id"]
    assert "Speaker 2:" in result["text"]
    status = telegram.bot_messages(CHAT, include_deleted=True)[-2]  # before the transcript
    assert status["reply_to_message_id"] == sent["message_id"]
    assert telegram.history(CHAT, status["message_id"])[0]["text"] == LINK_RECEIVED_TEXT


async def test_a_link_behind_the_text_of_a_caption_is_transcribed(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    photo = [{"file_id": "photo-1", "file_unique_id": "ph1", "width": 90, "height": 90}]
    link = {"type": "text_link", "offset": 4, "length": 8, "url": "https://cdn.example.net/a.m4a"}
    sent = telegram.user_message(
        CHAT, photo=photo, caption="the morning call", caption_entities=[link]
    )
    await telegram.wait_for(lambda: bool(transcript_replies(telegram, CHAT)))
    assert link_uploads(intron) == ["https://cdn.example.net/a.m4a"]
    assert transcript_replies(telegram, CHAT)[0]["reply_to_message_id"] == sent["message_id"]


REFUSED = [
    ("https://t.me/c/1234/56", "links to Telegram"),
    ("https://api.telegram.org/file/bot123:SECRET/voice/file_1.oga", "links to Telegram"),
    ("http://files.telegram.me./a.ogg", "links to Telegram"),
    ("http://localhost:8080/a.mp3", "local or private network"),
    ("http://127.1/a.mp3", "local or private network"),
    ("http://2130706433/a.mp3", "local or private network"),
    ("http://0x7f.0.0.1/a.mp3", "local or private network"),
    ("http://[::1]/a.mp3", "local or private network"),
    ("http://[::ffff:192.168.1.10]/a.mp3", "local or private network"),
    ("http://10.1.2.3/a.mp3", "local or private network"),
    ("http://169.254.169.254/latest/meta-data", "local or private network"),
    ("http://[fe80::1]/a.mp3", "local or private network"),
    ("http://0.0.0.0/a.mp3", "local or private network"),
    ("https://nurse:hunter2@files.example.org/a.mp3", "user name or password"),
    ("ftp://files.example.org/a.mp3", "only http:// and https://"),
]


async def test_each_kind_of_refused_link_gets_its_reason_and_no_upload(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    for link, reason in REFUSED:
        sent_id = send_links(telegram, CHAT, link)["message_id"]
        await telegram.wait_for(lambda i=sent_id: bool(replies_to(telegram, CHAT, i)))
        [reply] = replies_to(telegram, CHAT, sent_id)
        assert reply["text"].startswith("❌ This link cannot be transcribed:"), link
        assert reason in reply["text"], link
    # Every link handled: a job made of one would be in the database (and uploaded).
    await eventually(lambda: idle(telegram), what="nothing left to do")
    assert intron.uploads == []
    assert await count_rows(bot.config.database_url, "jobs") == 0


# Hosts disguised in ways an HTTP client undoes before it connects: percent-encoding, IDNA's
# look-alike dots and full-width digits, and IPv4 addresses inside IPv6 ones.
DISGUISED = [
    ("http://%31%32%37.0.0.1/a.mp3", "local or private network"),
    ("http://api.telegram%2eorg/file/bot123:ABC/x.ogg", "links to Telegram"),
    ("http://169.254.169%2e254/", "local or private network"),
    ("http://10%2e0.0.1/", "local or private network"),
    ("http://[::ffff:0:7f00:1]/", "local or private network"),  # IPv4-translated
    ("http://[::127.0.0.1]/", "local or private network"),  # IPv4-compatible
    ("http://[::ffff:127.0.0.1]/", "local or private network"),  # IPv4-mapped
    ("http://[64:ff9b::a9fe:a9fe]/latest/meta-data", "local or private network"),  # NAT64
    ("http://[64:ff9b:1::808:808]/a.mp3", "local or private network"),  # local-use NAT64
    ("http://[2002:c0a8:1::1]/a.mp3", "local or private network"),  # 6to4 of 192.168.0.1
    ("http://t%E3%80%82me/c/1234/56", "links to Telegram"),  # an ideographic full stop
    ("http://１２７.0.0.1/a.mp3", "local or private network"),  # full-width digits
    ("http://0177.0.0.1/a.mp3", "local or private network"),  # octal
    ("http://127.0.0.1%2f.example.org/a.mp3", "not a complete web address"),
]


async def test_disguised_hosts_are_read_as_a_fetcher_reads_them_and_refused(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    for link, reason in DISGUISED:
        sent_id = send_links(telegram, CHAT, link)["message_id"]
        await telegram.wait_for(lambda i=sent_id: bool(replies_to(telegram, CHAT, i)))
        [reply] = replies_to(telegram, CHAT, sent_id)
        assert reply["text"].startswith("❌ This link cannot be transcribed:"), link
        assert reason in reply["text"], link
    # Jobs are stored before the reply is sent, so none was made for those links. A link
    # whose host is merely percent-encoded goes to Intron with the host it was checked as.
    assert await count_rows(bot.config.database_url, "jobs") == 0
    send_links(telegram, CHAT, "https://files%2Eexample.org/calls/round.mp3")
    await telegram.wait_for(lambda: bool(transcript_replies(telegram, CHAT)))
    assert link_uploads(intron) == ["https://files.example.org/calls/round.mp3"]


async def test_a_bot_api_server_configured_by_address_is_refused_in_any_form(
    telegram: FakeTelegram, intron: FakeIntron, bot_factory: Any
) -> None:
    # A self-hosted Bot API server on a public address (nothing connects to it here: these
    # links carry no recording, and the bot downloads nothing for a link).
    running = bot_factory(telegram_base_file_url="http://93.184.216.34:8081/file/bot")
    await running.start()
    try:
        for link in (
            "http://93.184.216.34:8081/file/bot123:ABC/voice/file_1.oga",
            "http://[::ffff:93.184.216.34]:8081/file/bot123:ABC/voice/file_1.oga",
            "http://1572395042:8081/file/bot123:ABC/voice/file_1.oga",  # decimal
            "http://[64:ff9b::5db8:d822]/file/bot123:ABC/voice/file_1.oga",  # through NAT64
        ):
            sent_id = send_links(telegram, CHAT, link)["message_id"]
            await telegram.wait_for(lambda i=sent_id: bool(replies_to(telegram, CHAT, i)))
            [reply] = replies_to(telegram, CHAT, sent_id)
            assert "links to Telegram" in reply["text"], link
        send_links(telegram, CHAT, "http://93.184.216.35/ward-round.mp3")  # its neighbour
        await telegram.wait_for(lambda: bool(transcript_replies(telegram, CHAT)))
        assert link_uploads(intron) == ["http://93.184.216.35/ward-round.mp3"]
    finally:
        await running.stop()


async def test_a_message_full_of_refused_links_gets_a_short_reply_naming_a_few(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    refused = [f"http://10.0.{n // 250}.{n % 250 + 1}/call.mp3" for n in range(119)]
    good = ["https://files.example.org/a.mp3", "https://files.example.org/b.mp3"]
    sent = send_links(telegram, CHAT, good[0], *refused, good[1])
    await telegram.wait_for(lambda: len(transcript_replies(telegram, CHAT)) == 2)
    [note] = [m for m in replies_to(telegram, CHAT, sent["message_id"]) if "❌" in m["text"]]
    lines = note["text"].splitlines()
    assert lines[:5] == [f"❌ {link} cannot be transcribed: {LOCAL}" for link in refused[:5]]
    assert lines[5:] == ["❌ And 114 more links that cannot be transcribed."]
    assert len(note["text"]) < 4096
    assert not any("went wrong" in t for t in texts(telegram, CHAT))
    assert sorted(link_uploads(intron)) == good


async def test_several_links_one_job_each_up_to_the_limit_the_rest_said_skipped(
    telegram: FakeTelegram, intron: FakeIntron, bot_factory: Any
) -> None:
    running = bot_factory(max_links_per_message=2)
    await running.start()
    try:
        links = [f"https://files.example.org/call-{n}.mp3" for n in (1, 2, 3)]
        sent = send_links(telegram, CHAT, links[0], "http://192.168.0.7/x.mp3", *links[1:])
        await telegram.wait_for(lambda: len(transcript_replies(telegram, CHAT)) == 2)
        assert sorted(link_uploads(intron)) == links[:2]  # uploaded side by side
        note = texts(telegram, CHAT)[0]
        assert "❌ http://192.168.0.7/x.mp3 cannot be transcribed" in note
        assert "Took the first 2 links of 3; the other 1 were skipped" in note
        results = transcript_replies(telegram, CHAT)
        assert {m["reply_to_message_id"] for m in results} == {sent["message_id"]}
        # Every job final: a third link's would have been uploaded.
        await eventually(lambda: idle(telegram), what="nothing left to do")
        assert len(intron.uploads) == 2
    finally:
        await running.stop()


async def test_a_link_intron_cannot_read_ends_in_a_clear_failure(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    intron.unreadable_urls.add("https://files.example.org/login-page")
    sent = send_links(telegram, CHAT, "https://files.example.org/login-page")
    expected = LINK_UNREADABLE.format(status="FILE_PROCESSING_FAILED")
    await telegram.wait_for(lambda: expected in texts(telegram, CHAT))
    failure = next(m for m in telegram.bot_messages(CHAT) if m["text"] == expected)
    assert failure["reply_to_message_id"] == sent["message_id"]
    assert transcript_replies(telegram, CHAT) == []

    intron.inject("upload", Fault.rejected(400, "audio_file_url could not be fetched"))
    send_links(telegram, CHAT, "https://files.example.org/gone.mp3")
    rejected = "❌ Intron did not accept this link: audio_file_url could not be fetched."
    await telegram.wait_for(lambda: rejected in texts(telegram, CHAT))


async def test_in_groups_links_are_transcribed_on_transcribe_only(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    telegram.set_admins(GROUP, {ADMIN})
    await choose_on_request(telegram, GROUP)
    before = len(telegram.bot_messages(GROUP))
    shared = send_links(telegram, GROUP, CALL_URL, user_id=MEMBER, chat_type="group")
    chatter = send_links(
        telegram, GROUP, "https://news.example.org/", user_id=MEMBER, chat_type="group"
    )
    telegram.user_message(
        GROUP, user_id=ADMIN, chat_type="group", text="/transcribe", reply_to=shared["message_id"]
    )
    await telegram.wait_for(lambda: bool(transcript_replies(telegram, GROUP)))
    assert link_uploads(intron) == [CALL_URL]
    [result] = transcript_replies(telegram, GROUP)
    assert result["reply_to_message_id"] == shared["message_id"]
    answered = {m.get("reply_to_message_id") for m in telegram.bot_messages(GROUP)[before:]}
    assert chatter["message_id"] not in answered

    telegram.user_message(
        GROUP, user_id=MEMBER, chat_type="group", text="/transcribe", reply_to=shared["message_id"]
    )
    said = "This recording is already transcribed or in progress."
    await telegram.wait_for(lambda: texts(telegram, GROUP)[-1] == said)
    assert len(intron.uploads) == 1


async def test_links_in_group_chatter_are_left_alone_in_automatic_mode(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    chatter = send_links(
        telegram, GROUP, "https://news.example.org/today", user_id=MEMBER, chat_type="group"
    )
    voice = send_voice(telegram, GROUP, user_id=MEMBER, chat_type="group")
    await telegram.wait_for(lambda: bool(transcript_replies(telegram, GROUP)))
    assert transcript_replies(telegram, GROUP)[0]["reply_to_message_id"] == voice["message_id"]
    assert replies_to(telegram, GROUP, chatter["message_id"]) == []
    assert link_uploads(intron) == []


async def test_kill_9_with_link_jobs_at_intron_answers_each_link_once(
    telegram: FakeTelegram, intron: FakeIntron, tmp_path: Path, database_url: str
) -> None:
    intron.processing_seconds = 3600  # held at Intron until the restart
    env = settings_env(telegram, intron, database_url)
    first = BotProcess(env, cwd=tmp_path)
    await first.start()
    links = [f"https://files.example.org/shift-{n}.mp3" for n in (1, 2, 3)]
    sent = send_links(telegram, CHAT, *links)

    async def all_at_intron() -> bool:
        return await count_jobs(database_url, "at_intron") == 3

    await eventually(all_at_intron, what="every link job recorded as at Intron", within=60)
    await first.kill()
    second = BotProcess(env, cwd=tmp_path)
    await second.start()
    intron.finish()
    try:
        await telegram.wait_for(lambda: len(transcript_replies(telegram, CHAT)) == 3, timeout=60)
        # Every job final: a duplicate would have been sent.
        await eventually(lambda: idle(telegram, database_url), what="nothing left to do")
    finally:
        assert second.proc is not None
        second.proc.terminate()
        await second.wait(15)
    assert len(transcript_replies(telegram, CHAT)) == 3
    assert sorted(link_uploads(intron)) == sorted(links)
    assert {m["reply_to_message_id"] for m in transcript_replies(telegram, CHAT)} == {
        sent["message_id"]
    }
