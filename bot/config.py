"""The operator's configuration: every setting the bot reads, from the environment and `.env`."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _id_set(value: object) -> object:
    """`ALLOWED_CHAT_IDS=-1001, 42` -> {-1001, 42}; empty means unset."""
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",") if p.strip()]
        return {int(p) for p in parts} if parts else None
    return value


class Config(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    telegram_bot_token: SecretStr = Field(min_length=1)
    intron_api_key: SecretStr = Field(min_length=1)
    intron_base_url: str = "https://infer.intron.health"
    telegram_base_url: str = "https://api.telegram.org/bot"
    telegram_base_file_url: str = "https://api.telegram.org/file/bot"
    telegram_local_mode: bool = False
    database_url: str = "sqlite://data/bot.sqlite3"

    allowed_chat_ids: Annotated[frozenset[int] | None, NoDecode] = None
    admin_user_ids: Annotated[frozenset[int], NoDecode] = frozenset()

    intron_upload_per_minute: int = Field(60, ge=1)
    intron_status_per_minute: int = Field(100, ge=1)
    # Intron counts calls per minute; a shorter window only makes sense for tests and drills.
    intron_rate_window_seconds: float = Field(60.0, gt=0)
    intron_timeout_seconds: float = Field(60.0, gt=0)
    job_timeout_seconds: float = Field(3600, gt=0)
    # A finished transcript Telegram cannot take (an outage) is offered again for this long,
    # waiting at most `delivery_retry_max_seconds` between tries; it stays in /history after.
    delivery_give_up_seconds: float = Field(24 * 3600, gt=0)
    delivery_retry_max_seconds: float = Field(300, gt=0)
    # How long a reply waits for Telegram's answer before it counts as unanswered.
    telegram_timeout_seconds: float = Field(20, gt=0)
    retention_days: int = Field(30, ge=1)
    # How many downloads/uploads run at once: bounds disk, sockets and memory, not throughput
    # (Intron's upload budget is the real limit).
    max_concurrent_transfers: int = Field(4, ge=1)
    log_level: str = "INFO"
    # Names this process's job leases; a restarted process takes back its predecessor's at
    # once. Give each process its own when several share one database.
    worker_id: str | None = None

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

    @field_validator("allowed_chat_ids", mode="before")
    @classmethod
    def _parse_allowed(cls, value: object) -> object:
        return _id_set(value)

    @field_validator("admin_user_ids", mode="before")
    @classmethod
    def _parse_admins(cls, value: object) -> object:
        parsed = _id_set(value)
        return frozenset() if parsed is None else parsed

    @property
    def max_download_bytes(self) -> int:
        """Telegram's cloud Bot API serves bots files up to 20 MB; a local server up to 2 GB."""
        return (2000 if self.telegram_local_mode else 20) * 1024 * 1024


def describe_config_error(error: ValidationError) -> str:
    """One line naming every bad setting, for the operator starting the bot."""
    problems = []
    for item in error.errors():
        name = str(item["loc"][0]).upper() if item["loc"] else "configuration"
        if item["type"] == "missing":
            problems.append(f"{name} is required")
        else:
            problems.append(f"{name} is invalid ({item['msg']})")
    return "Configuration error: " + "; ".join(problems) + " (set in the environment or in .env)"
