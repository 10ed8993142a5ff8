"""Async client of Intron's file transcription API: upload, then status."""

from __future__ import annotations

import contextlib
import email.utils
import math
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import httpx
from pydantic import ValidationError

from bot.intron.errors import (
    IntronAuthError,
    IntronError,
    IntronMalformedResponse,
    IntronRateLimited,
    IntronRejected,
    IntronTimeout,
    IntronTransientError,
    IntronUnreachable,
    call_outcome,
)
from bot.intron.models import JobStatus
from bot.metrics import BotMetrics
from bot.outages import Outages

# The endpoints, as the budget and the metrics name them.
UPLOAD, STATUS, SYNC_UPLOAD = "upload", "status", "sync_upload"
UPLOAD_PATH = "/file/v1/upload"
SYNC_UPLOAD_PATH = "/file/v1/upload/sync"
# Intron answers a synchronous upload within 60 s (one client says 120): wait a little longer.
SYNC_TIMEOUT = httpx.Timeout(130.0, connect=10.0)
STATUS_PATH = "/file/v1/status/{file_id}"
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
DEFAULT_RETRY_AFTER = 60.0
# The longest pause an answer may impose; a longer one is a fault, not a schedule.
MAX_RETRY_AFTER = 300.0  # five rate windows


class IntronClient:
    """One instance per process: it owns the connection pool.

    The audio goes as a file part read from disk in chunks, so memory does not grow with
    the file; or, for a link the user sent, as that link for Intron to read (`upload_link`).
    Never a Telegram file URL: those contain the token.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
        metrics: BotMetrics | None = None,
        outages: Outages | None = None,
    ) -> None:
        self._metrics = metrics or BotMetrics.unregistered()
        self._outage = (outages or Outages()).intron
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=timeout,
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def upload(
        self,
        path: Path,
        *,
        file_name: str,
        fields: Mapping[str, str],
        content_type: str | None = None,
    ) -> str:
        """Send the audio for transcription; returns Intron's file id."""
        form = {"audio_file_name": file_name, **fields}
        async with self._reported(UPLOAD):
            with path.open("rb") as audio:
                files = _audio_part(file_name, audio, content_type)
                payload = await self._request("POST", UPLOAD_PATH, data=form, files=files)
            return _file_id(payload)

    async def upload_link(self, url: str, *, file_name: str, fields: Mapping[str, str]) -> str:
        """Have Intron read the audio from `url` itself; returns Intron's file id."""
        form = {"audio_file_name": file_name, "audio_file_url": url, **fields}
        async with self._reported(UPLOAD):
            # Sent as multipart/form-data, as the upload always is, with no file part.
            parts = {name: (None, value) for name, value in form.items()}
            payload = await self._request("POST", UPLOAD_PATH, files=parts)
            return _file_id(payload)

    async def upload_sync(
        self,
        path: Path,
        *,
        file_name: str,
        fields: Mapping[str, str],
        content_type: str | None = None,
    ) -> SyncAnswer:
        """Send short audio and wait for its transcript (Intron's newer host only).

        A 200 carries the transcript; a 408 (or 503) means Intron kept the job past its wait,
        with a `file_id` to poll if it gave one. Everything else raises as usual, a host
        without the endpoint as `IntronRejected` with status 404 or 405.
        """
        form = {"audio_file_name": file_name, **fields}
        async with self._reported(SYNC_UPLOAD):
            with path.open("rb") as audio:
                files = _audio_part(file_name, audio, content_type)
                response = await self._send(
                    "POST", SYNC_UPLOAD_PATH, data=form, files=files, timeout=SYNC_TIMEOUT
                )
            if response.status_code in (408, 503):
                file_id = _get(_json_or_empty(response), "data", "file_id")
                if isinstance(file_id, str) and file_id:
                    return SyncAnswer(None, file_id)
                if response.status_code == 503:  # no job kept: Intron is unavailable
                    raise IntronTransientError("HTTP 503 from Intron", status_code=503)
                return SyncAnswer(None, None)
            _raise_for_status(response)
            data = _get(_json_or_empty(response), "data")
            if not isinstance(data, dict):
                raise IntronMalformedResponse("sync upload answer has no data object")
            try:
                status = JobStatus.model_validate(data)
            except ValidationError as exc:
                raise IntronMalformedResponse(
                    f"sync upload answer does not validate: {exc.error_count()} errors"
                ) from exc
            file_id = data.get("file_id")
            return SyncAnswer(status, file_id if isinstance(file_id, str) and file_id else None)

    async def status(self, file_id: str) -> JobStatus:
        async with self._reported(STATUS):
            payload = await self._request("GET", STATUS_PATH.format(file_id=file_id))
            data = _get(payload, "data")
            if not isinstance(data, dict):
                raise IntronMalformedResponse("status answer has no data object")
            try:
                return JobStatus.model_validate(data)
            except ValidationError as exc:
                raise IntronMalformedResponse(
                    f"status answer does not validate: {exc.error_count()} errors"
                ) from exc

    @contextlib.asynccontextmanager
    async def _reported(self, endpoint: str) -> AsyncIterator[None]:
        """Every call is counted by how it ended and timed, and told to Intron's outage log
        (a transient failure is an outage, any answer shows Intron is there), in this one
        place."""
        started = time.monotonic()
        try:
            yield
        except IntronError as exc:
            self._metrics.intron_call(endpoint, call_outcome(exc), time.monotonic() - started)
            if isinstance(exc, IntronTransientError):
                self._outage.count(endpoint, str(exc))
            else:
                self._outage.worked()
            raise
        self._metrics.intron_call(endpoint, "ok", time.monotonic() - started)
        self._outage.worked()

    async def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = await self._send(method, path, **kwargs)
        _raise_for_status(response)
        try:
            payload = response.json()
        except ValueError as exc:
            raise IntronMalformedResponse(
                f"HTTP {response.status_code} answer is not JSON"
            ) from exc
        if not isinstance(payload, dict):
            raise IntronMalformedResponse("answer is not a JSON object")
        return payload

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The one place httpx's errors become Intron's error classes."""
        try:
            return await self._http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise IntronTimeout(f"timed out: {type(exc).__name__}") from exc
        except httpx.TransportError as exc:
            raise IntronUnreachable(f"network error: {type(exc).__name__}") from exc
        except httpx.RequestError as exc:
            # An answer that cannot be read (a body that does not decode, a redirect loop):
            # seen with proxies and outages, so worth another try.
            raise IntronMalformedResponse(f"unreadable answer: {type(exc).__name__}") from exc


@dataclass(frozen=True)
class SyncAnswer:
    """A synchronous upload's outcome: the transcript, or a job Intron still works on."""

    status: JobStatus | None  # set when Intron answered with the result
    file_id: str | None  # Intron's id of the job, to poll when `status` is None


