"""The bot in French and Swahili: a user whose Telegram is in French (or Swahili) gets every
message of a whole flow in that language, a chat can choose its bot language in /settings,
a job answers in its language after a restart, and the command menus are translated."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.i18n import Locales, from_telegram
from bot.render import render_results
from tests.conftest import RunningBot, command_menus, send_command, send_voice
from tests.fakes.intron_api import FakeIntron
from tests.fakes.telegram import FakeTelegram
from tests.test_catalogues import catalog, extracted_messages
from tests.test_links import send_links
from tests.test_settings import buttons, menu_message, open_settings, press

CHAT = 4101
GROUP = -1004101
ADMIN, FR_MEMBER, SW_MEMBER = 41, 42, 43


@dataclass(frozen=True)
class Expected:
    """What a user of this language must see, as a native speaker reads it."""

    language_code: str
    settings_title: str
    category: str
    telehealth: str
    outputs: str
    soap_note: str
    soap_note_on: str
    back: str
    done: str
    saved: str
    received: str
    uploading: str
    transcribing: str
    headings: tuple[str, ...]
    history_title: str
    delivered: str
    resend: str
    usage: str
    failed: str
    not_audio: str
    help_languages: str
    help_command: str


FRENCH = Expected(
    language_code="fr",
    settings_title="⚙️ Réglages de cette discussion",
    category="Catégorie",
    telehealth="Téléconsultation",
    outputs="Résultats",
    soap_note="Note SOAP",
    soap_note_on="Note SOAP : activé",
    back="Retour",
    done="Terminé",
    saved="✅ Réglages enregistrés.",
    received="🎧 Reçu. Transcription dans un instant…",
    uploading="⬆️ Envoi de l'audio à Intron…",
    transcribing="⏳ Transcription en cours… ",
    headings=("📝 Transcription", "📋 Résumé", "🩺 Note SOAP"),
    history_title="🗂 Enregistrements récents (UTC) :",
    delivered="✅ envoyé",
    resend="🔁 Renvoyer #",
    usage="🎙 Cette discussion : 0,1 min d'audio sur 1 enregistrement.",
    failed="❌ Intron n'a pas pu transcrire cet enregistrement (FILE_PROCESSING_FAILED).",
    not_audio="Je ne peux transcrire que de l'audio.",
    help_languages="J'écris en anglais, en français ou en swahili",
    help_command="/history — Transcriptions récentes (renvoi possible)",
)
SWAHILI = Expected(
    language_code="sw",
    settings_title="⚙️ Mipangilio ya gumzo hili",
    category="Aina",
    telehealth="Huduma ya afya kwa mbali",
    outputs="Matokeo",
    soap_note="Dokezo la SOAP",
    soap_note_on="Dokezo la SOAP: imewashwa",
    back="Rudi",
    done="Imekamilika",
    saved="✅ Mipangilio imehifadhiwa.",
    received="🎧 Imepokelewa. Itanakiliwa hivi punde…",
    uploading="⬆️ Inatuma sauti kwa Intron…",
    transcribing="⏳ Inanakili… ",
    headings=("📝 Nakala", "📋 Muhtasari", "🩺 Dokezo la SOAP"),
    history_title="🗂 Rekodi za hivi karibuni (UTC):",
    delivered="✅ imetumwa",
    resend="🔁 Tuma tena #",
    usage="🎙 Gumzo hili: dakika 0.1 za sauti katika rekodi 1.",
    failed="❌ Intron haikuweza kunakili rekodi hii (FILE_PROCESSING_FAILED).",
    not_audio="Ninaweza kunakili sauti pekee.",
    help_languages="Ninaandika kwa Kiingereza, Kifaransa au Kiswahili",
    help_command="/history — Nakala za hivi karibuni, zinaweza kutumwa tena",
)


def bold_texts(message: dict[str, Any]) -> list[str]:
    encoded = message["text"].encode("utf-16-le")
    return [
        encoded[2 * e["offset"] : 2 * (e["offset"] + e["length"])].decode("utf-16-le")
        for e in message.get("entities", [])
        if e["type"] == "bold"
    ]


def english_fragments(language: str) -> list[str]:
    """Pieces of English the bot's messages are made of (between placeholders, of two words
    or more) that the language's catalogue says differently: none may reach its users."""
    entries = catalog(language)
    fragments: set[str] = set()
    for message in extracted_messages():
        ids = message if isinstance(message, tuple) else (message,)
        entry = entries.get(message)
        strings = entry.string if entry is not None else ""
        translated = " ".join(strings) if isinstance(strings, tuple) else strings
        for english in ids:
            for piece in re.split(r"\{\w*\}", english):
                piece = piece.strip(" .:()")
                if " " in piece and len(piece) >= 8 and piece not in translated:
                    fragments.add(piece)
    return sorted(fragments)


