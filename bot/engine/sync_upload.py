"""Short transcript-only recordings through Intron's synchronous upload, where the host has it.

`POST /file/v1/upload/sync` answers with the transcript itself, so a short note needs no
polling. It is tried only for transcript-only jobs of at most a minute of audio, only while its
own budget has a free slot (a note never waits for it: the asynchronous upload is always
there), and never again once the host said it does not have it (404/405). Any other answer
that is not a transcript sends the job down the usual path: a 408 with Intron's `file_id` is
polled as usual, everything else is uploaded again asynchronously.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.engine.budget import RateBudget
from bot.intron import (
    SYNC_UPLOAD,
    IntronAuthError,
    IntronClient,
    IntronError,
    IntronRateLimited,
    IntronRejected,
    IntronTransientError,
    JobStatus,
)
from bot.intron.options import TRANSCRIPT_ONLY, TranscriptionOptions
from storage.models import Job

log = logging.getLogger(__name__)

MAX_AUDIO_SECONDS = 60
MISSING_ON_HOST = (404, 405)


@dataclass(frozen=True)
class SyncOutcome:
    """What the synchronous upload gave: the transcript, or a job to poll."""

    status: JobStatus | None  # a finished transcript
    file_id: str | None  # Intron's job (to poll when `status` is None)
    seconds: float  # how long Intron held the call: its time for the job, at most


class SyncUpload:
    def __init__(
        self,
        intron: IntronClient,
        budget: RateBudget,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._intron = intron
        self._budget = budget
        self._clock = clock
        self.host_lacks_it = False

    def applies(self, job: Job, options: TranscriptionOptions) -> bool:
        return (
            not self.host_lacks_it
            and options.category == TRANSCRIPT_ONLY
            # A template asks Intron for notes: not the transcript-only answer this call gives.
            and options.template_id is None
            and job.duration is not None
            and 0 < job.duration <= MAX_AUDIO_SECONDS
            and self._budget.used(SYNC_UPLOAD) < self._budget.limits[SYNC_UPLOAD]
        )

    async def send(self, job: Job, path: Path, options: TranscriptionOptions) -> SyncOutcome | None:
        """None: nothing is at Intron, upload the usual way."""
        started = self._clock()
        try:
            async with self._budget.spend(SYNC_UPLOAD):
                answer = await self._intron.upload_sync(
                    path,
                    file_name=job.file_name,
                    fields=options.form_fields(),
                    content_type=job.mime_type,
                )
        except IntronAuthError:
            raise  # the asynchronous upload would be refused the same way
        except IntronRateLimited as exc:
            await self._budget.pause(SYNC_UPLOAD, exc.retry_after)
            return None
        except IntronRejected as exc:
            if exc.status_code in MISSING_ON_HOST:
                self.host_lacks_it = True
                log.info("Intron's host has no synchronous upload (HTTP %d)", exc.status_code)
            else:
                log.info("job %s: sync upload refused (HTTP %d)", job.id, exc.status_code)
            return None
        except IntronError as exc:
            # A timeout may leave a job at Intron: a duplicate beats a lost recording. A
            # transient failure is in Intron's outage log already.
            level = logging.DEBUG if isinstance(exc, IntronTransientError) else logging.WARNING
            log.log(level, "job %s: sync upload failed (%s); uploading as usual", job.id, exc)
            return None
        seconds = self._clock() - started
        if answer.status is not None and answer.status.is_transcribed:
            log.info("job %s: transcribed by the synchronous upload", job.id)
            return SyncOutcome(answer.status, answer.file_id, seconds)
        if answer.file_id is not None:
            log.info("job %s: still at Intron after its sync wait; polling", job.id)
            return SyncOutcome(None, answer.file_id, seconds)
        log.warning("job %s: sync upload gave neither transcript nor file id", job.id)
        return None