def _audio_part(
    file_name: str, audio: BinaryIO, content_type: str | None
) -> dict[str, tuple[str, BinaryIO, str]]:
    """The multipart file part both uploads send the audio in."""
    return {"audio_file_blob": (file_name, audio, content_type or "application/octet-stream")}


def _json_or_empty(response: httpx.Response) -> dict[str, Any]:
    try:
        payload = response.json()
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


def _raise_for_status(response: httpx.Response) -> None:
    code = response.status_code
    if code < 400:
        return
    if code in (401, 403):
        raise IntronAuthError(f"HTTP {code}: Intron refused the API key")
    if code == 429:
        raise IntronRateLimited(parse_retry_after(response.headers.get("Retry-After")))
    if code >= 500 or code in (408, 425):
        raise IntronTransientError(f"HTTP {code} from Intron", status_code=code)
    raise IntronRejected(code, _error_message(response))


def _error_message(response: httpx.Response) -> str:
    try:
        payload = response.json()
    except ValueError:
        return "request rejected"
    message = payload.get("message") if isinstance(payload, dict) else None
    return str(message)[:200] if message else "request rejected"


def parse_retry_after(value: str | None, *, now: float | None = None) -> float:
    """Seconds to wait, from either form HTTP allows: delta-seconds or an HTTP date. Bounded
    to [0, MAX_RETRY_AFTER]: `inf`, `nan`, 1e12 or a date years ahead would otherwise pause
    every upload for ever."""
    if not value:
        return DEFAULT_RETRY_AFTER
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return DEFAULT_RETRY_AFTER
        seconds = when.timestamp() - (time.time() if now is None else now)
    if math.isnan(seconds):
        return DEFAULT_RETRY_AFTER
    return min(MAX_RETRY_AFTER, max(0.0, seconds))


def _file_id(payload: Mapping[str, Any]) -> str:
    file_id = _get(payload, "data", "file_id")
    if not isinstance(file_id, str) or not file_id:
        raise IntronMalformedResponse("upload answer has no data.file_id")
    return file_id


def _get(payload: Mapping[str, Any], *keys: str) -> Any:
    node: Any = payload
    for key in keys:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node
