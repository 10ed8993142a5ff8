"""No log line, traceback included, may carry the bot token or the Intron key."""

from __future__ import annotations

import io
import json
import logging

from bot.logs import JsonFormatter, RedactingFormatter

TOKEN = "123456:SECRET-token-part"
KEY = "intron-key-xyz"


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
