"""A loopback fake of Intron Health's asynchronous speech-to-text API.

Serves the endpoints the bot uses, on 127.0.0.1 and a random port:

- ``POST /file/v1/upload``: multipart/form-data with ``audio_file_name`` and either the
  ``audio_file_blob`` file part or an ``audio_file_url`` field (never fetched: the URL is
  recorded, and ``unreadable_urls`` end in ``FILE_PROCESSING_FAILED`` as an unreadable link
  does); answers with a fresh ``file_id``.
- ``GET /file/v1/status/{file_id}``: ``FILE_QUEUED`` / ``FILE_PROCESSING`` until the job's
  processing time has passed, then ``FILE_TRANSCRIBED`` (or ``FILE_PROCESSING_FAILED``).
- ``POST /file/v1/upload/sync`` (the newer host's synchronous upload): with ``sync_mode =
  "offered"`` it answers 200 with the transcript once the job is done, 408 with the
  ``file_id`` when that takes longer than ``sync_wait_seconds``, 400 for audio longer than
  ``sync_max_audio_seconds``; by default it is missing (404), as on the seed's host, or
  ``"not_allowed"`` (405).

A job's processing time is ``processing_seconds``, or ``processing_time_for(upload)``, or
``processing_for_audio(seconds)`` of the audio's length as ``audio_seconds_for(upload)`` tells
it (that length is also the transcript's ``processed_audio_duration_in_seconds``; 7 s without
it). ``calls_over_limit(endpoint)`` counts the calls made beyond Intron's per-minute limits.

It records exactly what it received (form fields, the uploaded bytes, every call with the
status it answered, when each status call came and went) and can inject faults (5xx, 429
with ``Retry-After``, non-JSON bodies, slow answers, rejections) for the next calls of either
endpoint. A test that must act while a job is at Intron holds it there with a long
``processing_seconds`` and ends it with ``finish()``, instead of racing a short processing time.

With ``rate_limits`` set it keeps Intron's per-key limits as Intron does, in a sliding window
of ``rate_window`` seconds: a call that finds ``limit`` calls of its endpoint already taken in
the window before it is answered 429 with a ``Retry-After`` and recorded in ``violations``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import json
import logging
import time
import uuid
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from aiohttp import BodyPartReader, hdrs, web

__all__ = ["DEFAULT_TRANSCRIPT", "ENDPOINTS", "FakeIntron", "Fault", "Upload"]

log = logging.getLogger(__name__)

ENDPOINTS = ("upload", "status", "sync")
RATE_LIMITS = {"upload": 60, "status": 100, "sync": 30}  # calls per 60 s, per key
DEFAULT_TRANSCRIPT = "Patient reports a headache for three days."
UPLOAD_PATH = "/file/v1/upload"
STATUS_PATH = "/file/v1/status/{file_id}"
SYNC_PATH = "/file/v1/upload/sync"

# Status code recorded for a call whose client went away before it was answered.
CLIENT_GONE = 499


@dataclass
class Upload:
    """One accepted upload, exactly as it arrived."""

    file_id: str
    fields: dict[str, str]
    blob: bytes  # empty for an upload by URL
    blob_filename: str | None
    blob_content_type: str | None
    received_at: float
    done_at: float


@dataclass(frozen=True)
class Fault:
    """An answer to give instead of the normal one (or a delay before the normal one).

    ``status == 200`` with ``body is None`` means "behave normally, but answer after
    ``delay`` seconds".
    """

    status: int = 500
    body: str | bytes | None = None
    retry_after: float | None = None
    delay: float = 0.0
    content_encoding: str | None = None  # claimed in the answer's header, true or not

    def __post_init__(self) -> None:
        if not 100 <= self.status <= 599:
            raise ValueError(f"not an HTTP status: {self.status}")
        if self.delay < 0:
            raise ValueError(f"negative delay: {self.delay}")
        if self.retry_after is not None and self.retry_after < 0:
            raise ValueError(f"negative retry_after: {self.retry_after}")

    @property
    def is_slow_only(self) -> bool:
        """True when the fault only delays an otherwise normal answer."""
        return self.status == 200 and self.body is None

    @classmethod
    def server_error(cls, status: int = 500) -> Fault:
        return cls(status=status)

    @classmethod
    def rate_limited(cls, retry_after: float) -> Fault:
        return cls(status=429, retry_after=retry_after)

    @classmethod
    def garbage(cls) -> Fault:
        return cls(status=200, body=b"<html><body><h1>502 Bad Gateway</h1></body></html>")

    @classmethod
    def undecodable(cls) -> Fault:
        """A 200 whose body claims gzip but is not: the client cannot even read it."""
        return cls(status=200, body=b"this is not gzip at all", content_encoding="gzip")

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        return cls(status=200, body=None, delay=seconds)

    @classmethod
    def rejected(cls, status: int = 400, message: str = "invalid audio file") -> Fault:
        return cls(status=status, body=json.dumps({"status": "Error", "message": message}))


_ERROR_MESSAGES: dict[int, str] = {
    400: "bad request",
    401: "invalid api key",
    403: "forbidden",
    404: "file not found",
    408: "request timeout",
    429: "too many requests",
    500: "internal server error",
    502: "bad gateway",
    503: "service unavailable",
    504: "gateway timeout",
}


def _error_message(status: int) -> str:
    if status in _ERROR_MESSAGES:
        return _ERROR_MESSAGES[status]
    try:
        return HTTPStatus(status).phrase.lower()
    except ValueError:
        return "error"


def _format_retry_after(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else str(seconds)


def _looks_like_json(body: bytes) -> bool:
    try:
        json.loads(body)
    except ValueError:
        return False
    return True


def _json(status: int, payload: dict[str, Any]) -> web.Response:
    return web.json_response(payload, status=status)


def _error(status: int, message: str) -> web.Response:
    return _json(status, {"status": "Error", "message": message})


def _diarize(transcript: str) -> str:
    words = transcript.split()
    if len(words) < 2:
        return f"SPEAKER_01: {transcript}"
    half = (len(words) + 1) // 2
    return f"SPEAKER_01: {' '.join(words[:half])}\nSPEAKER_02: {' '.join(words[half:])}"


def _describe(predicate: Callable[[], bool]) -> str:
    try:
        return inspect.getsource(predicate).strip()
    except (OSError, TypeError):
        return repr(predicate)


class _BadRequest(Exception):
    """The upload form is not what Intron requires."""


class FakeIntron:
    """Loopback fake of Intron's upload and status endpoints. See the module docstring."""

    def __init__(
        self, api_key: str = "test-intron-key", *, processing_seconds: float = 0.5
    ) -> None:
        self.api_key: str = api_key
        self.processing_seconds: float = processing_seconds
        self.processing_time_for: Callable[[Upload], float] | None = None
        self.audio_seconds_for: Callable[[Upload], float | None] | None = None
        self.processing_for_audio: Callable[[float], float] | None = None
        self.sync_mode: str = "missing"  # "offered", "missing" (404), "not_allowed" (405)
        self.sync_wait_seconds: float = 60.0
        self.sync_max_audio_seconds: float = 60.0
        self.transcript: str = DEFAULT_TRANSCRIPT
        self.results: dict[str, str] = {}
        self.transcript_for: Callable[[Upload], str] | None = None
        self.fail_processing: set[str] = set()
        self.unreadable_urls: set[str] = set()
        self.uploads: list[Upload] = []
        self.calls: list[tuple[str, float, int]] = []
        self.rate_limits: dict[str, int] = {}  # endpoint -> calls allowed per rate_window
        self.rate_window: float = 60.0
        self.violations: list[tuple[str, float]] = []  # (endpoint, when) of calls over a limit
        # (file id, received, answered) of every status call, to see two polls of one job at once
        self.status_spans: list[tuple[str, float, float]] = []
        self._taken: dict[str, deque[float]] = {endpoint: deque() for endpoint in ENDPOINTS}
        self._faults: dict[str, deque[Fault]] = {endpoint: deque() for endpoint in ENDPOINTS}
        self._by_id: dict[str, Upload] = {}
        self._status_calls: Counter[str] = Counter()
        self._runner: web.AppRunner | None = None
        self._url: str | None = None
        self._closing = asyncio.Event()
        self._uploads_open = asyncio.Event()
        self._down: Fault | None = None  # while set, every call gets it (go_down)
        self._uploads_open.set()
        self.uploads_waiting = 0  # uploads arrived while held, not answered yet

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:41234`` (endpoints are relative to it)."""
        if self._url is None:
            raise RuntimeError("FakeIntron is not started: await start() first")
        return self._url

    async def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError("FakeIntron is already started")
        self._closing = asyncio.Event()
        app = web.Application()
        app.router.add_post(UPLOAD_PATH, self._handle_upload)
        app.router.add_get(STATUS_PATH, self._handle_status)
        app.router.add_post(SYNC_PATH, self._handle_sync)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        self._runner = runner
        self._url = f"http://{host}:{port}"

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is None:
            return
        self._closing.set()  # wakes handlers sleeping on a fault's delay
        self._uploads_open.set()  # and uploads held
        await runner.cleanup()

    async def __aenter__(self) -> FakeIntron:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- test controls ---------------------------------------------------------------------

    def go_down(self, status: int = 503) -> None:
        """Every call of every endpoint gets `status` until `come_back()` (an outage, as
        opposed to `inject`'s faults for a number of calls)."""
        self._down = Fault.server_error(status)

    def come_back(self) -> None:
        self._down = None

    def inject(self, endpoint: str, *faults: Fault) -> None:
        """Queue faults for the next calls of ``endpoint`` (one per call, in order)."""
        self._check_endpoint(endpoint)
        self._faults[endpoint].extend(faults)

    def pending_faults(self, endpoint: str) -> int:
        """How many injected faults of ``endpoint`` are not consumed yet."""
        self._check_endpoint(endpoint)
        return len(self._faults[endpoint])

    def finish(self, *file_ids: str) -> None:
        """End the processing of these jobs (of every job so far when none is named) now.

        With a long ``processing_seconds`` a test holds jobs at Intron for as long as it
        needs (to delete a message, kill the bot...), then lets them end: no race with a
        processing time that a busy machine may outrun.
        """
        now = time.monotonic()
        for upload in self.uploads:
            if not file_ids or upload.file_id in file_ids:
                upload.done_at = min(upload.done_at, now)

    def calls_to(self, endpoint: str) -> list[float]:
        self._check_endpoint(endpoint)
        return [at for name, at, _ in self.calls if name == endpoint]

    def max_calls_in_window(self, endpoint: str, window: float = 60.0) -> int:
        """The most calls of ``endpoint`` inside any window ``[t, t + window)`` (sliding)."""
        times = sorted(self.calls_to(endpoint))
        best = 0
        start = 0
        for end, at in enumerate(times):
            while at - times[start] >= window:
                start += 1
            best = max(best, end - start + 1)
        return best

    def calls_over_limit(self, endpoint: str, window: float = 60.0) -> int:
        """Calls of ``endpoint`` made while ``RATE_LIMITS[endpoint]`` calls were already in the
        window before them: the calls the real Intron would have answered 429 (counted
        afterwards, whether or not ``rate_limits`` enforced them)."""
        limit = RATE_LIMITS[endpoint]
        times = sorted(self.calls_to(endpoint))
        over = 0
        start = 0
        for end, at in enumerate(times):
            while at - times[start] >= window:
                start += 1
            if end - start + 1 > limit:
                over += 1
        return over

    def concurrent_polls(self) -> list[str]:
        """File ids that had two status calls in flight at the same time."""
        by_file: dict[str, list[tuple[float, float]]] = {}
        for file_id, start, end in self.status_spans:
            by_file.setdefault(file_id, []).append((start, end))
        overlapping = []
        for file_id, spans in by_file.items():
            spans.sort()
            if any(later[0] < earlier[1] for earlier, later in itertools.pairwise(spans)):
                overlapping.append(file_id)
        return overlapping

    def status_calls_for(self, file_id: str) -> int:
        """Every status request made for ``file_id``, whatever was answered."""
        return self._status_calls[file_id]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 30.0) -> None:  # noqa: ASYNC109
        """Poll ``predicate`` every 20 ms until it holds; AssertionError after ``timeout``
        (hang protection: generous, so that a busy machine is never mistaken for a bug)."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"condition not met within {timeout}s: {_describe(predicate)}\n"
                    f"fake Intron state: {self._summary()}"
                )
            await asyncio.sleep(0.02)

    # -- handlers --------------------------------------------------------------------------

    def hold_uploads(self) -> None:
        """Uploads that arrive from now on wait, unanswered, until `release_uploads()`: a test
        can then order what comes next without racing the machine's speed."""
        self._uploads_open.clear()

    def release_uploads(self) -> None:
        self._uploads_open.set()

    async def _handle_upload(self, request: web.Request) -> web.StreamResponse:
        if not self._uploads_open.is_set():
            self.uploads_waiting += 1
            try:
                await self._uploads_open.wait()
            finally:
                self.uploads_waiting -= 1
        return await self._answer("upload", request, self._upload)

    async def _handle_sync(self, request: web.Request) -> web.StreamResponse:
        return await self._answer("sync", request, self._sync)

    async def _handle_status(self, request: web.Request) -> web.StreamResponse:
        file_id = request.match_info["file_id"]
        self._status_calls[file_id] += 1
        received_at = time.monotonic()
        try:
            return await self._answer("status", request, self._status)
        finally:
            self.status_spans.append((file_id, received_at, time.monotonic()))

    async def _answer(
        self,
        endpoint: str,
        request: web.Request,
        handle: Callable[[web.Request], Awaitable[web.Response]],
    ) -> web.StreamResponse:
        """Record the call, apply a queued fault, else answer normally."""
        index = len(self.calls)
        received_at = time.monotonic()
        self.calls.append((endpoint, received_at, CLIENT_GONE))
        response: web.StreamResponse | None = None
        try:
            wait = self._over_limit(endpoint, received_at)
            if wait is not None:
                self.violations.append((endpoint, received_at))
                response = self._fault_response(Fault.rate_limited(wait))
                return response
            fault = self._faults[endpoint].popleft() if self._faults[endpoint] else None
            if self._down is not None:
                fault = self._down
            if fault is not None and not fault.is_slow_only:
                await self._sleep(fault.delay)
                response = self._fault_response(fault)
            else:
                if not self._authorized(request):
                    response = _error(401, "invalid api key")
                else:
                    response = await handle(request)
                if fault is not None:
                    # "Slow": the work is done (an upload is accepted) as soon as the request
                    # arrives; only the answer is late, as with a real overloaded server.
                    await self._sleep(fault.delay)
            return response
        except asyncio.CancelledError:
            response = None  # the client went away and aiohttp cancelled the handler
            raise
        except Exception:
            log.exception("fake Intron failed on %s", endpoint)
            response = _error(500, "fake Intron crashed (see the test log)")
            return response
        finally:
            status = response.status if response is not None else CLIENT_GONE
            self.calls[index] = (endpoint, received_at, status)

    def _over_limit(self, endpoint: str, at: float) -> float | None:
        """None if the call fits in its endpoint's window (it is then counted), else how long
        until the oldest call in the window leaves it (the Retry-After)."""
        limit = self.rate_limits.get(endpoint)
        if limit is None:
            return None
        taken = self._taken[endpoint]
        while taken and taken[0] <= at - self.rate_window:
            taken.popleft()
        if len(taken) >= limit:
            return max(0.0, round(taken[0] + self.rate_window - at, 3))
        taken.append(at)
        return None

    def _fault_response(self, fault: Fault) -> web.Response:
        headers: dict[str, str] = {}
        if fault.retry_after is not None:
            headers[hdrs.RETRY_AFTER] = _format_retry_after(fault.retry_after)
        if fault.content_encoding is not None:
            headers[hdrs.CONTENT_ENCODING] = fault.content_encoding
        if fault.body is None:
            body = json.dumps({"status": "Error", "message": _error_message(fault.status)})
            return web.Response(
                status=fault.status, text=body, content_type="application/json", headers=headers
            )
        raw = fault.body.encode() if isinstance(fault.body, str) else fault.body
        content_type = "application/json" if _looks_like_json(raw) else "text/html"
        return web.Response(
            status=fault.status, body=raw, content_type=content_type, headers=headers
        )

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get(hdrs.AUTHORIZATION) == f"Bearer {self.api_key}"

    async def _sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        # asyncio.timeout, not wait_for, which on Python 3.11 can swallow a cancellation.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._closing.wait()

    async def _upload(self, request: web.Request) -> web.Response:
        upload = await self._accept(request)
        if isinstance(upload, web.Response):
            return upload
        return _json(
            200,
            {
                "status": "Ok",
                "message": "file queued for processing",
                "data": {"file_id": upload.file_id},
            },
        )

    async def _sync(self, request: web.Request) -> web.Response:
        if self.sync_mode == "missing":
            return _error(404, "not found")
        if self.sync_mode == "not_allowed":
            return _error(405, "method not allowed")
        upload = await self._accept(request, max_audio_seconds=self.sync_max_audio_seconds)
        if isinstance(upload, web.Response):
            return upload
        wait = min(self.sync_wait_seconds, upload.done_at - time.monotonic())
        await self._sleep(wait)
        if time.monotonic() < upload.done_at:
            return _json(
                408,
                {
                    "status": "Error",
                    "message": "processing is taking longer; poll the status",
                    "data": {"file_id": upload.file_id},
                },
            )
        data = {"file_id": upload.file_id, **self._job_data(upload)}
        return _json(200, {"status": "Ok", "message": "file transcribed", "data": data})

    async def _accept(
        self, request: web.Request, *, max_audio_seconds: float | None = None
    ) -> Upload | web.Response:
        """Read an upload form and start the job, or say what is wrong with the form."""
        try:
            fields, blob_part = await self._read_form(request)
        except _BadRequest as exc:
            return _error(400, str(exc))
        if not fields.get("audio_file_name"):
            return _error(400, "audio_file_name is required")
        url = fields.get("audio_file_url")
        if (blob_part is None) == (url is None):
            return _error(400, "send exactly one of audio_file_blob and audio_file_url")
        if blob_part is None:
            blob_part = (b"", None, None)
        elif not blob_part[0]:
            return _error(400, "audio file is empty")
        blob, blob_filename, blob_content_type = blob_part
        received_at = time.monotonic()
        upload = Upload(
            file_id=str(uuid.uuid4()),
            fields=fields,
            blob=blob,
            blob_filename=blob_filename,
            blob_content_type=blob_content_type,
            received_at=received_at,
            done_at=received_at,
        )
        audio_seconds = self.audio_seconds_for(upload) if self.audio_seconds_for else None
        if (
            max_audio_seconds is not None
            and audio_seconds is not None
            and audio_seconds > max_audio_seconds
        ):
            return _error(400, f"audio longer than {max_audio_seconds:g} s")
        if self.processing_time_for is not None:
            seconds = self.processing_time_for(upload)
        elif self.processing_for_audio is not None and audio_seconds is not None:
            seconds = self.processing_for_audio(audio_seconds)
        else:
            seconds = self.processing_seconds
        upload.done_at = received_at + max(0.0, seconds)
        self.uploads.append(upload)
        self._by_id[upload.file_id] = upload
        return upload

    async def _read_form(
        self, request: web.Request
    ) -> tuple[dict[str, str], tuple[bytes, str | None, str | None] | None]:
        """Stream the multipart form: text fields, and the blob part accumulated chunk by chunk."""
        if request.content_type != "multipart/form-data":
            raise _BadRequest(f"expected multipart/form-data, got {request.content_type!r}")
        fields: dict[str, str] = {}
        blob_part: tuple[bytes, str | None, str | None] | None = None
        try:
            reader = await request.multipart()
            while True:
                part = await reader.next()
                if part is None:
                    break
                if not isinstance(part, BodyPartReader):
                    raise _BadRequest("nested multipart parts are not supported")
                name = part.name
                if name == "audio_file_blob":
                    data = bytearray()
                    while chunk := await part.read_chunk():
                        data.extend(chunk)
                    content_type = part.headers.get(hdrs.CONTENT_TYPE)
                    blob_part = (bytes(data), part.filename, content_type)
                elif part.filename is not None or name is None:
                    await part.release()  # some other file part: not an Intron field
                else:
                    raw = await part.read()
                    fields[name] = raw.decode(part.get_charset(default="utf-8"))
        except (ValueError, RuntimeError, UnicodeDecodeError, LookupError) as exc:
            raise _BadRequest(f"malformed multipart body: {exc}") from exc
        return fields, blob_part

    async def _status(self, request: web.Request) -> web.Response:
        upload = self._by_id.get(request.match_info["file_id"])
        if upload is None:
            return _error(404, "file not found")
        return _json(
            200, {"status": "Ok", "message": "file status found", "data": self._job_data(upload)}
        )

    def _job_data(self, upload: Upload) -> dict[str, Any]:
        name = upload.fields["audio_file_name"]
        now = time.monotonic()
        if now < upload.done_at:
            queued_until = upload.received_at + 0.1 * (upload.done_at - upload.received_at)
            state = "FILE_QUEUED" if now < queued_until else "FILE_PROCESSING"
            return {"processing_status": state, "audio_file_name": name}
        if (
            name in self.fail_processing
            or upload.fields.get("audio_file_url") in self.unreadable_urls
        ):
            return {"processing_status": "FILE_PROCESSING_FAILED", "audio_file_name": name}
        if self.transcript_for is not None:
            transcript = self.transcript_for(upload)
        elif upload.fields.get("use_diarization") == "TRUE":
            transcript = _diarize(self.transcript)
        else:
            transcript = self.transcript
        data: dict[str, Any] = {
            "processing_status": "FILE_TRANSCRIBED",
            "audio_file_name": name,
            "audio_transcript": transcript,
            # The length Intron heard: the one `audio_seconds_for` gives, else 7 s.
            "processed_audio_duration_in_seconds": self._processed_seconds(upload),
        }
        flags = [
            key.removeprefix("get_")
            for key, value in upload.fields.items()
            if key.startswith("get_") and len(key) > len("get_") and value == "TRUE"
        ]
        if "answer" in flags:
            flags = ["answer"]
        for flag in flags:
            data[f"transcript_{flag}"] = self.results.get(flag, f"**{flag}** for {name}")
        return data

    def _processed_seconds(self, upload: Upload) -> float:
        heard = self.audio_seconds_for(upload) if self.audio_seconds_for else None
        return 7 if heard is None else heard

    # -- helpers ---------------------------------------------------------------------------

    @staticmethod
    def _check_endpoint(endpoint: str) -> None:
        if endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}: expected one of {ENDPOINTS}")

    def _summary(self) -> str:
        by_endpoint = Counter((name, status) for name, _, status in self.calls)
        calls = ", ".join(
            f"{name} {status} x{n}" for (name, status), n in sorted(by_endpoint.items())
        )
        uploads = [u.fields.get("audio_file_name") for u in self.uploads]
        pending = {e: len(q) for e, q in self._faults.items() if q}
        return f"uploads={uploads!r}; calls: {calls or 'none'}" + (
            f"; faults still queued: {pending}" if pending else ""
        )
