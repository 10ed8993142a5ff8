"""Intron speech-to-text API: client, typed answers, errors."""

from bot.intron.client import IntronClient, parse_retry_after
from bot.intron.errors import (
    IntronAuthError,
    IntronError,
    IntronMalformedResponse,
    IntronRateLimited,
    IntronRejected,
    IntronTransientError,
)
from bot.intron.models import JobStatus, ProcessingStatus

__all__ = [
    "IntronAuthError",
    "IntronClient",
    "IntronError",
    "IntronMalformedResponse",
    "IntronRateLimited",
    "IntronRejected",
    "IntronTransientError",
    "JobStatus",
    "ProcessingStatus",
    "parse_retry_after",
]