def everything_shown(telegram: FakeTelegram, chat: int) -> list[str]:
    """Every text the chat was shown: each state of each bot message (deleted ones too), its
    buttons, and the answers to its button presses. Result messages are left out: their
    content is what Intron wrote (in English here), their headings are checked apart."""
    shown: list[str] = []
    for message in telegram.bot_messages(chat, include_deleted=True):
        for state in telegram.history(chat, message["message_id"]):
            text = state.get("text") or state.get("caption") or ""
            if state.get("entities") and any(e["type"] == "bold" for e in state["entities"]):
                continue  # a result: Intron's words, in bold-headed sections
            shown.append(text)
            shown += [b["text"] for b in buttons(state)]
    shown += [a.get("text") or "" for a in telegram.answered_callbacks.values()]
    return shown


async def wait_reply(
    telegram: FakeTelegram, chat: int, sent: dict[str, Any], has: str, *, status: bool = True
) -> str:
    """The text of the bot's reply to `sent` that contains `has`; with `status`, once the job's
    status message is gone too (the job is then finished: later commands' answers are counted
    cleanly)."""

    def replies() -> list[dict[str, Any]]:
        return [
            m
            for m in telegram.bot_messages(chat, include_deleted=True)
            if m.get("reply_to_message_id") == sent["message_id"]
        ]

    def found() -> str | None:
        texts = [str(m.get("text", "")) for m in replies()]
        if status and telegram.history(chat, replies()[0]["message_id"])[-1]["event"] != "deleted":
            return None
        return next((t for t in texts if has in t), None)

    await telegram.wait_for(lambda: bool(replies()) and found() is not None)
    return found() or ""


