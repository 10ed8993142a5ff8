"""Webhook mode: Telegram POSTs each update; it gets its 200 only once the update is stored.

Telegram forgets an update it got a 2xx for, and delivers it again later after any other
answer. So: a wrong secret is refused (403) before anything is read, a body that is not an
update is refused (400, no point in sending it again), and when the database cannot take the
update in time the answer is 503, which makes Telegram try again later.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from telegram import Bot, Update

from bot.telegram_io.dispatcher import Receive
from storage.db import wait_uncancelled

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_BODY_BYTES = 1024 * 1024
STORE_TIMEOUT_SECONDS = 5.0


class BodyTooLarge(Exception):
    pass


class TelegramWebhook:
    def __init__(self, *, secret: str, bot: Bot, receive: Receive) -> None:
        self._secret = secret.encode()
        self._bot = bot
        self._receive = receive

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
            log.error(
                "webhook: update %s not stored (%s); Telegram will send it again",
                update.update_id,
                type(exc).__name__,
            )
            return PlainTextResponse("database unavailable", status_code=503)
        return Response(status_code=200)

    def _parse(self, body: bytes) -> tuple[dict[str, Any], Update] | None:
        try:
            payload = json.loads(body)
        except ValueError:
            return None
        if not isinstance(payload, dict) or type(payload.get("update_id")) is not int:
            return None
        try:
            update = Update.de_json(payload, self._bot)
        except Exception:
            return None
        return payload, update


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
