"""Intron speech-to-text API: client, typed answers, errors."""

from bot.intron.client import (
    STATUS,
    SYNC_UPLOAD,
    UPLOAD,
    IntronClient,
    SyncAnswer,
    parse_retry_after,
)
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
from bot.intron.models import JobStatus, ProcessingStatus

__all__ = [
    "STATUS",
    "SYNC_UPLOAD",
    "UPLOAD",
    "IntronAuthError",
    "IntronClient",
    "IntronError",
    "IntronMalformedResponse",
    "IntronRateLimited",
    "IntronRejected",
    "IntronTimeout",
    "IntronTransientError",
    "IntronUnreachable",
    "JobStatus",
    "ProcessingStatus",
    "SyncAnswer",
    "call_outcome",
    "parse_retry_after",
]