@pytest.mark.parametrize("expected", [FRENCH, SWAHILI], ids=["fr", "sw"])
async def test_a_whole_flow_speaks_the_users_telegram_language(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot, expected: Expected
) -> None:
    telegram.set_language(CHAT, expected.language_code)

    # /settings: Telehealth with a SOAP note, every screen and toast in the language.
    menu = await open_settings(telegram, CHAT)
    assert menu_message(telegram, CHAT, menu)["text"].startswith(expected.settings_title)
    await press(telegram, CHAT, menu, expected.category)
    await press(telegram, CHAT, menu, expected.telehealth)
    await press(telegram, CHAT, menu, expected.outputs)
    toast = await press(telegram, CHAT, menu, expected.soap_note)
    assert toast["text"] == expected.soap_note_on
    await press(telegram, CHAT, menu, expected.back)
    await press(telegram, CHAT, menu, expected.done)
    closed = menu_message(telegram, CHAT, menu)["text"]
    assert closed.startswith(expected.saved) and expected.telehealth in closed

    # A voice note: received, progress, then results under translated headings.
    intron.results.update(summary="Headache for three days.", soap_note="S: headache")
    sent = send_voice(telegram, CHAT)
    transcript_heading = expected.headings[0]
    await wait_reply(telegram, CHAT, sent, transcript_heading)
    status = next(
        m
        for m in telegram.bot_messages(CHAT, include_deleted=True)
        if m.get("reply_to_message_id") == sent["message_id"]
    )
    states = [s.get("text", "") for s in telegram.history(CHAT, status["message_id"])]
    assert states[0] == expected.received
    assert expected.uploading in states
    assert any(s.startswith(expected.transcribing) for s in states)
    results = [
        m for m in telegram.bot_messages(CHAT) if m.get("reply_to_message_id") == sent["message_id"]
    ]
    headings = [h for m in results for h in bold_texts(m)]
    assert headings == list(expected.headings)

    # /history and /usage, with the date, state and numbers as the language writes them.
    history = (await send_command(telegram, CHAT, "/history"))[-1]
    assert history["text"].startswith(expected.history_title)
    assert expected.telehealth in history["text"] and expected.delivered in history["text"]
    assert buttons(history)[0]["text"].startswith(expected.resend)
    usage = (await send_command(telegram, CHAT, "/usage"))[-1]
    assert usage["text"] == expected.usage

    # Errors: Intron failing a recording, and a message that is not audio.
    intron.fail_processing.add("voice.ogg")
    failing = send_voice(telegram, CHAT)
    failure = await wait_reply(telegram, CHAT, failing, "FILE_PROCESSING_FAILED")
    assert failure.startswith(expected.failed)
    unsupported = (await send_command(telegram, CHAT, "hello"))[-1]
    assert unsupported["text"].startswith(expected.not_audio)

    help_text = (await send_command(telegram, CHAT, "/help"))[-1]["text"]
    assert expected.help_languages in help_text and expected.help_command in help_text

    english = english_fragments(expected.language_code)
    leftovers = [
        (fragment, text)
        for text in everything_shown(telegram, CHAT)
        for fragment in english
        if fragment in text
    ]
    assert not leftovers, f"English shown to a {expected.language_code} user: {leftovers}"


