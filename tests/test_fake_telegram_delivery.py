"""The Telegram fake's webhook delivery, confirmation hook, held calls and group flood limit,
exercised with the real python-telegram-bot and a small receiver of our own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from telegram import Bot
from telegram.error import BadRequest, Conflict, RetryAfter

from tests.fakes.telegram import WEBHOOK_ACTIVE, FakeTelegram

CHAT = 4343
GROUP = -1004343


class Receiver:
    """An HTTP endpoint that answers with the statuses it is given, recording what came."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.received: list[tuple[dict[str, Any], str | None]] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/hook"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        self.received.append(
            (await request.json(), request.headers.get("X-Telegram-Bot-Api-Secret-Token"))
        )
        status = self.statuses.pop(0) if self.statuses else 200
        return web.Response(status=status)


@pytest.fixture
def fake(telegram: FakeTelegram) -> FakeTelegram:
    return telegram


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    async with Bot(fake.token, base_url=fake.base_url) as b:
        yield b


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    yield r
    await r.stop()


async def test_webhook_gets_updates_with_the_secret_and_a_failure_is_sent_again(
    fake: FakeTelegram, bot: Bot, receiver: Receiver
) -> None:
    fake.webhook_retry_seconds = 0.1
    confirmed: list[int] = []
    fake.on_confirmed(confirmed.extend)
    receiver.statuses = [500]
    assert await bot.set_webhook(receiver.url, secret_token="s3cret", allowed_updates=["message"])
    sent = fake.user_message(CHAT, text="hello")
    update_id = (fake.last_update or {})["update_id"]

    await fake.wait_for(lambda: confirmed == [update_id])
    assert [status for _, status in fake.webhook_deliveries] == [500, 200]
    assert [secret for _, secret in receiver.received] == ["s3cret", "s3cret"]
    assert receiver.received[1][0]["message"]["message_id"] == sent["message_id"]
    info = await bot.get_webhook_info()
    assert info.url == receiver.url and info.pending_update_count == 0
    assert info.last_error_message is not None and "500" in info.last_error_message
    with pytest.raises(Conflict, match="webhook is active"):
        await bot.get_updates(timeout=0)
    assert fake.rejections[-1][2] == WEBHOOK_ACTIVE


async def test_unreachable_webhook_keeps_updates_until_delete_webhook(
    fake: FakeTelegram, bot: Bot, receiver: Receiver
) -> None:
    url = receiver.url
    await receiver.stop()  # nobody listens any more
    await bot.set_webhook(url)
    fake.user_message(CHAT, text="kept")
    await fake.wait_for(lambda: bool(fake.webhook_deliveries))
    info = await bot.get_webhook_info()
    assert info.pending_update_count == 1 and info.last_error_message == "Connection refused"
    assert await bot.delete_webhook(drop_pending_updates=False)
    assert (await bot.get_webhook_info()).url == ""
    [update] = await bot.get_updates(timeout=0)
    assert update.message is not None and update.message.text == "kept"


async def test_bad_webhook_urls_and_secrets_are_refused(fake: FakeTelegram, bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)https url must be provided"):
        await bot.set_webhook("http://bot.example.org/hook")
    with pytest.raises(BadRequest, match=r"(?i)unallowed characters"):
        await bot.set_webhook("https://bot.example.org/hook", secret_token="no spaces")
    assert fake.webhook is None


async def test_getupdates_offset_confirms_and_tells_the_listener(
    fake: FakeTelegram, bot: Bot
) -> None:
    confirmed: list[int] = []
    fake.on_confirmed(confirmed.extend)
    fake.user_message(CHAT, text="one")
    fake.user_message(CHAT, text="two")
    updates = await bot.get_updates(timeout=0)
    assert confirmed == []
    await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0)
    assert confirmed == [u.update_id for u in updates]


async def test_held_calls_wait_then_are_answered_or_dropped(fake: FakeTelegram, bot: Bot) -> None:
    fake.user_message(CHAT, text="hi")
    hold = fake.hold("sendMessage")
    waiting = asyncio.create_task(bot.send_message(CHAT, "held"))
    await fake.wait_for(lambda: bool(fake.calls("sendMessage")))
    await asyncio.sleep(0.1)
    assert not waiting.done() and fake.bot_messages(CHAT) == []
    hold.release()
    assert (await waiting).text == "held"

    hold = fake.hold("sendMessage")
    dropped = asyncio.create_task(bot.send_message(CHAT, "never"))
    await fake.wait_for(lambda: len(fake.calls("sendMessage")) == 2)
    hold.drop()
    with pytest.raises(Exception, match="Bad Gateway"):
        await dropped
    assert [m["text"] for m in fake.bot_messages(CHAT)] == ["held"]
    assert (await bot.send_message(CHAT, "after")).text == "after"


async def test_group_flood_limit_answers_429_with_retry_after(fake: FakeTelegram, bot: Bot) -> None:
    fake.user_message(GROUP, chat_type="group", text="hi")
    fake.user_message(CHAT, text="hi")
    fake.limit_group_messages(per_minute=3)
    for n in range(3):
        await bot.send_message(GROUP, f"message {n}")
    with pytest.raises(RetryAfter) as refused:
        await bot.edit_message_text("edited", chat_id=GROUP, message_id=2)
    assert 55 <= refused.value.retry_after.total_seconds() <= 60  # type: ignore[union-attr]
    await bot.get_chat_member(GROUP, 1)  # reading is not sending: not counted
    for n in range(5):
        await bot.send_message(CHAT, f"private {n}")  # private chats are not held to it
