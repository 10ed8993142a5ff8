"""Typed answers of the Intron API."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

RESULT_PREFIX = "transcript_"


class ProcessingStatus(StrEnum):
    QUEUED = "FILE_QUEUED"
    PENDING = "FILE_PENDING"
    PROCESSING = "FILE_PROCESSING"
    TRANSCRIBED = "FILE_TRANSCRIBED"
    FAILED = "FILE_PROCESSING_FAILED"
    INVALID = "FILE_INVALID"
    INVALID_SIZE = "FILE_INVALID_SIZE"
    INVALID_DURATION = "FILE_INVALID_DURATION"
    TIMEOUT = "FILE_PROCESSING_TIMEOUT"
    CANCELLED = "FILE_PROCESSING_CANCELLED"


FAILED_STATUSES = frozenset(
    {
        ProcessingStatus.FAILED,
        ProcessingStatus.INVALID,
        ProcessingStatus.INVALID_SIZE,
        ProcessingStatus.INVALID_DURATION,
        ProcessingStatus.TIMEOUT,
        ProcessingStatus.CANCELLED,
    }
)


class JobStatus(BaseModel):
    """`data` of a status answer. Extra fields are kept: every `transcript_*` result Intron
    adds, known to this code or not, must reach the chat."""

    model_config = ConfigDict(extra="allow")

    processing_status: str
    audio_file_name: str | None = None
    audio_transcript: str | None = None
    processed_audio_duration_in_seconds: float | None = None

    @property
    def is_transcribed(self) -> bool:
        return self.processing_status == ProcessingStatus.TRANSCRIBED

    @property
    def is_failed(self) -> bool:
        return self.processing_status in FAILED_STATUSES

    @property
    def is_known(self) -> bool:
        return self.processing_status in ProcessingStatus.__members__.values()

    @property
    def results(self) -> dict[str, Any]:
        """Every `transcript_*` field, keyed by its full name."""
        extra = self.model_extra or {}
        return {k: v for k, v in extra.items() if k.startswith(RESULT_PREFIX)}

    def stored_data(self) -> dict[str, Any]:
        """What a finished job keeps: the transcript, its duration and every result."""
        return {
            "audio_file_name": self.audio_file_name,
            "audio_transcript": self.audio_transcript,
            "processed_audio_duration_in_seconds": self.processed_audio_duration_in_seconds,
            **self.results,
        }
