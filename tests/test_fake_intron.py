"""The fake Intron server itself, driven with a plain httpx client: what it records, what it
answers, and every injectable fault."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.intron_api import DEFAULT_TRANSCRIPT, FakeIntron, Fault, Upload

FIXTURES = Path(__file__).parent / "fixtures"
VOICE = FIXTURES / "voice_consultation.ogg"
KEY = "test-intron-key"


@pytest.fixture
async def fake() -> AsyncIterator[FakeIntron]:
    server = FakeIntron(KEY, processing_seconds=0.3)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def http(fake: FakeIntron) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=fake.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30.0
    ) as client:
        yield client


async def upload(
    http: httpx.AsyncClient,
    name: str = "voice.ogg",
    data: bytes | None = None,
    **fields: str,
) -> httpx.Response:
    blob = VOICE.read_bytes() if data is None else data
    return await http.post(
        "/file/v1/upload",
        data={"audio_file_name": name, **fields},
        files={"audio_file_blob": ("voice.ogg", blob, "audio/ogg")},
    )


async def upload_id(http: httpx.AsyncClient, name: str = "voice.ogg", **fields: str) -> str:
    response = await upload(http, name, **fields)
    assert response.status_code == 200, response.text
    file_id: str = response.json()["data"]["file_id"]
    return file_id


async def status_data(http: httpx.AsyncClient, file_id: str) -> dict[str, Any]:
    response = await http.get(f"/file/v1/status/{file_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == "Ok"
    assert body["message"] == "file status found"
    data: dict[str, Any] = body["data"]
    return data


async def wait_done(fake: FakeIntron, file_id: str) -> None:
    [job] = [u for u in fake.uploads if u.file_id == file_id]
    await asyncio.sleep(max(0.0, job.done_at - time.monotonic()) + 0.02)


# -- upload -----------------------------------------------------------------------------------


async def test_url_is_loopback_and_required_start() -> None:
    server = FakeIntron()
    with pytest.raises(RuntimeError):
        _ = server.url
    async with server:
        assert server.url.startswith("http://127.0.0.1:")
        assert server.api_key == "test-intron-key"
        assert server.processing_seconds == 0.5
        assert server.transcript == DEFAULT_TRANSCRIPT


async def test_upload_records_exact_bytes_and_fields(
    fake: FakeIntron, http: httpx.AsyncClient
) -> None:
    fields = {
        "audio_file_name": "chat-42-msg-7.ogg",
        "use_category": "file_category_telehealth",
        "get_summary": "TRUE",
        "get_soap_note": "FALSE",
        "use_language_asr_input": "yo",
    }
    before = time.monotonic()
    response = await http.post(
        "/file/v1/upload",
        data=fields,
        files={"audio_file_blob": ("voice.ogg", VOICE.read_bytes(), "audio/ogg")},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "Ok"
    assert body["message"] == "file queued for processing"
    file_id = body["data"]["file_id"]
    assert str(uuid.UUID(file_id, version=4)) == file_id

    [recorded] = fake.uploads
    assert isinstance(recorded, Upload)
    assert recorded.file_id == file_id
    assert recorded.blob == VOICE.read_bytes()
    assert recorded.fields == fields
    assert recorded.blob_filename == "voice.ogg"
    assert recorded.blob_content_type == "audio/ogg"
    assert before <= recorded.received_at <= time.monotonic()
    assert recorded.done_at == pytest.approx(recorded.received_at + 0.3)
    assert [(e, s) for e, _, s in fake.calls] == [("upload", 200)]


async def test_upload_larger_than_aiohttp_default_body_limit_is_streamed(
    fake: FakeIntron, http: httpx.AsyncClient
) -> None:
    blob = os.urandom(3 * 1024 * 1024 + 17)
    response = await upload(http, "big.ogg", blob)
    assert response.status_code == 200, response.text
    assert fake.uploads[0].blob == blob


async def test_non_ascii_field_values_survive(fake: FakeIntron, http: httpx.AsyncClient) -> None:
    await upload_id(http, "Ọmọ ń sunkún — note.ogg")
    assert fake.uploads[0].fields == {"audio_file_name": "Ọmọ ń sunkún — note.ogg"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"data": {}, "files": {"audio_file_blob": ("v.ogg", b"abc", "audio/ogg")}}, "name"),
        ({"data": {"audio_file_name": "v.ogg"}, "files": {"x": ("v.txt", b"abc")}}, "blob"),
        (
            {"data": {"audio_file_name": "v.ogg"}, "files": {"audio_file_blob": ("v.ogg", b"")}},
            "audio file is empty",
        ),
        ({"data": {"audio_file_name": "v.ogg", "audio_file_blob": "abc"}}, "multipart"),
        ({"json": {"audio_file_name": "v.ogg"}}, "multipart"),
    ],
)
async def test_bad_upload_forms_are_400(
    fake: FakeIntron, http: httpx.AsyncClient, kwargs: dict[str, Any], message: str
) -> None:
    response = await http.post("/file/v1/upload", **kwargs)
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == "Error"
    assert message in body["message"]
    assert fake.uploads == []
    assert fake.calls[-1][::2] == ("upload", 400)


async def test_empty_fixture_file_is_rejected(fake: FakeIntron, http: httpx.AsyncClient) -> None:
    response = await upload(http, "empty.ogg", (FIXTURES / "empty.ogg").read_bytes())
    assert response.status_code == 400
    assert response.json() == {"status": "Error", "message": "audio file is empty"}


# -- status -----------------------------------------------------------------------------------


async def test_status_queued_then_processing(fake: FakeIntron, http: httpx.AsyncClient) -> None:
    # Queued for the first tenth of the processing time (2 s: room for a busy machine to
    # ask), processing for the rest (18 s: more than the wait for the change can take).
    fake.processing_seconds = 20.0
    file_id = await upload_id(http, "slow.ogg")
    assert await status_data(http, file_id) == {
        "processing_status": "FILE_QUEUED",
        "audio_file_name": "slow.ogg",
    }
    [job] = fake.uploads
    while (data := await status_data(http, file_id))["processing_status"] == "FILE_QUEUED":
        assert time.monotonic() < job.done_at, "never left the queue"
        await asyncio.sleep(0.05)
    assert time.monotonic() >= job.received_at + 0.1 * 20.0
    assert data == {"processing_status": "FILE_PROCESSING", "audio_file_name": "slow.ogg"}


async def test_status_transcribed_with_requested_flags_only(
    fake: FakeIntron, http: httpx.AsyncClient
) -> None:
    fake.results["soap_note"] = "## SOAP\n- S: headache"
    file_id = await upload_id(
        http,
        "consult.ogg",
        use_category="file_category_telehealth",
        get_summary="TRUE",
        get_soap_note="TRUE",
        get_clerking="FALSE",
        use_diarization="FALSE",
    )
    assert (await status_data(http, file_id))["processing_status"] in {
        "FILE_QUEUED",
        "FILE_PROCESSING",
    }
    await wait_done(fake, file_id)
    assert await status_data(http, file_id) == {
        "processing_status": "FILE_TRANSCRIBED",
        "audio_file_name": "consult.ogg",
        "audio_transcript": DEFAULT_TRANSCRIPT,
        "processed_audio_duration_in_seconds": 7,
        "transcript_summary": "**summary** for consult.ogg",
        "transcript_soap_note": "## SOAP\n- S: headache",
    }
    assert fake.status_calls_for(file_id) == 2


async def test_no_flags_means_no_transcript_fields(
    fake: FakeIntron, http: httpx.AsyncClient
) -> None:
    fake.processing_seconds = 0.0
    fake.transcript = "hello world"
    data = await status_data(http, await upload_id(http, "plain.ogg"))
    assert data == {
        "processing_status": "FILE_TRANSCRIBED",
        "audio_file_name": "plain.ogg",
        "audio_transcript": "hello world",
        "processed_audio_duration_in_seconds": 7,
    }


async def test_get_answer_suppresses_every_other_flag(
    fake: FakeIntron, http: httpx.AsyncClient
) -> None:
    fake.processing_seconds = 0.0
    file_id = await upload_id(http, "q.ogg", get_answer="TRUE", get_summary="TRUE")
    data = await status_data(http, file_id)
    assert [k for k in data if k.startswith("transcript_")] == ["transcript_answer"]
    assert data["transcript_answer"] == "**answer** for q.ogg"


async def test_diarization_splits_transcript_into_speakers(
    fake: FakeIntron, http: httpx.AsyncClient
) -> None:
    fake.processing_seconds = 0.0
    data = await status_data(http, await upload_id(http, "d.ogg", use_diarization="TRUE"))
    assert data["audio_transcript"] == (
        "SPEAKER_01: Patient reports a headache\nSPEAKER_02: for three days."
    )


async def test_transcript_for_overrides_per_upload_and_wins_over_diarization(
    fake: FakeIntron, http: httpx.AsyncClient
) -> None:
    fake.processing_seconds = 0.0
    fake.transcript_for = lambda u: f"said in {u.fields['audio_file_name']}"
    data = await status_data(http, await upload_id(http, "a.ogg", use_diarization="TRUE"))
    assert data["audio_transcript"] == "said in a.ogg"


async def test_finish_ends_held_jobs_now(fake: FakeIntron, http: httpx.AsyncClient) -> None:
    fake.processing_seconds = 3600
    first = await upload_id(http, "first.ogg")
    second = await upload_id(http, "second.ogg")
    fake.finish(first)
    assert (await status_data(http, first))["processing_status"] == "FILE_TRANSCRIBED"
    assert (await status_data(http, second))["processing_status"] == "FILE_QUEUED"
    fake.finish()
    assert (await status_data(http, second))["processing_status"] == "FILE_TRANSCRIBED"
    fake.fail_processing.add("third.ogg")
    third = await upload_id(http, "third.ogg")
    fake.finish(third)
    assert (await status_data(http, third))["processing_status"] == "FILE_PROCESSING_FAILED"


async def test_fail_processing(fake: FakeIntron, http: httpx.AsyncClient) -> None:
    fake.fail_processing.add("bad.ogg")
    bad = await upload_id(http, "bad.ogg", get_summary="TRUE")
    good = await upload_id(http, "good.ogg")
    assert (await status_data(http, bad))["processing_status"] != "FILE_PROCESSING_FAILED"
    await wait_done(fake, good)
    assert await status_data(http, bad) == {
        "processing_status": "FILE_PROCESSING_FAILED",
        "audio_file_name": "bad.ogg",
    }
    assert (await status_data(http, good))["processing_status"] == "FILE_TRANSCRIBED"


async def test_processing_time_for_overrides_per_upload(
    fake: FakeIntron, http: httpx.AsyncClient
) -> None:
    fake.processing_time_for = lambda u: 30.0 if u.fields["audio_file_name"] == "slow" else 0.0
    slow = await upload_id(http, "slow")
    quick = await upload_id(http, "quick")
    assert (await status_data(http, quick))["processing_status"] == "FILE_TRANSCRIBED"
    assert (await status_data(http, slow))["processing_status"] == "FILE_QUEUED"
    assert fake.uploads[0].done_at - fake.uploads[0].received_at == pytest.approx(30.0)


async def test_unknown_file_id_is_404(fake: FakeIntron, http: httpx.AsyncClient) -> None:
    response = await http.get(f"/file/v1/status/{uuid.uuid4()}")
    assert response.status_code == 404
    assert response.json() == {"status": "Error", "message": "file not found"}
    assert fake.calls[-1][::2] == ("status", 404)


# -- auth -------------------------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "Bearer wrong-key", KEY, f"bearer {KEY}"])
async def test_bad_or_missing_key_is_401_and_recorded(fake: FakeIntron, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    async with httpx.AsyncClient(base_url=fake.url, headers=headers) as client:
        up = await upload(client, "v.ogg")
        st = await client.get("/file/v1/status/whatever")
    for response in (up, st):
        assert response.status_code == 401
        assert response.json() == {"status": "Error", "message": "invalid api key"}
    assert fake.uploads == []
    assert [(e, s) for e, _, s in fake.calls] == [("upload", 401), ("status", 401)]
    assert fake.status_calls_for("whatever") == 1


# -- faults -----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_error_fault_then_normal(
    fake: FakeIntron, http: httpx.AsyncClient, status: int
) -> None:
    fake.inject("upload", Fault.server_error(status))
    response = await upload(http)
    assert response.status_code == status
    assert response.json()["status"] == "Error"
    assert fake.uploads == []
    assert (await upload(http)).status_code == 200
    assert len(fake.uploads) == 1
    assert [s for _, _, s in fake.calls] == [status, 200]


async def test_faults_are_consumed_in_order_one_per_call(
    fake: FakeIntron, http: httpx.AsyncClient
) -> None:
    file_id = await upload_id(http)
    fake.inject("status", Fault.server_error(502), Fault.rate_limited(2))
    fake.inject("status", Fault.rejected(404, "gone"))
    assert fake.pending_faults("status") == 3
    assert fake.pending_faults("upload") == 0
    codes = [(await http.get(f"/file/v1/status/{file_id}")).status_code for _ in range(4)]
    assert codes == [502, 429, 404, 200]
    assert fake.status_calls_for(file_id) == 4
    assert [s for e, _, s in fake.calls if e == "status"] == codes


async def test_fault_applies_before_auth(fake: FakeIntron) -> None:
    fake.inject("upload", Fault.server_error(503))
    async with httpx.AsyncClient(base_url=fake.url) as client:
        assert (await upload(client)).status_code == 503
        assert (await upload(client)).status_code == 401


@pytest.mark.parametrize(("seconds", "header"), [(7, "7"), (2.0, "2"), (1.5, "1.5")])
async def test_rate_limited_has_retry_after(
    fake: FakeIntron, http: httpx.AsyncClient, seconds: float, header: str
) -> None:
    fake.inject("upload", Fault.rate_limited(seconds))
    response = await upload(http)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == header
    assert response.json()["status"] == "Error"
    assert fake.uploads == []


async def test_garbage_is_200_and_not_json(fake: FakeIntron, http: httpx.AsyncClient) -> None:
    fake.inject("upload", Fault.garbage())
    response = await upload(http)
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()
    assert fake.uploads == []
    assert fake.calls[-1][::2] == ("upload", 200)


async def test_undecodable_body_cannot_be_read(fake: FakeIntron, http: httpx.AsyncClient) -> None:
    fake.inject("status", Fault.undecodable())
    with pytest.raises(httpx.DecodingError):
        await http.get("/file/v1/status/x")
    assert fake.calls[-1][::2] == ("status", 200)


async def test_custom_body_fault(fake: FakeIntron, http: httpx.AsyncClient) -> None:
    fake.inject("status", Fault(status=200, body='{"status": "Ok"}'))
    fake.inject("status", Fault(status=502, body=b"<html>gateway</html>", retry_after=3))
    first = await http.get("/file/v1/status/x")
    assert first.json() == {"status": "Ok"}
    assert first.headers["content-type"].startswith("application/json")
    second = await http.get("/file/v1/status/x")
    assert second.status_code == 502
    assert second.content == b"<html>gateway</html>"
    assert second.headers["Retry-After"] == "3"


async def test_rejected_fault(fake: FakeIntron, http: httpx.AsyncClient) -> None:
    fake.inject("upload", Fault.rejected(), Fault.rejected(415, "unsupported audio format"))
    first = await upload(http)
    assert first.status_code == 400
    assert first.json() == {"status": "Error", "message": "invalid audio file"}
    second = await upload(http)
    assert second.status_code == 415
    assert second.json() == {"status": "Error", "message": "unsupported audio format"}
    assert fake.uploads == []


async def test_slow_answers_normally_after_the_delay(
    fake: FakeIntron, http: httpx.AsyncClient
) -> None:
    file_id = await upload_id(http, "s.ogg")
    fake.inject("status", Fault.slow(0.4))
    started = time.monotonic()
    data = await status_data(http, file_id)
    assert time.monotonic() - started >= 0.4
    assert data["audio_file_name"] == "s.ogg"


async def test_error_fault_with_delay(fake: FakeIntron, http: httpx.AsyncClient) -> None:
    fake.inject("upload", Fault(status=504, delay=0.3))
    started = time.monotonic()
    response = await upload(http)
    assert time.monotonic() - started >= 0.3
    assert response.status_code == 504


async def test_slow_upload_times_out_client_but_job_is_created(
    fake: FakeIntron, http: httpx.AsyncClient
) -> None:
    """Like the real service: a timed-out upload may still have created a job."""
    fake.inject("upload", Fault.slow(30.0))
    async with httpx.AsyncClient(
        base_url=fake.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=0.3
    ) as impatient:
        with pytest.raises(httpx.ReadTimeout):
            await upload(impatient, "dup.ogg")
    assert (await upload(http, "dup.ogg")).status_code == 200  # the retry, no fault left
    assert [u.fields["audio_file_name"] for u in fake.uploads] == ["dup.ogg", "dup.ogg"]
    assert fake.uploads[0].blob == VOICE.read_bytes()


async def test_stop_does_not_wait_for_pending_slow_faults() -> None:
    server = FakeIntron()
    await server.start()
    server.inject("status", Fault.slow(30.0))
    async with httpx.AsyncClient(base_url=server.url, timeout=0.2) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get("/file/v1/status/x")
    started = time.monotonic()
    await server.stop()
    assert time.monotonic() - started < 10.0  # far below the 30 s the fault would wait
    await server.stop()  # idempotent


def test_fault_helpers() -> None:
    assert Fault() == Fault(status=500, body=None, retry_after=None, delay=0.0)
    assert Fault.server_error(503) == Fault(status=503)
    assert Fault.rate_limited(5) == Fault(status=429, retry_after=5)
    assert Fault.slow(1.5) == Fault(status=200, body=None, delay=1.5)
    garbage = Fault.garbage()
    assert garbage.status == 200
    assert garbage.body
    with pytest.raises(ValueError):
        Fault(status=1000)
    with pytest.raises(ValueError):
        FakeIntron().inject("uplaod", Fault())


# -- call accounting --------------------------------------------------------------------------


def test_max_calls_in_window_on_known_times() -> None:
    fake = FakeIntron()
    times = [0.0, 10.0, 59.9, 60.0, 61.0, 130.0, 130.5, 200.0]
    fake.calls = [("upload", t, 200) for t in times] + [("status", 1.0, 429)] * 5
    assert fake.calls_to("upload") == times
    # Best window: [10, 70) holds 10, 59.9, 60, 61.
    assert fake.max_calls_in_window("upload") == 4
    assert fake.max_calls_in_window("upload", window=71.0) == 5  # [59.9, 130.9)
    assert fake.max_calls_in_window("upload", window=1.0) == 2
    assert fake.max_calls_in_window("upload", window=1000.0) == len(times)
    assert fake.max_calls_in_window("status") == 5
    assert FakeIntron().max_calls_in_window("upload") == 0
    # Windows are half-open: calls exactly `window` apart never share one.
    fake.calls = [("upload", 0.0, 200), ("upload", 60.0, 200)]
    assert fake.max_calls_in_window("upload") == 1
    fake.calls = [("upload", 60.0, 200), ("upload", 0.5, 200)]  # order of recording is irrelevant
    assert fake.max_calls_in_window("upload") == 2


async def test_calls_record_every_status_and_time(
    fake: FakeIntron, http: httpx.AsyncClient
) -> None:
    fake.inject("upload", Fault.rate_limited(1))
    before = time.monotonic()
    await upload(http)
    await upload(http)
    await http.get("/file/v1/status/nope")
    assert [(e, s) for e, _, s in fake.calls] == [("upload", 429), ("upload", 200), ("status", 404)]
    times = fake.calls_to("upload")
    assert before <= times[0] <= times[1] <= time.monotonic()
    assert fake.max_calls_in_window("upload") == 2
    assert fake.max_calls_in_window("status") == 1
    assert fake.status_calls_for("nope") == 1
    assert fake.status_calls_for("never-asked") == 0


async def test_wait_for(fake: FakeIntron, http: httpx.AsyncClient) -> None:
    task = asyncio.create_task(upload(http))
    await fake.wait_for(lambda: len(fake.uploads) == 1, timeout=5.0)
    await task
    with pytest.raises(AssertionError, match=r"len\(fake\.uploads\) == 2"):
        await fake.wait_for(lambda: len(fake.uploads) == 2, timeout=0.1)


# -- Intron's rate limits ---------------------------------------------------------------------


async def test_calls_over_the_rate_limit_get_429_and_are_recorded(
    fake: FakeIntron, http: httpx.AsyncClient
) -> None:
    fake.rate_limits = {"status": 2}
    fake.rate_window = 60.0
    file_id = await upload_id(http)  # uploads have no limit here
    first, second, third = [await http.get(f"/file/v1/status/{file_id}") for _ in range(3)]
    assert (first.status_code, second.status_code, third.status_code) == (200, 200, 429)
    assert 0 < float(third.headers["Retry-After"]) <= 60
    assert [endpoint for endpoint, _ in fake.violations] == ["status"]
    assert fake.violations[0][1] == fake.calls_to("status")[2]


async def test_the_rate_window_slides(fake: FakeIntron, http: httpx.AsyncClient) -> None:
    fake.rate_limits = {"upload": 1}
    fake.rate_window = 0.3
    assert (await upload(http)).status_code == 200
    refused = await upload(http)
    assert refused.status_code == 429
    # The window's only call leaves it after the Retry-After: a call is accepted again.
    await asyncio.sleep(float(refused.headers["Retry-After"]) + 0.01)
    assert (await upload(http)).status_code == 200
    assert len(fake.violations) == 1
    assert len(fake.uploads) == 2


async def test_two_polls_of_one_job_at_once_are_seen(
    fake: FakeIntron, http: httpx.AsyncClient
) -> None:
    one, other = await upload_id(http), await upload_id(http)
    await status_data(http, one)
    await status_data(http, one)  # one after the other: not at once
    fake.inject("status", Fault.slow(0.3))
    await asyncio.gather(status_data(http, other), status_data(http, other))
    assert fake.concurrent_polls() == [other]
