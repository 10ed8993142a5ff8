"""The Intron client against the fake Intron server: requests as Intron expects them, and every
kind of failure sorted into what the caller must do."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator

import httpx
import pytest

from bot.intron import (
    IntronAuthError,
    IntronClient,
    IntronError,
    IntronMalformedResponse,
    IntronRateLimited,
    IntronRejected,
    IntronTransientError,
    parse_retry_after,
)
from bot.intron.client import MAX_RETRY_AFTER
from bot.metrics import BotMetrics
from tests.conftest import FIXTURES
from tests.fakes.intron_api import FakeIntron, Fault

VOICE = FIXTURES / "voice_consultation.ogg"


# Hang protection only: a loopback answer that takes this long means a broken fake.
CLIENT_TIMEOUT = httpx.Timeout(10.0)


@pytest.fixture
async def client(intron: FakeIntron) -> AsyncIterator[IntronClient]:
    c = IntronClient(intron.url, intron.api_key, timeout=CLIENT_TIMEOUT)
    yield c
    await c.aclose()


async def test_upload_sends_blob_name_and_options(client: IntronClient, intron: FakeIntron) -> None:
    file_id = await client.upload(
        VOICE,
        file_name="voice.ogg",
        fields={"use_category": "file_category_telehealth", "get_soap_note": "TRUE"},
        content_type="audio/ogg",
    )
    [upload] = intron.uploads
    assert upload.file_id == file_id
    assert upload.blob == VOICE.read_bytes()
    assert upload.blob_filename == "voice.ogg"
    assert upload.fields == {
        "audio_file_name": "voice.ogg",
        "use_category": "file_category_telehealth",
        "get_soap_note": "TRUE",
    }


async def test_status_keeps_every_transcript_field_known_or_not(
    client: IntronClient, intron: FakeIntron
) -> None:
    intron.processing_seconds = 0.0
    file_id = await client.upload(
        VOICE, file_name="v.ogg", fields={"get_summary": "TRUE", "get_brand_new_thing": "TRUE"}
    )
    status = await client.status(file_id)
    assert status.is_transcribed
    assert status.audio_transcript == intron.transcript
    assert set(status.results) == {"transcript_summary", "transcript_brand_new_thing"}
    assert status.stored_data()["transcript_brand_new_thing"].startswith("**brand_new_thing**")


async def test_processing_then_failed_statuses(client: IntronClient, intron: FakeIntron) -> None:
    intron.processing_seconds = 5.0
    file_id = await client.upload(VOICE, file_name="bad.ogg", fields={})
    status = await client.status(file_id)
    assert not status.is_transcribed and not status.is_failed and status.is_known

    intron.processing_seconds = 0.0
    intron.fail_processing.add("bad2.ogg")
    failed_id = await client.upload(VOICE, file_name="bad2.ogg", fields={})
    assert (await client.status(failed_id)).is_failed


async def test_bad_key_is_an_auth_error(intron: FakeIntron) -> None:
    async with _client(intron, key="wrong") as c:
        with pytest.raises(IntronAuthError):
            await c.upload(VOICE, file_name="v.ogg", fields={})
        with pytest.raises(IntronAuthError):
            await c.status("whatever")


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_are_transient(
    client: IntronClient, intron: FakeIntron, status: int
) -> None:
    intron.inject("upload", Fault.server_error(status))
    with pytest.raises(IntronTransientError) as info:
        await client.upload(VOICE, file_name="v.ogg", fields={})
    assert not isinstance(info.value, IntronMalformedResponse)
    assert intron.uploads == []


async def test_rate_limit_carries_retry_after(client: IntronClient, intron: FakeIntron) -> None:
    intron.inject("status", Fault.rate_limited(7))
    with pytest.raises(IntronRateLimited) as info:
        await client.status("any")
    assert info.value.retry_after == 7


async def test_garbage_body_is_malformed_and_retryable(
    client: IntronClient, intron: FakeIntron
) -> None:
    intron.inject("upload", Fault.garbage())
    with pytest.raises(IntronMalformedResponse) as info:
        await client.upload(VOICE, file_name="v.ogg", fields={})
    assert isinstance(info.value, IntronTransientError)


async def test_unreadable_answer_is_transient(client: IntronClient, intron: FakeIntron) -> None:
    """httpx errors outside TransportError (here a body that does not decode) are sorted too."""
    intron.inject("status", Fault.undecodable())
    with pytest.raises(IntronTransientError, match="DecodingError"):
        await client.status("any")


async def test_timeout_is_transient(intron: FakeIntron) -> None:
    intron.inject("status", Fault.slow(30.0))
    async with _client_url(intron.url, intron.api_key, client_timeout=httpx.Timeout(0.5)) as c:
        with pytest.raises(IntronTransientError, match="timed out"):
            await c.status("any")


async def test_connection_refused_is_transient() -> None:
    async with _client_url("http://127.0.0.1:9", "k") as c:
        with pytest.raises(IntronTransientError):
            await c.status("any")


async def test_rejected_audio_is_permanent_with_introns_message(
    client: IntronClient, intron: FakeIntron
) -> None:
    intron.inject("upload", Fault.rejected(400, "unsupported audio format"))
    with pytest.raises(IntronRejected) as info:
        await client.upload(VOICE, file_name="v.ogg", fields={})
    assert info.value.status_code == 400
    assert info.value.message == "unsupported audio format"


async def test_unknown_file_id_is_rejected(client: IntronClient) -> None:
    with pytest.raises(IntronRejected) as info:
        await client.status("no-such-file")
    assert info.value.status_code == 404


def test_retry_after_forms() -> None:
    assert parse_retry_after("12") == 12
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after(None) == 60
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10
    assert parse_retry_after("soon") == 60


def test_retry_after_that_would_pause_for_ever_is_bounded() -> None:
    for endless in ("inf", "1e12", "Infinity", "Fri, 01 Jan 2100 00:00:00 GMT"):
        assert parse_retry_after(endless, now=1445412480.0) == MAX_RETRY_AFTER
    assert parse_retry_after("nan") == 60
    assert parse_retry_after("-inf") == 0


@contextlib.asynccontextmanager
async def _client_url(
    url: str, key: str, *, client_timeout: httpx.Timeout = CLIENT_TIMEOUT
) -> AsyncIterator[IntronClient]:
    client = IntronClient(url, key, timeout=client_timeout)
    try:
        yield client
    finally:
        await client.aclose()


def _client(
    intron: FakeIntron, *, key: str
) -> contextlib.AbstractAsyncContextManager[IntronClient]:
    return _client_url(intron.url, key)


async def test_every_call_is_counted_by_endpoint_and_outcome(
    intron: FakeIntron, refusing_socket: socket.socket
) -> None:
    metrics = BotMetrics.unregistered()
    client = IntronClient(intron.url, intron.api_key, timeout=httpx.Timeout(0.5), metrics=metrics)
    intron.inject(
        "status",
        Fault.server_error(503),
        Fault.rate_limited(1),
        Fault.rejected(400),
        Fault.garbage(),
        Fault.slow(3),
    )
    try:
        file_id = await client.upload(VOICE, file_name="v.ogg", fields={})
        for _ in range(6):
            with contextlib.suppress(IntronError):
                await client.status(file_id)
    finally:
        await client.aclose()
    port = refusing_socket.getsockname()[1]
    unreachable = IntronClient(f"http://127.0.0.1:{port}", intron.api_key, metrics=metrics)
    try:
        with contextlib.suppress(IntronError):
            await unreachable.upload(VOICE, file_name="v.ogg", fields={})
    finally:
        await unreachable.aclose()

    def counted(endpoint: str, outcome: str) -> float | None:
        labels = {"endpoint": endpoint, "outcome": outcome}
        return metrics.registry.get_sample_value("bot_intron_calls_total", labels)

    assert counted("upload", "ok") == 1
    assert counted("upload", "network") == 1
    for outcome in ("5xx", "429", "4xx", "malformed", "timeout", "ok"):
        assert counted("status", outcome) == 1, outcome
    assert [code for name, _, code in intron.calls if name == "status"][:4] == [503, 429, 400, 200]