async def test_bot_language_chosen_in_settings_wins_over_telegram_language(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    telegram.set_language(CHAT, "en")
    menu = await open_settings(telegram, CHAT)
    home = menu_message(telegram, CHAT, menu)
    assert "💬 Bot language: automatic (your Telegram language)" in [
        b["text"] for b in buttons(home)
    ]
    assert "🎙 Spoken language: not set" in [b["text"] for b in buttons(home)]
    await press(telegram, CHAT, menu, "Bot language")
    toast = await press(telegram, CHAT, menu, "Français")
    assert toast["text"] == "Langue du bot : Français"
    redrawn = menu_message(telegram, CHAT, menu)
    assert redrawn["text"].startswith("⚙️ Réglages de cette discussion")
    assert "💬 Langue du bot : Français" in [b["text"] for b in buttons(redrawn)]

    # The spoken language is another setting: choosing French as the bot's language sends
    # Intron no language at all.
    sent = send_voice(telegram, CHAT)
    await wait_reply(telegram, CHAT, sent, "📝 Transcription")
    assert "use_language_asr_input" not in intron.uploads[-1].fields
    assert (await send_command(telegram, CHAT, "/start"))[-1]["text"].startswith("👋 Je ")

    # Back to automatic: the Telegram language (English) again.
    menu = await open_settings(telegram, CHAT)
    await press(telegram, CHAT, menu, "Langue du bot")
    await press(telegram, CHAT, menu, "Automatique")
    assert menu_message(telegram, CHAT, menu)["text"].startswith("⚙️ Settings for this chat")


async def test_group_members_each_get_their_language_until_the_group_chooses_one(
    telegram: FakeTelegram, bot: RunningBot
) -> None:
    group = {"chat_type": "group"}
    telegram.set_admins(GROUP, {ADMIN})
    telegram.set_language(FR_MEMBER, "fr-FR")
    telegram.set_language(SW_MEMBER, "sw-KE")
    help_command = "/help@intron_test_bot"

    async def help_for(user: int) -> str:
        replies = await send_command(telegram, GROUP, help_command, user_id=user, **group)
        return str(replies[-1]["text"])

    assert "J'écris en anglais" in await help_for(FR_MEMBER)
    assert "Ninaandika kwa Kiingereza" in await help_for(SW_MEMBER)

    menu = await open_settings(telegram, GROUP, user_id=ADMIN, **group)
    await press(telegram, GROUP, menu, "Bot language", user_id=ADMIN, **group)
    await press(telegram, GROUP, menu, "Kiswahili", user_id=ADMIN, **group)
    assert "Ninaandika kwa Kiingereza" in await help_for(FR_MEMBER)
    # Refusals are in the group's language too.
    refused = await press(telegram, GROUP, menu, "Aina", user_id=FR_MEMBER, **group)
    assert refused["text"].startswith("Wasimamizi wa kikundi pekee")


async def test_a_job_answers_in_its_language_after_a_restart(
    telegram: FakeTelegram, intron: FakeIntron, bot_factory: Callable[..., RunningBot]
) -> None:
    intron.processing_seconds = 3600  # held at Intron until finish()
    telegram.set_language(CHAT, "sw")
    first = bot_factory()
    await first.start()
    sent = send_voice(telegram, CHAT)
    await telegram.wait_for(lambda: len(intron.uploads) == 1)
    await first.stop()

    # The user's Telegram is in French by now; the job still answers in the language the
    # recording was sent in.
    telegram.set_language(CHAT, "fr")
    second = bot_factory()
    await second.start()
    try:
        intron.finish()
        text = await wait_reply(telegram, CHAT, sent, "📝 Nakala")
        assert text.startswith("📝 Nakala\n")
    finally:
        await second.stop()


async def test_command_menus_are_registered_in_each_language(
    telegram: FakeTelegram, bot: RunningBot
) -> None:
    groups = {"type": "all_group_chats"}
    admins = {"type": "all_chat_administrators"}

    def described(scope: dict[str, str] | None, language: str) -> dict[str, str]:
        commands = telegram.commands_for(scope, language)
        return {c["command"]: c["description"] for c in commands}

    await command_menus(telegram)  # published at start-up
    assert described(None, "")["help"] == "How to use the bot"
    assert described(None, "fr")["help"] == "Comment utiliser le bot"
    assert described(None, "sw")["help"] == "Jinsi ya kutumia boti"
    for language in ("", "fr", "sw"):
        assert set(described(admins, language)) == set(described(None, language))
        assert "settings" not in described(groups, language)
        assert "history" in described(groups, language)
    assert described(groups, "sw")["history"] == "Nakala za hivi karibuni, zinaweza kutumwa tena"


def test_telegram_language_codes_map_to_bot_languages() -> None:
    assert from_telegram("fr") == "fr" and from_telegram("fr-CA") == "fr"
    assert from_telegram("sw-KE") == "sw" and from_telegram("SW") == "sw"
    assert from_telegram("en-GB") == "en"
    assert from_telegram("pt-BR") is None and from_telegram(None) is None


def test_a_long_report_file_is_headed_and_captioned_in_the_language() -> None:
    french = Locales.load().translator("fr")
    data = {"audio_transcript": "mot " * 3000, "transcript_summary": "Résumé " * 400}
    report = render_results(data, audio_name="consultation.ogg", when=datetime.now(UTC), tr=french)
    assert report.document is not None
    assert report.document.caption == "Rapport complet"
    content = report.document.content.decode()
    assert content.startswith("# Transcription\n") and "## 📋 Résumé\n" in content


@dataclass(frozen=True)
class NewFeatures:
    """Links, forwarded copies and /privacy, as a user of this language sees them."""

    language_code: str
    telegram_link_refused: str
    link_received: str
    reused: str
    transcript_heading: str
    privacy_title: str
    privacy_retention: str
    help_links: str
    help_privacy: str


NEW_FEATURES = [
    NewFeatures(
        language_code="fr",
        telegram_link_refused="❌ Ce lien ne peut pas être transcrit : les liens vers Telegram",
        link_received="🔗 Lien reçu. Intron va récupérer l'audio",
        reused="♻️ Reçu. Cet enregistrement a déjà été transcrit avec ces réglages",
        transcript_heading="📝 Transcription",
        privacy_title="🔒 Confidentialité",
        privacy_retention="effacés 30 jours après la réponse",
        help_links="envoyez plutôt un lien vers le fichier audio ou vidéo",
        help_privacy="/privacy — Ce que le bot conserve, combien de temps, et qui le gère",
    ),
    NewFeatures(
        language_code="sw",
        telegram_link_refused="❌ Kiungo hiki hakiwezi kunakiliwa: viungo vya Telegram",
        link_received="🔗 Kiungo kimepokelewa. Intron itachukua sauti yenyewe",
        reused="♻️ Imepokelewa. Rekodi hii ilinakiliwa awali kwa mipangilio hii",
        transcript_heading="📝 Nakala",
        privacy_title="🔒 Faragha",
        privacy_retention="hufutwa siku 30 baada ya rekodi kujibiwa",
        help_links="badala yake tuma kiungo cha faili la sauti au video",
        help_privacy="/privacy — Boti inahifadhi nini, kwa muda gani, na nani anaiendesha",
    ),
]


@pytest.mark.parametrize("expected", NEW_FEATURES, ids=["fr", "sw"])
async def test_links_forwarded_copies_and_privacy_speak_the_users_language(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot, expected: NewFeatures
) -> None:
    english_chat, chat = CHAT + 1, CHAT
    telegram.set_language(chat, expected.language_code)

    refused = send_links(telegram, chat, "https://t.me/c/1234/56")
    assert (await wait_reply(telegram, chat, refused, "❌", status=False)).startswith(
        expected.telegram_link_refused
    )
    linked = send_links(telegram, chat, "https://files.example.org/ward-round.mp3")
    await wait_reply(telegram, chat, linked, expected.transcript_heading)
    first = telegram.bot_messages(chat, include_deleted=True)
    status = next(m for m in first if m.get("reply_to_message_id") == linked["message_id"])
    assert telegram.history(chat, status["message_id"])[0]["text"].startswith(
        expected.link_received
    )

    # A note transcribed for an English-speaking chat, forwarded to this one: answered from
    # that result, under this chat's headings.
    original = send_voice(telegram, english_chat)
    await wait_reply(telegram, english_chat, original, "📝 Transcript")
    copy = telegram.user_message(
        chat,
        voice=telegram.forwarded(original["voice"]),
        forward_origin={"type": "hidden_user", "sender_user_name": "Patient", "date": 1},
    )
    answer = await wait_reply(telegram, chat, copy, expected.transcript_heading)
    assert answer.startswith(expected.transcript_heading + "\n")
    copy_status = next(
        m
        for m in telegram.bot_messages(chat, include_deleted=True)
        if m.get("reply_to_message_id") == copy["message_id"]
    )
    assert telegram.history(chat, copy_status["message_id"])[0]["text"].startswith(expected.reused)

    privacy = (await send_command(telegram, chat, "/privacy"))[-1]["text"]
    assert privacy.startswith(expected.privacy_title) and expected.privacy_retention in privacy
    help_text = (await send_command(telegram, chat, "/help"))[-1]["text"]
    assert expected.help_links in help_text and expected.help_privacy in help_text

    english = english_fragments(expected.language_code)
    leftovers = [(f, t) for t in everything_shown(telegram, chat) for f in english if f in t]
    assert not leftovers, f"English shown to a {expected.language_code} user: {leftovers}"
