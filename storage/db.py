"""Database start-up and shutdown."""

from __future__ import annotations

from pathlib import Path

from tortoise import Tortoise

MODELS_MODULE = "storage.models"


def _ensure_sqlite_dir(db_url: str) -> None:
    """SQLite creates the file but not its folder; `data/` does not exist on a fresh clone."""
    if not db_url.startswith("sqlite://"):
        return
    path = db_url.removeprefix("sqlite://").split("?", 1)[0]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


async def init_database(db_url: str) -> None:
    """Connect and create any missing table.

    The global fallback makes the connection visible from every task python-telegram-bot
    starts, not only from the task that ran this function.
    """
    _ensure_sqlite_dir(db_url)
    await Tortoise.init(
        db_url=db_url, modules={"models": [MODELS_MODULE]}, _enable_global_fallback=True
    )
    await Tortoise.generate_schemas(safe=True)


async def close_database() -> None:
    await Tortoise.close_connections()
