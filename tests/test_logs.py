"""No log line, traceback included, may carry the bot token or the Intron key."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
from pathlib import Path

from bot.config import Config
from bot.logs import CONTENT_LEFT_OUT, JsonFormatter, RedactingFormatter, Redactor
from storage.db import describe_database_error
from tests.conftest import (
    TEST_ENCRYPTION_KEY,
    BotProcess,
    fixture_bytes,
    settings_env,
    transcript_replies,
)
from tests.fakes.intron_api import FakeIntron
from tests.fakes.telegram import FakeTelegram

TOKEN = "123456:SECRET-token-part"
KEY = "intron-key-xyz"
CHAT = 9731


def log_a_request_and_a_failure(formatter: logging.Formatter, name: str) -> str:
    """A warning quoting a Bot API URL and the key, then a traceback quoting a file URL."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    log = logging.getLogger(name)
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning('GET https://api.telegram.org/bot%s/getMe with "%s"', TOKEN, KEY)
        try:
            raise ConnectionError(
                f"cannot reach https://api.telegram.org/file/bot{TOKEN}/voice.oga"
            )
        except ConnectionError:
            log.exception("download failed")
    finally:
        log.removeHandler(handler)
    return stream.getvalue()


def test_secrets_are_blanked_in_messages_and_tracebacks() -> None:
    formatter = RedactingFormatter([TOKEN, "SECRET-token-part", KEY])
    written = log_a_request_and_a_failure(formatter, "test.redaction")
    assert "SECRET" not in written and KEY not in written
    assert written.count("[redacted]") == 3
    assert "voice.oga" in written and "getMe" in written  # the rest of the line survives


def test_json_lines_are_redacted_field_by_field() -> None:
    written = log_a_request_and_a_failure(JsonFormatter([TOKEN, KEY]), "test.redaction.json")
    assert "SECRET" not in written and KEY not in written
    lines = written.splitlines()
    assert len(lines) == 2, "a traceback stays inside its one JSON line"
    first, second = (json.loads(line) for line in lines)
    assert first["level"] == "WARNING" and first["logger"] == "test.redaction.json"
    assert first["message"] == (
        'GET https://api.telegram.org/bot[redacted]/getMe with "[redacted]"'
    )
    assert first["time"].endswith("+00:00")
    assert second["message"] == "download failed"
    assert "ConnectionError" in second["exception"] and "voice.oga" in second["exception"]


def test_a_password_that_is_a_common_word_leaves_the_words_alone() -> None:
    url = "postgres://postgres:postgres@db.example.org:5432/bot"
    config = Config(  # type: ignore[call-arg]
        _env_file=None,
        telegram_bot_token=TOKEN,
        intron_api_key=KEY,
        database_url=url,
        data_encryption_key=TEST_ENCRYPTION_KEY,
    )
    line, _ = describe_database_error(ModuleNotFoundError(name="asyncpg"), url) or ("", False)
    assert Redactor(config.secrets)(line) == (
        "DATABASE_URL=postgres://postgres:***@db.example.org:5432/bot needs the PostgreSQL "
        "driver: pip install '.[postgres]'"
    )


def test_short_secrets_are_not_blanked_inside_words() -> None:
    redact = Redactor(["p", "k", TOKEN])
    line = "key accepted by api.telegram.org: lock taken"
    assert redact(line) == line


def test_a_password_in_any_url_is_blanked_whatever_it_is() -> None:
    redact = Redactor([])
    assert redact("asyncpg: cannot reach postgresql://bot:p@10.0.0.5/bot (refused)") == (
        "asyncpg: cannot reach postgresql://bot:***@10.0.0.5/bot (refused)"
    )
    assert redact(f"https://api.telegram.org/bot{TOKEN}/getMe") == (
        f"https://api.telegram.org/bot{TOKEN}/getMe"
    ), "no credentials there: the token is blanked as a secret, not by its place"


def test_a_secret_is_blanked_percent_encoded_too() -> None:
    redact = Redactor([TOKEN])
    assert redact("GET /bot123456%3ASECRET-token-part/getMe") == "GET /bot[redacted]/getMe"


async def test_debug_logging_leaves_out_what_people_sent_and_what_they_got(
    telegram: FakeTelegram, intron: FakeIntron, database_url: str, tmp_path: Path
) -> None:
    """LOG_LEVEL=DEBUG makes python-telegram-bot log every update, request and answer: the
    lines are there, their content is not."""
    intron.transcript = "Mrs Wanjiru Kamau complains of chest pain since Monday."
    env = settings_env(telegram, intron, database_url, LOG_LEVEL="DEBUG")
    process = BotProcess(env, cwd=tmp_path)
    await process.start()
    # Read the log as the bot writes it: a full pipe would stall the bot.
    reading = asyncio.create_task(process.wait_for_output("never written", within=600))
    try:
        audio = telegram.audio(fixture_bytes("voice_consultation.ogg"), file_name="Kamau W.mp3")
        telegram.user_message(CHAT, text="Bed 4 is Wanjiru Kamau, see her first")
        sent = telegram.user_message(CHAT, audio=audio, caption="Kamau follow-up")
        await telegram.wait_for(lambda: bool(transcript_replies(telegram, CHAT)), timeout=90)
        assert transcript_replies(telegram, CHAT)[0]["reply_to_message_id"] == sent["message_id"]
    finally:
        assert process.proc is not None
        process.proc.terminate()
        with contextlib.suppress(AssertionError):
            await reading  # ends with the process's output
        await process.wait(30)
    written = process.output.decode()
    assert "Calling Bot API endpoint `sendMessage`" in written, "the debug lines are kept"
    assert CONTENT_LEFT_OUT in written
    for content in ("Kamau", "Wanjiru", "chest pain", "Bed 4", "User" + str(CHAT)):
        assert content not in written, content
    assert telegram.token.split(":")[1] not in written
