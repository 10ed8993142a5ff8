"""No log line, traceback included, may carry the bot token or the Intron key."""

from __future__ import annotations

import io
import logging

from bot.logs import RedactingFormatter

TOKEN = "123456:SECRET-token-part"
KEY = "intron-key-xyz"


def test_secrets_are_blanked_in_messages_and_tracebacks() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(RedactingFormatter([TOKEN, "SECRET-token-part", KEY]))
    log = logging.getLogger("test.redaction")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("GET https://api.telegram.org/bot%s/getMe with %s", TOKEN, KEY)
        try:
            raise ConnectionError(
                f"cannot reach https://api.telegram.org/file/bot{TOKEN}/voice.oga"
            )
        except ConnectionError:
            log.exception("download failed")
    finally:
        log.removeHandler(handler)
    written = stream.getvalue()
    assert "SECRET" not in written and KEY not in written
    assert written.count("[redacted]") == 3
    assert "voice.oga" in written and "getMe" in written  # the rest of the line survives
