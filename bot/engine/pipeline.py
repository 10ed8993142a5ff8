"""What happens to one job at each stage: fetch and upload, poll, reply.

`JobPipeline.advance` looks the job's state up in its table of stages (as python-telegram-bot's
ConversationHandler looks up `states`); a stage moves the job on through the job store's
transitions and returns what happens next: `Next.STAGE`, run the stage of the job's new state
now (a transcript in hand is answered at once), or `Next.WAIT`, the job's row says when it is
due again. The scheduler owns claiming, leases and when tasks start.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum

from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter

from bot.engine import job_store
from bot.engine.budget import RateBudget
from bot.engine.delivery import (
    ReplyPart,
    answer_parts,
    keyboard_of,
    parts_from_json,
    parts_to_json,
    rendered_answer,
    resend_keyboard,
    threading_in,
)
from bot.engine.interfaces import AudioSource, ChatReplies, ResultExtras
from bot.engine.poll_pacer import PollPacer
from bot.engine.reuse import earlier_result
from bot.engine.sync_upload import SyncUpload
from bot.i18n import N_, Locales, Translator
from bot.intron import (
    STATUS,
    UPLOAD,
    IntronAuthError,
    IntronClient,
    IntronError,
    IntronRateLimited,
    IntronRejected,
    IntronTransientError,
    JobStatus,
)
from bot.intron.options import TranscriptionOptions
from bot.metrics import BotMetrics
from bot.render import OutgoingText
from bot.telegram_io.errors import Refusal, is_refusal, retry_after_seconds
from bot.telegram_io.files import AudioUnavailable, DownloadFailed, LocalAudio
from bot.telegram_io.migration import current_chat_id, record_migration
from bot.telegram_io.rate_limit import BEFORE_SENDING
from bot.telegram_io.replies import may_have_arrived
from storage.models import Job, JobState

log = logging.getLogger(__name__)

BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 60.0
MAX_UNEXPECTED_ERRORS = 5
PROGRESS_INTERVAL_SECONDS = 10.0  # between edits of a status message

MISCONFIGURED = N_(
    "⚠️ The transcription service is misconfigured, so this recording could not be processed. "
    "The operator has been notified; please try again later."
)
TIMED_OUT = N_("⌛ Transcription took too long and was stopped. Please send the recording again.")
PROCESSING_FAILED = N_(
    "❌ Intron could not transcribe this recording ({status}). If it plays correctly on your "
    "phone, please try sending it again."
)
REJECTED = N_("❌ Intron did not accept this recording: {reason}.")
LINK_UNREADABLE = N_(
    "❌ Intron could not read or transcribe the audio at this link ({status}). Check that the "
    "link opens the audio or video file itself, with no login page, and send it again."
)
LINK_REJECTED = N_("❌ Intron did not accept this link: {reason}.")
TEMPLATE_REJECTED = N_(
    "❌ Intron did not accept this chat's note template ({template}): {reason}. Choose another "
    "template, or none, in /settings, then send the recording again."
)
MAYBE_MISSING = N_(
    "ℹ️ The bot restarted while sending this result, so one of its messages may be missing. "
    "If it is, press the button once the result has arrived to get it all again."
)
RESULT_REFUSED = N_(
    "❌ The transcript is ready but Telegram refused to display it. Use /history to try "
    "sending it again."
)
SENDING_AUDIO = N_("⬆️ Sending the audio to Intron…")
SENDING_LINK = N_("⬆️ Sending the link to Intron…")
UNEXPECTED = N_("❌ Something went wrong while processing this recording. Please send it again.")
TRANSCRIBING_TEXT = N_("⏳ Transcribing… {elapsed}")


def backoff(attempt: int, cap: float = BACKOFF_CAP_SECONDS) -> float:
    """Capped exponential backoff with full jitter, so retries from many jobs do not align."""
    ceiling = min(cap, BACKOFF_BASE_SECONDS * 2 ** max(0, attempt - 1))
    return random.uniform(ceiling / 2, ceiling)


@dataclass
class PipelineConfig:
    max_download_bytes: int
    job_timeout_seconds: float
    max_concurrent_transfers: int = 4
    # A result Telegram cannot take (outage) is offered again this long, the wait between
    # tries growing to `delivery_retry_max_seconds`; after that it waits in /history.
    delivery_give_up_seconds: float = 24 * 3600.0
    delivery_retry_max_seconds: float = 300.0
    # The templates the operator offers, by id: the name a chat chose each under.
    templates: Mapping[str, str] = field(default_factory=dict)


class Next(Enum):
    """What a stage says happens next."""

    STAGE = "run the stage of the job's new state now"
    WAIT = "wait until the job is due again"


Stage = Callable[[Job], Awaitable[Next]]


class JobPipeline:
    def __init__(
        self,
        *,
        intron: IntronClient,
        budget: RateBudget,
        fetcher: AudioSource,
        replier: ChatReplies,
        pacer: PollPacer,
        sync_upload: SyncUpload | None = None,
        config: PipelineConfig,
        clock: Callable[[], float],
        locales: Locales,
        metrics: BotMetrics | None = None,
        extras: ResultExtras | None = None,
    ) -> None:
        self._locales = locales
        self._extras = extras
        self._metrics = metrics or BotMetrics.unregistered()
        self._intron = intron
        self._budget = budget
        self._fetcher = fetcher
        self._replier = replier
        self._pacer = pacer
        self._sync_upload = sync_upload
        self._config = config
        self._clock = clock
        self._progress_shown_at: dict[int, float] = {}
        # Each transfer holds a temporary file and two sockets; this bounds how many at once.
        self._transfer_slots = asyncio.Semaphore(config.max_concurrent_transfers)
        self._stages: dict[JobState, Stage] = {
            JobState.RECEIVED: self._start,
            JobState.DOWNLOADING: self._transfer,
            JobState.UPLOADING: self._transfer,
            JobState.AT_INTRON: self._poll,
            JobState.REPLYING: self._reply,
        }

    async def advance(self, job: Job) -> None:
        """Run the job's stages until one says to wait; the job is saved as it goes."""
        if (
            job.state != JobState.REPLYING
            and self._clock() - _started_at(job) > self._config.job_timeout_seconds
        ):
            log.warning("job %s: timed out in state %s", job.id, job.state)
            await self._fail(job, self._tr(job).gettext(TIMED_OUT))
        while (stage := self._stages.get(job.state)) is not None:
            if await stage(job) is Next.WAIT:
                return

    async def recover(self, job: Job) -> None:
        """After a bug-shaped error: try again a few times, then tell the user once."""
        attempts = job.attempts + 1
        if attempts < MAX_UNEXPECTED_ERRORS:
            await self._retry_later(job, "unexpected error", attempts=attempts)
        elif job.state == JobState.REPLYING:
            await self._finish(job, JobState.FAILED)
        else:
            await self._fail(job, self._tr(job).gettext(UNEXPECTED))

    # -- stages ---------------------------------------------------------------------------

    async def _start(self, job: Job) -> Next:
        """A new job: a copy of a recording transcribed before with the same options is
        answered from that stored result, with no download and no upload. If that result was
        erased meanwhile (/forget, retention) the job is transcribed as usual."""
        if job.reused_from is None:
            return await self._transfer(job)
        source = await earlier_result(job.reused_from)
        if source is None:
            log.info("job %s: the earlier result was erased; transcribing", job.id)
            await job_store.transcribe_afresh(job)
            return await self._transfer(job)
        log.info("job %s: answered from job %s", job.id, source.id)
        await self._answer(
            job,
            # The text is the same audio's; the name it was uploaded under is the other chat's.
            result={**(source.result or {}), "audio_file_name": job.file_name},
            processed_seconds=source.processed_seconds,
        )
        return Next.STAGE

    async def _transfer(self, job: Job) -> Next:
        # Progress edits wait on Telegram's flood limits: keep them out of the transfer slots.
        if _shows_progress(job):
            sending = SENDING_LINK if job.source_url else SENDING_AUDIO
            await self._replier.edit_status(
                job.chat_id, job.status_message_id, self._tr(job).gettext(sending)
            )
        if job.source_url:
            async with self._transfer_slots:
                after = await self._upload_link(job)
        else:
            after = await self._download_and_upload(job)
        if after is Next.STAGE and job.state == JobState.AT_INTRON:
            await self._show_progress(job, force=True)
            return Next.WAIT
        return after

    async def _download_and_upload(self, job: Job) -> Next:
        """Download in a transfer slot; a synchronous upload then waits outside it (Intron
        holds that call while it transcribes, and the sync budget bounds how many are open),
        an asynchronous one in it."""
        async with self._transfer_slots:
            audio = await self._download(job)
            if isinstance(audio, Next):
                return audio
            options = TranscriptionOptions.model_validate(job.options)
            if self._sync_upload is None or not self._sync_upload.applies(job, options):
                try:
                    return await self._upload(job, audio, options, started=self._clock())
                finally:
                    _discard(audio, job)
        assert self._sync_upload is not None
        started = self._clock()
        try:
            try:
                synced = await self._sync_upload.send(job, audio.path, options)
            except IntronError as exc:
                return await self._on_intron_error(job, UPLOAD, exc)
            if synced is not None and synced.status is not None:
                job.intron_file_id = synced.file_id
                job.uploaded_at = self._clock() - synced.seconds
                await self._transcribed(job, synced.status, synced.seconds)
                return Next.STAGE
            if synced is not None and synced.file_id is not None:
                # Intron kept it past its wait: poll it as usual
                await self._accepted_by_intron(job, synced.file_id, started, waited=synced.seconds)
                return Next.STAGE
            async with self._transfer_slots:
                return await self._upload(job, audio, options, started=started)
        finally:
            _discard(audio, job)

    async def _download(self, job: Job) -> LocalAudio | Next:
        """The recording from Telegram, or what happens next when there is none."""
        await job_store.moved_to(job, JobState.DOWNLOADING)
        started = self._clock()
        try:
            audio = await self._fetcher.fetch(
                job.telegram_file_id, max_bytes=self._config.max_download_bytes
            )
        except AudioUnavailable as exc:
            log.info("job %s: audio unavailable from Telegram", job.id)
            await self._fail(job, f"❌ {self._tr(job).phrase(exc.phrase)}")
            return Next.STAGE
        except DownloadFailed as exc:
            await self._retry_later(
                job, f"download failed: {exc}", attempts=job.attempts + 1, outage=True
            )
            return Next.WAIT
        log.info("job %s: downloaded %d bytes", job.id, audio.size)
        self._metrics.stage_finished("download", self._clock() - started)
        await job_store.moved_to(job, JobState.UPLOADING)
        return audio

    async def _upload(
        self, job: Job, audio: LocalAudio, options: TranscriptionOptions, *, started: float
    ) -> Next:
        try:
            async with self._budget.spend(UPLOAD):
                file_id = await self._intron.upload(
                    audio.path,
                    file_name=job.file_name,
                    fields=options.form_fields(),
                    content_type=job.mime_type,
                )
        except IntronError as exc:
            return await self._on_intron_error(job, UPLOAD, exc)
        await self._accepted_by_intron(job, file_id, started)
        return Next.STAGE

    async def _upload_link(self, job: Job) -> Next:
        """A link the user sent: Intron reads the audio from it, the bot downloads nothing."""
        assert job.source_url is not None
        started = self._clock()
        try:
            await job_store.moved_to(job, JobState.UPLOADING)
            options = TranscriptionOptions.model_validate(job.options)
            async with self._budget.spend(UPLOAD):
                file_id = await self._intron.upload_link(
                    job.source_url, file_name=job.file_name, fields=options.form_fields()
                )
        except IntronError as exc:
            return await self._on_intron_error(job, UPLOAD, exc)
        await self._accepted_by_intron(job, file_id, started)
        return Next.STAGE

    async def _accepted_by_intron(
        self, job: Job, file_id: str, started: float, *, waited: float = 0.0
    ) -> None:
        """Intron has the audio; `waited` is how long a synchronous upload already held it."""
        now = self._clock()
        self._metrics.stage_finished("upload", now - started)
        await job_store.at_intron(
            job,
            file_id=file_id,
            uploaded_at=now - waited,
            rest_until=self._pacer.resting_until(now),
        )
        self._pacer.wake()
        log.info("job %s: uploaded, at Intron", job.id)

    async def _poll(self, job: Job) -> Next:
        assert job.intron_file_id is not None
        unfinished_at = job.polled_at or job.uploaded_at or self._clock()
        try:
            async with self._budget.spend(STATUS):
                asked_at = self._clock()
                status = await self._intron.status(job.intron_file_id)
        except IntronError as exc:
            after = await self._on_intron_error(job, STATUS, exc)
            self._pacer.wake()
            return after

        if status.is_transcribed:
            # It finished somewhere between the last answer "not yet" and this call.
            uploaded_at = job.uploaded_at or unfinished_at
            finished_after = (unfinished_at + asked_at) / 2 - uploaded_at
            await self._transcribed(job, status, finished_after)
            return Next.STAGE
        if status.is_failed:
            log.info("job %s: Intron reports %s", job.id, status.processing_status)
            unreadable = LINK_UNREADABLE if job.source_url else PROCESSING_FAILED
            await self._fail(
                job, self._tr(job).gettext(unreadable, status=status.processing_status)
            )
            return Next.STAGE
        if not status.is_known:
            log.warning(
                "job %s: unknown Intron status %r, still waiting", job.id, status.processing_status
            )
        await job_store.polled(
            job, asked_at=asked_at, rest_until=self._pacer.resting_until(self._clock())
        )
        self._pacer.wake()
        await self._show_progress(job)
        return Next.WAIT

    async def _transcribed(self, job: Job, status: JobStatus, intron_seconds: float) -> None:
        """Intron's transcript is in: learn its pace, store the answer, reply next."""
        # The length Intron measured, not the one the message claimed: a client may set
        # Telegram's duration at will, and a lie must not teach the pace for everyone.
        audio_seconds = status.processed_audio_duration_in_seconds or job.duration
        await self._pacer.learn(audio_seconds, intron_seconds)
        self._pacer.wake()
        now = self._clock()
        self._metrics.stage_finished("intron", now - (job.uploaded_at or now))
        await self._answer(
            job,
            result=status.stored_data(),
            processed_seconds=status.processed_audio_duration_in_seconds,
            transcribed_at=now,
            intron_file_id=job.intron_file_id,
            uploaded_at=job.uploaded_at,
        )
        log.info("job %s: transcribed", job.id)

    async def _reply(self, job: Job) -> Next:
        if job.next_run_at > self._clock():
            return Next.WAIT  # a delivery retry not yet due
        parts = await self._stored_parts(job)
        chat_id = await current_chat_id(job.chat_id)
        try:
            if job.part_in_flight is not None:
                # The process died while this part was on its way, most likely waiting for
                # Telegram's answer: the chat probably has it, so it is not sent twice. Unless
                # Telegram was failing this part already: then it is sent again.
                taken = job.attempts == 0
                log.warning(
                    "job %s: part %d was on its way (taken: %s)", job.id, job.parts_sent, taken
                )
                if taken:
                    # Probably, not surely: killed before the request left, the chat lacks it,
                    # and nothing Telegram offers a bot can tell. The chat is told, with a way
                    # to get the result again, rather than a part silently missing.
                    await self._offer_resend(job, chat_id)
                await job_store.resumed_part(job, taken=taken)
            while job.parts_sent < len(parts):
                chat_id = await self._send_part(job, parts[job.parts_sent], chat_id)
        except RetryAfter as exc:
            wait = retry_after_seconds(exc)
            await self._retry_later(job, "Telegram flood limit", delay=wait)
            return Next.WAIT
        except (Forbidden, BadRequest) as exc:
            return await self._refused(job, exc)
        except NetworkError as exc:
            return await self._telegram_unreachable(job, exc)
        await self._finish(job, JobState.FAILED if job.failure else JobState.DELIVERED)
        # The handler writes the status message's id, possibly after this job started, and
        # only while the job is unfinished: read it after finishing, so that one of the two
        # always sees it and removes the message (release_job).
        status_message_id = await job_store.status_message_of(job.id)
        await self._replier.delete(job.chat_id, status_message_id)
        return Next.WAIT

    async def _offer_resend(self, job: Job, chat_id: int) -> None:
        """The status message becomes the notice that a part may be missing, and stays."""
        tr = self._tr(job)
        reply_to_id, thread_id = threading_in(job, chat_id)
        await self._replier.notice(
            chat_id,
            tr.gettext(MAYBE_MISSING),
            resend_keyboard(job.id, tr),
            status_message_id=await job_store.status_message_of(job.id),
            reply_to_id=reply_to_id,
            thread_id=thread_id,
        )

    async def _refused(self, job: Job, exc: Forbidden | BadRequest) -> Next:
        if isinstance(exc, Forbidden):
            # The user blocked the bot or left: nobody can be told. The result stays stored
            # for /history, should they come back.
            log.warning("job %s: Telegram refused the reply: %s", job.id, exc.message)
            await self._finish(job, JobState.FAILED)
            return Next.WAIT
        log.warning("job %s: Telegram rejected a reply message: %s", job.id, exc.message)
        if job.failure or is_refusal(exc, Refusal.CHAT_GONE):
            await self._finish(job, JobState.FAILED)
            return Next.WAIT
        # The result stays, resendable.
        await self._fail(job, self._tr(job).gettext(RESULT_REFUSED))
        return Next.STAGE

    async def _telegram_unreachable(self, job: Job, exc: NetworkError) -> Next:
        waited = self._clock() - (job.reply_since or self._clock())
        if waited >= self._config.delivery_give_up_seconds:
            log.error(
                "job %s: Telegram unreachable for %.0fs (%s); the result waits in /history",
                job.id,
                waited,
                type(exc).__name__,
            )
            await self._finish(job, JobState.FAILED)
            return Next.WAIT
        await self._retry_later(
            job,
            f"reply failed: {type(exc).__name__}",
            attempts=job.attempts + 1,
            cap=self._config.delivery_retry_max_seconds,
            outage=True,
        )
        return Next.WAIT

    async def _send_part(self, job: Job, part: ReplyPart, chat_id: int) -> int:
        """Send the job's next part; returns the chat id it went to, which changes when
        Telegram says the group was upgraded (the part is then sent there)."""
        index = job.parts_sent
        await job_store.still_stored(job)  # where a /forget is noticed
        reply_to_id, thread_id = threading_in(job, chat_id)

        async def leaving() -> None:
            # Recorded once the part's turn under Telegram's limits has come, not before: a
            # crash (or an instance killed) while it still waited leaves no mark that it may
            # have gone, and whoever resumes the job sends it.
            await job_store.part_leaving(job, index)

        try:
            marker = BEFORE_SENDING.set(leaving)
            try:
                await self._replier.send_part(
                    chat_id,
                    part,
                    reply_to_id=reply_to_id,
                    thread_id=thread_id,
                    markup=keyboard_of(job.reply, index),
                )
            finally:
                BEFORE_SENDING.reset(marker)
        except asyncio.CancelledError:
            # Stopped (not killed) mid-send, after the grace period: the part is most likely
            # still waiting its turn under the chat's flood limit, so it has not left.
            await asyncio.shield(job_store.part_not_sent(job))
            raise
        except ChatMigrated as exc:
            await job_store.part_not_sent(job)
            await record_migration(chat_id, exc.new_chat_id)
            log.info("job %s: the group was upgraded; replying in the supergroup", job.id)
            return exc.new_chat_id
        except NetworkError as exc:
            # The answer lost on its way back, from a Telegram that was working a moment ago and
            # answers the next question at once: the message was slow, not lost. In an outage
            # (this part failed before, or the check fails too) it may well be lost: send again.
            if (
                not may_have_arrived(exc)
                or job.attempts > 0
                or not await self._replier.answering(chat_id)
            ):
                await job_store.part_not_sent(job)
                raise
            log.warning("job %s: part %d unanswered, Telegram up: taken", job.id, index)
        except Exception:
            await job_store.part_not_sent(job)  # refused, or never sent
            raise
        await job_store.part_sent(job, index)
        return chat_id

    async def _stored_parts(self, job: Job) -> list[ReplyPart]:
        if job.reply is None:  # a job that became ready before answers were stored
            await job_store.store_reply(job, parts_to_json(answer_parts(job, self._tr(job))))
        return parts_from_json(job.reply)

    # -- what each outcome means ----------------------------------------------------------

    def _tr(self, job: Job) -> Translator:
        """The language the job is answered in, stored when its recording arrived."""
        return self._locales.translator(job.language)

    async def _on_intron_error(self, job: Job, endpoint: str, exc: IntronError) -> Next:
        """One place decides what each kind of Intron failure means for the job."""
        if isinstance(exc, IntronRateLimited):
            await self._budget.pause(endpoint, exc.retry_after)
            await self._retry_later(job, f"{endpoint} rate limited", delay=exc.retry_after)
            return Next.WAIT
        if isinstance(exc, IntronTransientError):
            await self._retry_later(
                job, f"{endpoint} failed: {exc}", attempts=job.attempts + 1, outage=True
            )
            return Next.WAIT
        if isinstance(exc, IntronAuthError):
            log.error("job %s: Intron rejected the API key; check INTRON_API_KEY", job.id)
            await self._fail(job, self._tr(job).gettext(MISCONFIGURED))
            return Next.STAGE
        if isinstance(exc, IntronRejected):
            log.info("job %s: %s rejected (HTTP %d)", job.id, endpoint, exc.status_code)
            template = self._rejected_template(job, exc)
            if template is not None:
                text = self._tr(job).gettext(
                    TEMPLATE_REJECTED, template=template, reason=exc.message
                )
            else:
                rejected = LINK_REJECTED if job.source_url else REJECTED
                text = self._tr(job).gettext(rejected, reason=exc.message)
            await self._fail(job, text)
            return Next.STAGE
        raise exc

    def _rejected_template(self, job: Job, exc: IntronRejected) -> str | None:
        """The name of the job's template when Intron's refusal is about it (its reason names a
        template, or the id), so the chat learns it is the template, not the recording."""
        template_id = job.options.get("template_id") if isinstance(job.options, dict) else None
        if not template_id:
            return None
        reason = exc.message.lower()
        if "template" not in reason and template_id.lower() not in reason:
            return None
        return self._config.templates.get(template_id, template_id)

    async def _fail(self, job: Job, message: str) -> None:
        """The chat is told `message` instead; a result already stored stays for /history."""
        reply = parts_to_json([OutgoingText(message, ())])
        await job_store.ready_to_reply(job, reply=reply, now=self._clock(), failure=message)

    async def _answer(self, job: Job, **outcome: object) -> None:
        """Store the outcome and its answer as it will be sent, so a resumed reply sends
        exactly the rest."""
        if self._extras is not None and job.speakers is None and outcome.get("result"):
            job.result = outcome["result"]
            speakers = await self._extras.speakers(job)  # the chat's default, if it has one
            if speakers is not None:
                outcome["speakers"] = speakers
        for name, value in outcome.items():
            setattr(job, name, value)  # the answer is rendered from them
        tr = self._tr(job)
        parts, keyboard_at = rendered_answer(job, tr)
        keyboard = None
        if keyboard_at is not None and self._extras is not None:
            keyboard = await self._extras.keyboard(job, tr)
        reply = parts_to_json(parts, keyboard=keyboard, keyboard_at=keyboard_at)
        await job_store.ready_to_reply(job, reply=reply, now=self._clock(), **outcome)

    async def _finish(self, job: Job, state: JobState) -> None:
        await job_store.finish(job, state)
        self._progress_shown_at.pop(job.id, None)
        if job.resend_asked_at is None:
            self._metrics.job_finished(job, self._clock())
        else:
            self._metrics.result_resent()  # not a new result: its latency was counted
        log.info("job %s: %s", job.id, state.value)

    async def _retry_later(
        self,
        job: Job,
        why: str,
        *,
        attempts: int | None = None,
        delay: float | None = None,
        cap: float = BACKOFF_CAP_SECONDS,
        outage: bool = False,
    ) -> None:
        """Due again after `delay`, or a backoff on `attempts` (the count of failures so far;
        unchanged when None: a flood limit or a pause is not the job's failure). A retry
        because Telegram or Intron is away (`outage`) is logged at DEBUG only: the
        dependency's outage log tells the operator, in a line a minute rather than one a job."""
        counted = job.attempts if attempts is None else attempts
        wait = delay if delay is not None else backoff(counted, cap)
        await job_store.retry_at(job, self._clock() + wait, attempts=counted)
        level = logging.DEBUG if outage else logging.WARNING
        log.log(level, "job %s: %s; retrying in %.1fs", job.id, why, wait)

    async def _show_progress(self, job: Job, *, force: bool = False) -> None:
        """Elapsed time on the status message, no more often than Telegram tolerates."""
        if not _shows_progress(job) or job.status_message_id is None:
            # No status message to edit: a quiet chat asked for no signs of progress (not even
            # "typing…"), or its "Received" could not be sent.
            return
        now = self._clock()
        last = self._progress_shown_at.get(job.id)
        if not force and last is not None and now - last < PROGRESS_INTERVAL_SECONDS:
            return
        self._progress_shown_at[job.id] = now
        elapsed = int(now - _started_at(job))
        await self._replier.typing(job.chat_id)
        await self._replier.edit_status(
            job.chat_id,
            job.status_message_id,
            self._tr(job).gettext(TRANSCRIBING_TEXT, elapsed=f"{elapsed // 60}:{elapsed % 60:02d}"),
        )


def _shows_progress(job: Job) -> bool:
    """Telegram allows a bot 20 messages a minute in a group, edits and chat actions included:
    there, the results matter more than a ticking status message."""
    return job.chat_type not in ("group", "supergroup")


def _discard(audio: LocalAudio, job: Job) -> None:
    """The downloaded audio is deleted after an upload; a local Bot API server's copy is kept
    while the upload is still to be tried again, and deleted once Intron has it."""
    audio.discard(sent=job.state != JobState.UPLOADING)


def _started_at(job: Job) -> float:
    """When the job's work began: its arrival, or the moment its chat agreed to the consent
    text if it was held until then (the time it waited for a person is not the engine's)."""
    return job.released_at if job.released_at is not None else job.created_at.timestamp()
