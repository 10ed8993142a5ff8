"""`/metrics`, scraped over HTTP from the running bot as Prometheus would."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import (
    RunningBot,
    free_port,
    send_voice,
    transcript_replies,
    webhook_config,
)
from tests.fakes.intron_api import FakeIntron, Fault
from tests.fakes.telegram import FakeTelegram

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def metrics_url(caplog: pytest.LogCaptureFixture, within: float = 30) -> str:
    """The bot logs where it serves metrics (METRICS_PORT=0 picks a free port)."""
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        for record in caplog.records:
            found = re.search(r"metrics on (http://\S+/metrics)", record.getMessage())
            if found:
                return found.group(1)
        await asyncio.sleep(0.02)
    raise AssertionError("the bot did not say where it serves metrics")


async def scrape(url: str) -> tuple[str, Samples]:
    async with httpx.AsyncClient() as client:
        response = await client.get(url, timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return response.text, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def scrape_until(url: str, holds: Callable[[Samples], bool], within: float = 30) -> Samples:
    """Scrape until `holds`: a job's last counters move just after its reply is sent."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        _, samples = await scrape(url)
        if holds(samples):
            return samples
        assert asyncio.get_running_loop().time() < deadline, f"metrics never got there: {samples}"
        await asyncio.sleep(0.1)


@pytest.fixture
async def metered_bot(
    bot_factory: Callable[..., RunningBot], caplog: pytest.LogCaptureFixture
) -> Any:
    caplog.set_level(logging.INFO, logger="bot.app")
    running = bot_factory(metrics_port=0, metrics_host="127.0.0.1")
    await running.start()
    yield running, await metrics_url(caplog)
    await running.stop()


async def test_metrics_after_a_few_jobs(
    telegram: FakeTelegram, intron: FakeIntron, metered_bot: tuple[RunningBot, str]
) -> None:
    _, url = metered_bot
    chats = [8101, 8102, 8103]
    intron.inject("upload", Fault.server_error(503))
    telegram.fail_next("sendMessage", retry_after=1)  # the rate limiter waits, then retries
    telegram.fail_next("getUpdates", status=502, description="Bad Gateway")  # polled again
    for chat in chats:
        send_voice(telegram, chat)
    await telegram.wait_for(lambda: all(transcript_replies(telegram, c) for c in chats), 30)
    await scrape_until(url, lambda s: value(s, "bot_recordings_delivered_total") == len(chats))
    # A job is counted delivered just after its final state is saved, and a scrape reads the
    # job gauges from the database before it writes the counters: the scrape after the one
    # that saw every delivery reads every job final.
    _, samples = await scrape(url)

    assert value(samples, "bot_recordings_received_total", media="voice") == 3
    assert value(samples, "bot_recordings_failed_total") == 0
    # One sample per job in every histogram a delivered job passes through.
    assert value(samples, "bot_added_latency_seconds_count") == 3
    assert value(samples, "bot_turnaround_seconds_count") == 3
    for stage in ("upload", "intron"):
        assert value(samples, "bot_stage_duration_seconds_count", stage=stage) == 3
    # The job whose upload got a 503 fetched its audio again for the retry.
    assert value(samples, "bot_stage_duration_seconds_count", stage="download") == 4
    assert value(samples, "bot_added_latency_seconds_sum") < value(
        samples, "bot_turnaround_seconds_sum"
    )
    # Intron's calls, as the fake answered them.
    assert value(samples, "bot_intron_calls_total", endpoint="upload", outcome="5xx") == 1
    assert value(samples, "bot_intron_calls_total", endpoint="upload", outcome="ok") == 3
    status_ok = value(samples, "bot_intron_calls_total", endpoint="status", outcome="ok")
    assert status_ok == len([c for c in intron.calls if c[0] == "status" and c[2] == 200])
    assert value(samples, "bot_intron_budget_used", endpoint="upload") == 4
    assert value(samples, "bot_intron_budget_limit", endpoint="upload") == 60
    assert value(samples, "bot_intron_budget_limit", endpoint="status") == 100
    # Telegram's flood answer was counted, though the retry then went through.
    assert (
        value(samples, "bot_telegram_errors_total", method="sendMessage", kind="flood_limit") == 1
    )
    # getUpdates bypasses the rate limiter; its errors are counted where polling handles them.
    assert value(samples, "bot_telegram_errors_total", method="getUpdates", kind="network") == 1
    # Read from the database at scrape time: nothing is left unfinished.
    for state in ("received", "downloading", "uploading", "at_intron", "replying"):
        assert value(samples, "bot_jobs", state=state) == 0
    assert value(samples, "bot_database_up") == 1
    assert ("bot_inbox_backlog", frozenset()) in samples and value(
        samples, "bot_inbox_backlog"
    ) == 0

    # No chat id and no text in any label.
    for _, labels in samples:
        for _, label_value in labels:
            assert not any(str(chat) in label_value for chat in chats)
            assert intron.transcript not in label_value


async def test_jobs_by_state_are_read_from_the_database(
    telegram: FakeTelegram, intron: FakeIntron, metered_bot: tuple[RunningBot, str]
) -> None:
    _, url = metered_bot
    intron.processing_seconds = 60
    for chat in (8201, 8202):
        send_voice(telegram, chat)
    await intron.wait_for(lambda: len(intron.uploads) == 2)
    samples = await scrape_until(url, lambda s: value(s, "bot_jobs", state="at_intron") == 2)
    assert value(samples, "bot_jobs", state="received") == 0
    assert value(samples, "bot_recordings_delivered_total") == 0


async def test_inbox_backlog_counts_the_updates_not_yet_handled(
    telegram: FakeTelegram, metered_bot: tuple[RunningBot, str]
) -> None:
    _, url = metered_bot
    chat = 8301
    replies = telegram.hold("sendMessage")
    for _ in range(3):
        telegram.user_message(chat, text="/help")
    # The first /help waits for its answer; the two behind it wait their turn in the inbox.
    await telegram.wait_for(lambda: len(telegram.calls("sendMessage")) == 1)
    await scrape_until(url, lambda s: value(s, "bot_inbox_backlog") == 3)
    replies.release()
    await telegram.wait_for(lambda: len(telegram.bot_messages(chat)) == 3)
    await scrape_until(url, lambda s: value(s, "bot_inbox_backlog") == 0)


async def test_webhook_mode_serves_metrics_on_its_port(
    telegram: FakeTelegram,
    intron: FakeIntron,
    bot_factory: Callable[..., RunningBot],
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = free_port()
    # Telegram in trouble at start-up: setWebhook is retried with backoff, as getMe is.
    telegram.fail_next("setWebhook", status=502, description="Bad Gateway", times=2)
    running = bot_factory(**webhook_config(port))
    await running.start()
    try:
        send_voice(telegram, 8401)
        await telegram.wait_for(lambda: bool(transcript_replies(telegram, 8401)), 30)
        url = f"http://127.0.0.1:{port}/metrics"
        samples = await scrape_until(url, lambda s: value(s, "bot_recordings_delivered_total") == 1)
    finally:
        await running.stop()
    assert value(samples, "bot_recordings_received_total", media="voice") == 1
    assert value(samples, "bot_telegram_errors_total", method="setWebhook", kind="network") == 2
    assert len(telegram.calls("setWebhook")) == 3
    retries = [r.getMessage() for r in caplog.records if "trying again" in r.getMessage()]
    assert len(retries) == 2
    assert all("Telegram unreachable at 127.0.0.1" in line for line in retries), retries
