"""The operator's configuration: every setting the bot reads, from the environment and `.env`."""

from __future__ import annotations

import ipaddress
import logging
import re
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from storage.db import database_url_problem, is_postgres
from storage.encrypted import BadKey, parse_key

# What Telegram accepts as a webhook's secret_token.
WEBHOOK_SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
HEALTH_PATH = "/healthz"
# An Intron template id as the bot accepts it: it travels in callback data (64 bytes at most,
# with the button's prefix) and in the upload form.
TEMPLATE_ID_RE = re.compile(r"[A-Za-z0-9_.-]{1,48}")
TEMPLATE_NAME_MAX = 40  # shown on a button
TEMPLATES_EXAMPLE = "Paediatrics SOAP=tpl_123,Antenatal visit=tpl_456"


def _templates(value: object) -> object:
    """`Paediatrics SOAP=tpl_123,Antenatal visit=tpl_456` -> {"Paediatrics SOAP": "tpl_123",
    ...} in the order given (the order /settings lists them in); empty means none."""
    if not isinstance(value, str):
        return value
    named: dict[str, str] = {}
    for item in value.split(","):
        if not item.strip():
            continue
        name, equals, template_id = (part.strip() for part in item.rpartition("="))
        if not equals or not name or not template_id:
            raise ValueError(
                f"must be name=template_id pairs separated by commas ({TEMPLATES_EXAMPLE})"
            )
        if not TEMPLATE_ID_RE.fullmatch(template_id):
            raise ValueError("has a template id that is not 1-48 characters of A-Z a-z 0-9 _ . -")
        if len(name) > TEMPLATE_NAME_MAX:
            raise ValueError(f"has a template name longer than {TEMPLATE_NAME_MAX} characters")
        if name in named or template_id in named.values():
            raise ValueError("names a template, or a template id, twice")
        named[name] = template_id
    return named


# Where an operator learns a chat's id: the bot's refusal in a chat it does not serve. In a
# private chat the chat id is the user's id.
FIND_CHAT_ID = (
    "to find a chat's id, start the bot with ALLOWED_CHAT_IDS=0 and message it from that "
    "chat: it answers with the chat's id"
)
FIND_USER_ID = (
    "to find yours, start the bot with ALLOWED_CHAT_IDS=0 and message it privately: the chat "
    "id it answers with is your user id"
)
GENKEY = "`python -m bot genkey` prints one"


def _split_keys(value: str) -> list[str]:
    return [key.strip() for key in value.split(",") if key.strip()]


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _id_set(value: object, *, what: str, how_to_find: str) -> object:
    """`ALLOWED_CHAT_IDS=-1001, 42` -> {-1001, 42}; empty means unset."""
    if not isinstance(value, str):
        return value
    parts = [p.strip() for p in value.split(",") if p.strip()]
    for part in parts:
        if not re.fullmatch(r"-?[0-9]+", part):
            raise ValueError(
                f"must be numeric {what} separated by commas, not @usernames or names "
                f"({part!r} is not one); {how_to_find}"
            )
    return {int(p) for p in parts} if parts else None


