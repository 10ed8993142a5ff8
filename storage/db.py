"""Database start-up and shutdown."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, TypeVar

from tortoise import Tortoise
from tortoise.migrations.api import migrate

T = TypeVar("T")

MODELS_MODULE = "storage.models"
MIGRATIONS_MODULE = "storage.migrations"
# For the `tortoise` command line (makemigrations after a model change):
#   DATABASE_URL=sqlite://data/bot.sqlite3 tortoise -c storage.db.TORTOISE_ORM makemigrations


def tortoise_config(db_url: str) -> dict[str, Any]:
    return {
        "connections": {"default": db_url},
        "apps": {
            "models": {
                "models": [MODELS_MODULE],
                "migrations": MIGRATIONS_MODULE,
                "default_connection": "default",
            }
        },
    }


TORTOISE_ORM = tortoise_config(os.environ.get("DATABASE_URL", "sqlite://data/bot.sqlite3"))


def _ensure_sqlite_dir(db_url: str) -> None:
    """SQLite creates the file but not its folder; `data/` does not exist on a fresh clone."""
    if not db_url.startswith("sqlite://"):
        return
    path = db_url.removeprefix("sqlite://").split("?", 1)[0]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


async def init_database(db_url: str) -> None:
    """Bring the schema up to date (applying any new migration), then connect.

    The global fallback makes the connection visible from every task python-telegram-bot
    starts, not only from the task that ran this function.
    """
    _ensure_sqlite_dir(db_url)
    config = tortoise_config(db_url)
    await migrate(config=config)
    await Tortoise.close_connections()
    await Tortoise.init(config=config, _enable_global_fallback=True)


async def close_database() -> None:
    await Tortoise.close_connections()


async def wait_uncancelled(operation: Awaitable[T], seconds: float) -> T:
    """Wait at most `seconds` for a database operation, raising TimeoutError after that, but
    never cancel it: a Tortoise transaction cut off on SQLite leaves the one connection inside
    that transaction for good. The operation finishes (or fails) on its own."""
    task = asyncio.ensure_future(operation)
    task.add_done_callback(_consume_outcome)
    async with asyncio.timeout(seconds):
        return await asyncio.shield(task)


def _consume_outcome(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved, so a late failure is not reported as never retrieved
