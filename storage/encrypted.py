"""Encryption at rest: the texts that can carry patient data are stored sealed with AES-GCM.

A stored value reads `enc1:<key id>:<base64url(nonce + ciphertext and tag)>`: the format's
version, the id of the key that sealed it (so an old key is found again, and rows still under
it can be counted without decrypting anything), and the sealed bytes. The prefix and key id are
authenticated with the rest. Anything else in such a column is plaintext written before
encryption existed (a database from an older version): it reads as it is, and the background
re-encryption seals it under the current key.

The key ring is installed once at start-up (`install`), before any row is read or written;
the fields below use it. Empty strings and NULL stay as they are: they hold nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from tortoise import fields
from tortoise.models import Model

VERSION = "enc1"
KEY_BYTES = 32
NONCE_BYTES = 12
KEY_ID_LENGTH = 8  # hex digits
# What each key seals once in `encryption_keys`: a key that opens it is that key.
CHECK_TEXT = "intron-bot encryption key check"


class BadKey(Exception):
    """A key that is not 32 bytes of urlsafe base64; `str(self)` says so, without the key."""


class Undecryptable(Exception):
    """A stored value no key of the ring opens: the database was written under another key,
    or the value was altered."""


def generate_key() -> str:
    """32 random bytes, urlsafe base64: a value for DATA_ENCRYPTION_KEY."""
    return base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode()


def parse_key(text: str) -> bytes:
    """The key's bytes; raises BadKey unless `text` is 32 bytes in urlsafe base64."""
    try:
        raw = base64.urlsafe_b64decode(text.strip().encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise BadKey("is not urlsafe base64") from None
    if len(raw) != KEY_BYTES:
        raise BadKey(f"must decode to {KEY_BYTES} bytes, not {len(raw)}")
    return raw


def key_id(key: bytes) -> str:
    """A short public name of a key, stored with every value it seals; it reveals nothing of
    the key (an HMAC of a fixed text under it)."""
    return hmac.new(key, b"intron-bot key id", hashlib.sha256).hexdigest()[:KEY_ID_LENGTH]


def prefix_of(kid: str) -> str:
    return f"{VERSION}:{kid}:"


@dataclass(frozen=True)
class KeyRing:
    """The current key (seals everything written) and old keys (still open what they sealed)."""

    current: bytes
    old: tuple[bytes, ...] = ()
    _ciphers: dict[str, AESGCM] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for key in (self.current, *self.old):
            self._ciphers.setdefault(key_id(key), AESGCM(key))

    @classmethod
    def from_texts(cls, current: str, old: Iterable[str] = ()) -> KeyRing:
        return cls(parse_key(current), tuple(parse_key(k) for k in old))

    @property
    def current_id(self) -> str:
        return key_id(self.current)

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(self._ciphers)

    def seal(self, plaintext: str) -> str:
        kid = self.current_id
        header = prefix_of(kid)
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[kid].encrypt(nonce, plaintext.encode(), header.encode())
        return header + base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, stored: str) -> str:
        """The plaintext of a stored value: opened with the key it names, or as it is when it
        is plaintext from before encryption."""
        parsed = _parse(stored)
        if parsed is None:
            return stored
        kid, blob = parsed
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise Undecryptable(f"sealed under key {kid}, which is not in the key ring")
        try:
            plain = cipher.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], prefix_of(kid).encode())
        except InvalidTag:
            raise Undecryptable(f"a value under key {kid} does not open with it") from None
        return plain.decode()

    def reseal(self, stored: str) -> str:
        """The same plaintext sealed under the current key."""
        return self.seal(self.open(stored))


def _parse(stored: str) -> tuple[str, bytes] | None:
    """(key id, nonce + sealed bytes) of a sealed value; None for plaintext."""
    if not stored.startswith(VERSION + ":"):
        return None
    _, kid, body = [*stored.split(":", 2), "", ""][:3]
    if len(kid) != KEY_ID_LENGTH:
        return None
    try:
        blob = base64.urlsafe_b64decode(body.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None
    if len(blob) < NONCE_BYTES + 16:
        return None
    return kid, blob


def sealed_key_id(stored: str) -> str | None:
    """The id of the key a stored value is sealed under; None for plaintext."""
    parsed = _parse(stored)
    return parsed[0] if parsed else None


_ring: KeyRing | None = None


def install(ring: KeyRing) -> None:
    """The key ring every encrypted field uses from now on (once at start-up)."""
    global _ring
    _ring = ring


def ring() -> KeyRing:
    if _ring is None:
        raise RuntimeError("no encryption key ring installed (storage.encrypted.install)")
    return _ring


class EncryptedTextField(fields.TextField):
    """Text stored sealed; "" and NULL as they are. `max_length` bounds the plaintext."""

    def __init__(self, max_length: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_length = max_length
        if max_length is not None:
            from tortoise.validators import MaxLengthValidator

            self.validators.append(MaxLengthValidator(max_length))

    def to_db_value(self, value: Any, instance: type[Model] | Model) -> str | None:
        self.validate(value)
        if value is None or value == "":
            return value
        return ring().seal(str(value))

    def to_python_value(self, value: Any) -> str | None:
        if value is None or value == "":
            return value
        return ring().open(value)


class EncryptedJSONField(fields.Field[Any]):
    """A JSON value stored sealed (the JSON text is what is sealed); NULL as it is. The column
    is TEXT: a database cannot look into it."""

    SQL_TYPE = "TEXT"
    indexable = False
    field_type = dict

    def to_db_value(self, value: Any, instance: type[Model] | Model) -> str | None:
        self.validate(value)
        if value is None:
            return None
        if isinstance(value, (str, bytes)):  # already JSON text, as Tortoise's JSONField takes
            text = value.decode() if isinstance(value, bytes) else value
            json.loads(text)
        else:
            text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        return ring().seal(text)

    def to_python_value(self, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, (dict, list)):  # a driver that decoded JSON itself
            return value
        if isinstance(value, bytes):
            value = value.decode()
        return json.loads(ring().open(value))
