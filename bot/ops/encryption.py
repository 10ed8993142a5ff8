"""Which key seals the database, decided at start-up before anything is served: DATA_ENCRYPTION_KEY,
or with SQLite and no key set, the key kept in a file beside the database (created at the
first start). A key that cannot open what the database holds ends start-up in one line."""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from bot.config import Config
from bot.ops.startup import Problem, StartupFailed
from storage import key_store
from storage.db import sqlite_path
from storage.encrypted import BadKey, KeyRing, generate_key, install, parse_key

log = logging.getLogger(__name__)

KEY_FILE_SUFFIX = ".key"


def key_file_of(database_url: str) -> Path | None:
    """Where a SQLite database's key is kept when DATA_ENCRYPTION_KEY is not set."""
    path = sqlite_path(database_url)
    return path.with_name(path.name + KEY_FILE_SUFFIX) if path is not None else None


class KeyFileProblem(Exception):
    """The key file cannot be read, written or used; `str(self)` says why."""


def read_key_file(path: Path) -> str | None:
    """The key in `path`; None when there is no such file."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as error:
        raise KeyFileProblem(f"cannot read the encryption key file {path}: {error}") from None
    try:
        parse_key(text)
    except BadKey as error:
        raise KeyFileProblem(
            f"the encryption key file {path} holds no key ({error}); restore it from the "
            "backup made with the database"
        ) from None
    return text


def create_key_file(path: Path) -> tuple[str, bool]:
    """(the key, whether this call created the file). Written to a private temporary file
    first and linked into place, so the file is never seen half-written, and a process
    creating it at the same moment leaves one key, not two."""
    key = generate_key()
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as file:
            file.write(key + "\n")
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            existing = read_key_file(path)
            if existing is None:
                raise KeyFileProblem(f"{path} vanished while it was being created") from None
            return existing, False
        finally:
            temporary.unlink(missing_ok=True)
    except OSError as error:
        raise KeyFileProblem(
            f"cannot create the encryption key file {path}: {error.strerror or error}; set "
            "DATA_ENCRYPTION_KEY instead (`python -m bot genkey` prints one)"
        ) from None
    return key, True


@dataclass(frozen=True)
class Keys:
    ring: KeyRing
    created: Path | None = None  # the key file this start made


def key_ring(config: Config, *, create: bool) -> KeyRing | None:
    """The ring the configuration gives: DATA_ENCRYPTION_KEY (or the SQLite key file; None
    when there is none) with the old keys."""
    keys = _keys(config, create=create)
    return keys.ring if keys is not None else None


def _keys(config: Config, *, create: bool) -> Keys | None:
    current = config.data_encryption_key
    created = None
    if current is not None:
        key = current.get_secret_value()
    else:
        path = key_file_of(config.database_url)
        if path is None:  # PostgreSQL without a key: the configuration refuses it
            raise KeyFileProblem("DATA_ENCRYPTION_KEY is not set")
        found = read_key_file(path)
        if found is None and not create:
            return None
        if found is None:
            found, made = create_key_file(path)
            created = path if made else None
        key = found
    return Keys(KeyRing.from_texts(key, config.old_encryption_keys), created)


async def open_key_ring(config: Config) -> Keys:
    """At start-up, with the database migrated: the ring, checked against what the database
    holds and installed for every encrypted column. Raises StartupFailed in one line."""
    try:
        keys = _keys(config, create=True)
        assert keys is not None
        await key_store.check_keys(keys.ring)
    except (KeyFileProblem, key_store.WrongKey) as problem:
        raise StartupFailed(Problem(str(problem), transient=False)) from None
    install(keys.ring)
    return keys


def announce_key_file(keys: Keys) -> None:
    """Once start-up succeeded (a failed start-up stays one line): where a key file made at
    this start is. Never the key."""
    if keys.created is not None:
        log.warning(
            "created the data encryption key in %s (DATA_ENCRYPTION_KEY is not set): back it "
            "up with the database, which cannot be read without it",
            keys.created,
        )
