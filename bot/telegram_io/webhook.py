"""Webhook mode: Telegram POSTs each update; it gets its 200 only once the update is stored.

Telegram forgets an update it got a 2xx for, and delivers it again later after any other
answer. So: a wrong secret is refused (403) before anything is read, a body that is not an
update is refused (400, no point in sending it again; that includes JSON nested deeper than
any update, which Python cannot parse or could not parse again when the stored update is
handled), and when the database cannot take the update in time the answer is 503, which
makes Telegram try again later.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Iterable
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from telegram import Bot, Update

from bot.outages import OutageLog
from bot.telegram_io.dispatcher import Receive
from storage.db import wait_uncancelled

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_BODY_BYTES = 1024 * 1024
# Telegram's updates nest about ten levels deep (an update, its message, the message it
# replies to, a keyboard's rows and buttons...). Far deeper JSON is no update, and near
# Python's recursion limit it parses here yet may fail when read back from the inbox, where
# the stack is deeper: a row that could never be handled.
MAX_NESTING = 64
STORE_TIMEOUT_SECONDS = 5.0


class BodyTooLarge(Exception):
    pass


class TelegramWebhook:
    def __init__(self, *, secret: str, bot: Bot, receive: Receive, database: OutageLog) -> None:
        self._secret = secret.encode()
        self._bot = bot
        self._receive = receive
        self._database = database

    async def endpoint(self, request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self._secret):
            log.warning("webhook: request without the right secret refused")
            return PlainTextResponse("forbidden", status_code=403)
        try:
            body = await _read_body(request)
        except BodyTooLarge:
            return PlainTextResponse("update too large", status_code=413)
        parsed = self._parse(body)
        if parsed is None:
            return PlainTextResponse("not a Telegram update", status_code=400)
        payload, update = parsed
        log.debug("webhook: update %s received", update.update_id)
        try:
            await wait_uncancelled(self._receive(payload, update), STORE_TIMEOUT_SECONDS)
        except Exception as exc:
            # Telegram sends it again later: an outage is counted, a bug logged in full.
            self._database.failed(exc, "webhook: storing an update")
            return PlainTextResponse("database unavailable", status_code=503)
        self._database.worked()
        return Response(status_code=200)

    def _parse(self, body: bytes) -> tuple[dict[str, Any], Update] | None:
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):  # RecursionError: nested past Python's limit
            return None
        if not isinstance(payload, dict) or type(payload.get("update_id")) is not int:
            return None
        if _nesting(payload) > MAX_NESTING:
            return None
        try:
            update = Update.de_json(payload, self._bot)
        except Exception:
            return None
        return payload, update


def _nesting(value: object) -> int:
    """How deep a parsed JSON value nests, counted without recursion (stopping once past
    MAX_NESTING)."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack and deepest <= MAX_NESTING:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Iterable[object] = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children)
    return deepest


async def _read_body(request: Request) -> bytes:
    """The body, refused as soon as it is known to be over the limit (never read whole)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BodyTooLarge
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise BodyTooLarge
    return bytes(body)
