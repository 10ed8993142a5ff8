"""Logging that never shows the bot token or the Intron key, as text lines or JSON lines.

httpx logs every request URL at INFO and Bot API URLs contain the token, so the HTTP
libraries are held at WARNING. Beyond that, every finished log line (tracebacks included,
which can quote a failed request's URL) has the secrets blanked before it is written.

python-telegram-bot's debug lines quote whole updates, request parameters and answers: the
texts people send, file names, names, transcripts going out. Whatever LOG_LEVEL says, those
lines keep their wording with the content left out (`TelegramContentFilter`).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from urllib.parse import quote

REDACTED = "[redacted]"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# A value shorter than this, or a common word, is not blanked where it appears on its own: it
# occurs in ordinary text (a key "k" in "lock", a password "postgres" in "pip install
# '.[postgres]'"), so blanking it mangles the line while hiding nothing an onlooker could not
# guess. Real tokens and keys are far longer; a password in a URL is blanked by its place.
MIN_SECRET_LENGTH = 8
COMMON_WORDS = frozenset(
    {
        # words of the bot's own lines
        "database",
        "postgres",
        "postgresql",
        "telegram",
        "migrations",
        "transcript",
        "password",
        "username",
        "localhost",
        # the most common passwords of that length
        "12345678",
        "123456789",
        "1234567890",
        "abcdefgh",
        "baseball",
        "changeme",
        "computer",
        "football",
        "iloveyou",
        "internet",
        "password1",
        "princess",
        "qwertyui",
        "qwertyuiop",
        "starwars",
        "sunshine",
        "superman",
        "trustno1",
        "whatever",
    }
)
# The password of any URL with credentials (scheme://user:password@host), whatever it is.
_URL_PASSWORD = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^\s/:@]*:)[^\s/@]+@")


def redactable(secret: str) -> bool:
    """Whether `secret` is blanked wherever it appears (see MIN_SECRET_LENGTH)."""
    return len(secret) >= MIN_SECRET_LENGTH and secret.lower() not in COMMON_WORDS


class Redactor:
    """Blanks known secrets out of any text: each exact value (also as it looks inside a URL,
    percent-encoded), and the password of any URL."""

    def __init__(self, secrets: Iterable[str]) -> None:
        values = {v for s in secrets if redactable(s) for v in (s, quote(s, safe=""))}
        # Longest first, so a secret that contains another is blanked whole.
        self._secrets = sorted(values, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        text = _URL_PASSWORD.sub(r"\1***@", text)
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text


# What stands in for an update, a request's parameters or an answer in python-telegram-bot's
# own lines.
CONTENT_LEFT_OUT = "[content not logged]"
# An argument of a python-telegram-bot line kept as it is: an endpoint name, a number. Anything
# else (dicts, lists, Update objects, free text) may carry what people wrote.
_PLAIN_ARGUMENT = re.compile(r"[A-Za-z_]{1,40}")


class TelegramContentFilter(logging.Filter):
    """Leaves message content out of python-telegram-bot's log lines below WARNING: its
    arguments other than endpoint names and numbers are replaced. Its warnings and errors are
    about the library's own failures and keep their text (redacted like every line)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("telegram") and record.levelno < logging.WARNING:
            if isinstance(record.args, Mapping):
                record.args = {key: _without_content(v) for key, v in record.args.items()}
            elif record.args:
                record.args = tuple(_without_content(arg) for arg in record.args)
        return True


def _without_content(arg: object) -> object:
    if isinstance(arg, bool | int | float):
        return arg
    if isinstance(arg, str) and _PLAIN_ARGUMENT.fullmatch(arg):
        return arg
    return CONTENT_LEFT_OUT


class RedactingFormatter(logging.Formatter):
    def __init__(self, secrets: Iterable[str], fmt: str = FORMAT) -> None:
        super().__init__(fmt)
        self._redact = Redactor(secrets)

    def format(self, record: logging.LogRecord) -> str:
        return self._redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, and the
    traceback as `exception` when there is one. Secrets are blanked in each field before
    encoding, so JSON escaping cannot hide a secret from the redaction."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._redact = Redactor(secrets)

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, str] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        redacted = {key: self._redact(value) for key, value in entry.items()}
        return json.dumps(redacted, ensure_ascii=False)


class _Dropped(logging.Filter):
    """Drops the records whose message starts with `start`."""

    def __init__(self, start: str) -> None:
        super().__init__()
        self._start = start

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self._start)


# The libraries' own tracebacks in an outage, each repeating what the outage logs
# (bot/outages.py) say in a line: python-telegram-bot's for every answer that is not JSON (the
# HTML error page of Telegram's front servers), before it raises the NetworkError counted;
# asyncpg's pool's every second while it cannot reconnect to a stopped server.
_OUTAGE_NOISE = {
    "telegram.request.BaseRequest": _Dropped("Can not load invalid JSON data"),
    "asyncpg.pool": _Dropped("Failed to restore the pool connection floor"),
}


def quiet_outage_noise() -> None:
    """Drop the libraries' lines that only repeat what the outage logs say (idempotent)."""
    for name, dropped in _OUTAGE_NOISE.items():
        logging.getLogger(name).addFilter(dropped)


def configure_logging(level: str, secrets: Iterable[str], *, log_format: str = "text") -> None:
    secrets = list(secrets)
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter(secrets))
    else:
        handler.setFormatter(RedactingFormatter(secrets))
    handler.addFilter(TelegramContentFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "apscheduler", "tortoise", "aiosqlite", "uvicorn"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    quiet_outage_noise()
