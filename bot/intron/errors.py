"""What can go wrong talking to Intron, sorted by what the caller must do about it."""

from __future__ import annotations


class IntronError(Exception):
    """Base of every error the Intron client raises."""


class IntronAuthError(IntronError):
    """401/403: the API key is wrong or revoked. Retrying cannot help; an operator must act."""


class IntronRateLimited(IntronError):
    """429: the key's per-minute budget is spent. Wait `retry_after` seconds before any call."""

    def __init__(self, retry_after: float, message: str = "rate limited") -> None:
        super().__init__(f"{message} (retry after {retry_after:g}s)")
        self.retry_after = retry_after


class IntronTransientError(IntronError):
    """5xx, timeout or connection failure: the same call may well succeed later."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class IntronTimeout(IntronTransientError):
    """Intron did not answer in time."""


class IntronUnreachable(IntronTransientError):
    """No answer at all: DNS, refused or dropped connection."""


class IntronMalformedResponse(IntronTransientError):
    """The answer was not the JSON we expect. Seen with proxies and outages, so it is retried."""


class IntronRejected(IntronError):
    """Any other 4xx, or a final failure status: Intron will not process this audio."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(f"HTTP {status_code}: {message}")
        self.status_code = status_code
        self.message = message


def call_outcome(error: IntronError | None) -> str:
    """How one call ended, in the few words metrics count it by."""
    if error is None:
        return "ok"
    if isinstance(error, IntronTimeout):
        return "timeout"
    if isinstance(error, IntronUnreachable):
        return "network"
    if isinstance(error, IntronMalformedResponse):
        return "malformed"
    if isinstance(error, IntronRateLimited):
        return "429"
    if isinstance(error, IntronTransientError):
        return "4xx" if error.status_code is not None and error.status_code < 500 else "5xx"
    if isinstance(error, (IntronAuthError, IntronRejected)):
        return "4xx"
    return "error"
