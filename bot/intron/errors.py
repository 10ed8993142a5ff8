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


class IntronMalformedResponse(IntronTransientError):
    """The answer was not the JSON we expect. Seen with proxies and outages, so it is retried."""


class IntronRejected(IntronError):
    """Any other 4xx, or a final failure status: Intron will not process this audio."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(f"HTTP {status_code}: {message}")
        self.status_code = status_code
        self.message = message