def _is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Config(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    telegram_bot_token: SecretStr = Field(min_length=1)
    intron_api_key: SecretStr = Field(min_length=1)
    intron_base_url: str = "https://infer.intron.health"
    telegram_base_url: str = "https://api.telegram.org/bot"
    telegram_base_file_url: str = "https://api.telegram.org/file/bot"
    telegram_local_mode: bool = False
    database_url: str = "sqlite://data/bot.sqlite3"
    # Seals transcripts, results, file names, links and stored updates in the database (32
    # random bytes, urlsafe base64: `python -m bot genkey`). Unset with SQLite: the bot keeps
    # one in `<database file>.key` (created at first start). Required with PostgreSQL.
    data_encryption_key: SecretStr | None = Field(None, validate_default=True)
    # Keys used before the current one, comma-separated: what they sealed still opens, and is
    # sealed again under DATA_ENCRYPTION_KEY in the background.
    data_encryption_old_keys: SecretStr | None = None

    allowed_chat_ids: Annotated[frozenset[int] | None, NoDecode] = None
    admin_user_ids: Annotated[frozenset[int], NoDecode] = frozenset()

    intron_upload_per_minute: int = Field(60, ge=1)
    intron_status_per_minute: int = Field(100, ge=1)
    # Synchronous uploads (newer host) per minute for the whole key; 0 never tries them.
    intron_sync_upload_per_minute: int = Field(30, ge=0)
    # Intron counts calls per minute; a shorter window only makes sense for tests and drills.
    intron_rate_window_seconds: float = Field(60.0, gt=0)
    intron_timeout_seconds: float = Field(60.0, gt=0)
    # Intron templates (custom post-processing prompts) a chat may pick in /settings, by the
    # name shown there: `Paediatrics SOAP=tpl_123,Antenatal visit=tpl_456`. Unset: none.
    intron_templates: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)
    job_timeout_seconds: float = Field(3600, gt=0)
    # A finished transcript Telegram cannot take (an outage) is offered again for this long,
    # waiting at most `delivery_retry_max_seconds` between tries; it stays in /history after.
    delivery_give_up_seconds: float = Field(24 * 3600, gt=0)
    delivery_retry_max_seconds: float = Field(300, gt=0)
    # How long a reply waits for Telegram's answer before it counts as unanswered.
    telegram_timeout_seconds: float = Field(20, gt=0)
    # Telegram's flood limits for the whole bot (all instances on one database together):
    # messages a second, and messages one group may get per minute. Telegram's are about 30
    # and 20; lower them if Telegram still answers 429.
    telegram_per_second: int = Field(30, ge=1)
    telegram_group_per_minute: int = Field(20, ge=1)
    # Telegram counts a group's messages per minute; a shorter window is for tests and drills.
    telegram_group_window_seconds: float = Field(60.0, gt=0)
    retention_days: int = Field(30, ge=1)
    # Who runs this bot and how to reach them (a name, an e-mail, a @username): /privacy shows it,
    # and so does the consent request.
    operator_contact: str | None = None
    # Ask each chat (a group's administrators) to agree to how its recordings are processed
    # before the first goes to Intron; recordings sent before that wait. Who agreed, when and to
    # which version of the text is recorded.
    consent_required: bool = False
    # Links in one message that become jobs; the rest are skipped, and the reply says so.
    max_links_per_message: int = Field(5, ge=1, le=50)
    # How many downloads/uploads run at once: bounds disk, sockets and memory, not throughput
    # (Intron's upload budget is the real limit).
    max_concurrent_transfers: int = Field(4, ge=1)
    # Audio minutes a chat may send to Intron per day (UTC); unset = no limit. An operator can
    # give one chat another allowance with /allowance.
    chat_daily_audio_minutes: float | None = Field(None, gt=0)
    # A longer recording is refused before anything is downloaded; unset = no limit.
    max_recording_minutes: float | None = Field(None, gt=0)
    log_level: str = "INFO"
    # "json": one JSON object per line, for log collectors; the same secrets are blanked.
    log_format: Literal["text", "json"] = "text"
    # How long start-up keeps retrying a database or Telegram that does not answer yet (a
    # container started before its network), before giving up with one line.
    startup_retry_seconds: float = Field(90.0, ge=0)
    # How long one attempt at opening the database and applying migrations may take: a
    # database that accepts connections but never answers, or a lock held elsewhere, ends
    # in one line instead of a silent hang. Raise it for a migration of a very large table.
    database_timeout_seconds: float = Field(30.0, gt=0)
    # Prometheus metrics on http://METRICS_HOST:METRICS_PORT/metrics; unset = not served,
    # 0 = any free port (the log says which).
    metrics_port: int | None = Field(None, ge=0, le=65535)
    metrics_host: str = "0.0.0.0"
    # Names this process's job leases; a restarted process takes back its predecessor's at
    # once. Give each process its own when several share one database.
    worker_id: str | None = None

    # Webhook mode when set: the public URL Telegram calls (behind a TLS reverse proxy, which
    # forwards to 0.0.0.0:PORT on the same path). Unset: long polling.
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = Field(None, validate_default=True)
    port: int = Field(8080, ge=1, le=65535)

    @field_validator("telegram_bot_token")
    @classmethod
    def _token_shape(cls, value: SecretStr) -> SecretStr:
        bot_id, _, secret = value.get_secret_value().partition(":")
        if not bot_id.isdigit() or not secret:
            raise ValueError("must look like 123456789:ABC... (as BotFather gives it)")
        return value

    @field_validator("intron_base_url", "telegram_base_url", "telegram_base_file_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        problem = database_url_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("data_encryption_key", "data_encryption_old_keys", mode="before")
    @classmethod
    def _empty_key(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("data_encryption_key")
    @classmethod
    def _encryption_key(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is None:
            if is_postgres(info.data.get("database_url") or ""):
                raise ValueError(
                    "is required with PostgreSQL (every instance must seal and open the same "
                    "data): set it to a key from `python -m bot genkey`, the same in every "
                    "instance"
                )
            return None
        try:
            parse_key(value.get_secret_value())
        except BadKey as error:
            raise ValueError(
                f"{error}: it must be 32 random bytes in urlsafe base64 ({GENKEY})"
            ) from None
        return value

    @field_validator("data_encryption_old_keys")
    @classmethod
    def _old_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        for number, key in enumerate(_split_keys(value.get_secret_value()), start=1):
            try:
                parse_key(key)
            except BadKey as error:
                raise ValueError(
                    f"key {number} {error}: each must be 32 random bytes in urlsafe base64"
                ) from None
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in logging.getLevelNamesMapping():
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)} ({value!r} is not one)")
        return level

    @field_validator("webhook_url", mode="before")
    @classmethod
    def _webhook_url(cls, value: object, info: ValidationInfo) -> object:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if not isinstance(value, str) or not value.startswith(("http://", "https://")):
            raise ValueError("must be the https:// URL Telegram should call")
        parts = urlsplit(value)
        # Plain http can only be called from this machine: by a local Bot API server
        # (TELEGRAM_LOCAL_MODE), or by a test's fake Telegram on a loopback address.
        http_allowed = info.data.get("telegram_local_mode") or _is_loopback(parts.hostname)
        if parts.scheme != "https" and not http_allowed:
            raise ValueError(
                "must start with https://: Telegram delivers webhooks only over HTTPS (put a "
                "TLS reverse proxy in front of the bot, see the README)"
            )
        if parts.path.rstrip("/") == HEALTH_PATH:
            raise ValueError(f"must not use the path {HEALTH_PATH}, which serves health checks")
        return value

    @field_validator("webhook_secret", mode="before")
    @classmethod
    def _empty_secret(cls, value: object) -> object:
        return None if isinstance(value, str) and not value else value

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is None:
            if info.data.get("webhook_url"):
                raise ValueError(
                    "is required because WEBHOOK_URL is set: Telegram sends it with each "
                    "update so the bot can tell Telegram's requests from anyone else's (any "
                    "1-256 of A-Z, a-z, 0-9, _ and -)"
                )
            return None
        if not WEBHOOK_SECRET_RE.fullmatch(value.get_secret_value()):
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @field_validator("operator_contact", mode="before")
    @classmethod
    def _empty_contact(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator(
        "metrics_port", "chat_daily_audio_minutes", "max_recording_minutes", mode="before"
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """`METRICS_PORT=` (and the like) in .env, as .env.example has it, means not set."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("intron_templates", mode="before")
    @classmethod
    def _parse_templates(cls, value: object) -> object:
        return _templates(value)

    @field_validator("allowed_chat_ids", mode="before")
    @classmethod
    def _parse_allowed(cls, value: object) -> object:
        return _id_set(value, what="chat ids", how_to_find=FIND_CHAT_ID)

    @field_validator("admin_user_ids", mode="before")
    @classmethod
    def _parse_admins(cls, value: object) -> object:
        parsed = _id_set(value, what="Telegram user ids", how_to_find=FIND_USER_ID)
        return frozenset() if parsed is None else parsed

    @property
    def webhook_path(self) -> str:
        """The path Telegram's requests arrive on (the reverse proxy keeps it)."""
        return urlsplit(self.webhook_url or "").path or "/"

    @property
    def secrets(self) -> list[str]:
        """What no log line or printed line may show: the token, the key, the webhook's
        secret and the database password (bot.logs.Redactor leaves alone those too short
        or too common to tell from ordinary words)."""
        given = [self.telegram_bot_token, self.intron_api_key, self.webhook_secret]
        secrets = [s.get_secret_value() for s in given if s is not None]
        password = urlsplit(self.database_url).password
        return secrets + ([password] if password else []) + self.encryption_keys

    @property
    def encryption_keys(self) -> list[str]:
        """The keys given, the current one first (none set: the SQLite key file's is used)."""
        current = self.data_encryption_key
        old = self.data_encryption_old_keys
        return ([current.get_secret_value()] if current else []) + (
            _split_keys(old.get_secret_value()) if old else []
        )

    @property
    def old_encryption_keys(self) -> list[str]:
        old = self.data_encryption_old_keys
        return _split_keys(old.get_secret_value()) if old else []

    @property
    def template_names(self) -> dict[str, str]:
        """The offered templates by id: the name each is shown under."""
        return {template_id: name for name, template_id in self.intron_templates.items()}

    @property
    def bot_api_hosts(self) -> frozenset[str]:
        """The hosts the Bot API is reached at: a link to them may carry the token."""
        urls = (self.telegram_base_url, self.telegram_base_file_url)
        return frozenset(host.lower() for u in urls if (host := urlsplit(u).hostname))

    @property
    def max_download_bytes(self) -> int:
        """Telegram's cloud Bot API serves bots files up to 20 MB; a local server up to 2 GB."""
        return (2000 if self.telegram_local_mode else 20) * 1024 * 1024


def describe_config_error(error: ValidationError) -> str:
    """One line naming every bad setting, for the operator starting the bot."""
    problems = []
    for item in error.errors():
        name = str(item["loc"][0]).upper() if item["loc"] else "configuration"
        given = item.get("input")
        if item["type"] == "missing":
            problems.append(f"{name} is not set (set it in .env or the environment)")
        elif item["type"] == "value_error":
            # Our own validators' words, which say more than "empty" (why it is needed).
            problems.append(f"{name} {item['ctx']['error']}")
        elif isinstance(given, str) and not given.strip():
            problems.append(f"{name} is empty (set it in .env)")
        else:
            # Never the value itself: it may be a secret.
            problems.append(f"{name} is invalid ({item['msg']})")
    return "Configuration error: " + "; ".join(problems)
