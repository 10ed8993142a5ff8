"""The stages' decisions, one job at a time: the real pipeline and job store on a fresh SQLite
database, Intron answering through an `httpx.MockTransport`, and the chat side a recorder of
what would have been sent (the engine's `ChatReplies` Protocol). Fast, and each case names what
the stage decided: rest, answer now, wait out a limit, or tell the chat."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from telegram import InlineKeyboardMarkup

from bot.engine.budget import RateBudget
from bot.engine.pipeline import MISCONFIGURED, JobPipeline, PipelineConfig
from bot.engine.poll_pacer import RESTING_SECONDS, PollPacer
from bot.i18n import Locales
from bot.intron import STATUS, SYNC_UPLOAD, UPLOAD, IntronClient
from bot.render import OutgoingText, ReportDocument
from bot.telegram_io.files import LocalAudio
from storage.db import close_database, init_database
from storage.models import Job, JobState

CHAT = 77
Answer = Callable[[httpx.Request], httpx.Response]


class RecordedChat:
    """Stands in for Telegram: keeps the texts the stages sent."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.statuses: list[str] = []

    async def send_part(
        self,
        chat_id: int,
        part: OutgoingText | ReportDocument,
        *,
        reply_to_id: int | None = None,
        thread_id: int | None = None,
        markup: InlineKeyboardMarkup | None = None,
    ) -> int:
        self.sent.append(part.text if isinstance(part, OutgoingText) else part.caption or "")
        return len(self.sent)

    async def edit_status(self, chat_id: int, message_id: int | None, text: str) -> None:
        self.statuses.append(text)

    async def notice(
        self,
        chat_id: int,
        text: str,
        markup: InlineKeyboardMarkup,
        *,
        status_message_id: int | None,
        reply_to_id: int | None = None,
        thread_id: int | None = None,
    ) -> None:
        self.statuses.append(text)

    async def delete(self, chat_id: int, message_id: int | None) -> None:
        pass

    async def typing(self, chat_id: int) -> None:
        pass

    async def answering(self, chat_id: int) -> bool:
        return True


class NoDownloads:
    async def fetch(self, file_id: str, *, max_bytes: int) -> LocalAudio:
        raise AssertionError("a link job downloads nothing")


def intron_answering(answer: Answer) -> IntronClient:
    return IntronClient("http://intron.test", "key", transport=httpx.MockTransport(answer))


def reply(status: int, payload: dict[str, object], **headers: str) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(payload).encode(), headers=headers)


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[None]:
    await init_database(f"sqlite://{tmp_path / 'stages.sqlite3'}")
    yield
    await close_database()


class RecordedPace(PollPacer):
    """The poll pacer, noting what each finished job taught it."""

    def __init__(self, budget: RateBudget) -> None:
        super().__init__(budget, window=60.0)
        self.taught: list[tuple[float | None, float]] = []

    async def learn(self, audio_seconds: float | None, intron_seconds: float) -> None:
        self.taught.append((audio_seconds, intron_seconds))


def pipeline(answer: Answer, chat: RecordedChat, pacer: RecordedPace | None = None) -> JobPipeline:
    budget = RateBudget({UPLOAD: 60, STATUS: 100, SYNC_UPLOAD: 1})
    return JobPipeline(
        intron=intron_answering(answer),
        budget=budget,
        fetcher=NoDownloads(),
        replier=chat,
        pacer=pacer or RecordedPace(budget),
        config=PipelineConfig(max_download_bytes=20_000_000, job_timeout_seconds=3600),
        clock=time.time,
        locales=Locales.load(),
    )


async def link_job(**fields: object) -> Job:
    return await Job.create(
        chat_id=CHAT,
        message_id=int(time.time() * 1e6),
        media_kind="link",
        telegram_file_id="",
        source_url="https://example.org/call.mp3",
        file_name="call.mp3",
        options={},
        next_run_at=0.0,
        **fields,
    )


async def test_a_poll_not_done_yet_rests_the_job_and_sends_nothing(database: None) -> None:
    chat = RecordedChat()
    job = await link_job(state=JobState.AT_INTRON, intron_file_id="f1", uploaded_at=time.time())

    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/file/v1/status/f1"
        return reply(200, {"status": "Ok", "data": {"processing_status": "FILE_PROCESSING"}})

    before = time.time()
    await pipeline(answer, chat).advance(job)

    stored = await Job.get(id=job.id)
    assert stored.state == JobState.AT_INTRON
    assert stored.polled_at is not None and stored.polled_at >= before
    assert stored.next_run_at >= before + RESTING_SECONDS
    assert chat.sent == []


async def test_a_finished_poll_is_answered_in_the_same_advance(database: None) -> None:
    chat = RecordedChat()
    pace = RecordedPace(RateBudget({STATUS: 100}))
    # The message claimed 1 s of audio (a client sets Telegram's duration at will).
    job = await link_job(
        state=JobState.AT_INTRON, intron_file_id="f2", uploaded_at=time.time(), duration=1
    )

    def answer(request: httpx.Request) -> httpx.Response:
        data = {
            "processing_status": "FILE_TRANSCRIBED",
            "audio_file_name": "call.mp3",
            "audio_transcript": "The patient reports a cough for three days.",
            "processed_audio_duration_in_seconds": 12,
        }
        return reply(200, {"status": "Ok", "data": data})

    await pipeline(answer, chat, pace).advance(job)

    assert (await Job.get(id=job.id)).state == JobState.DELIVERED
    assert any("cough for three days" in text for text in chat.sent)
    # The pace learns the length Intron measured, not the one claimed.
    assert [audio for audio, _ in pace.taught] == [12]


async def test_a_rate_limited_upload_waits_out_retry_after_and_is_not_a_failure(
    database: None,
) -> None:
    chat = RecordedChat()
    job = await link_job()
    uploads: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        uploads.append(request)
        return reply(429, {"status": "Error", "message": "slow down"}, **{"Retry-After": "7"})

    before = time.time()
    await pipeline(answer, chat).advance(job)

    stored = await Job.get(id=job.id)
    assert len(uploads) == 1 and uploads[0].url.path == "/file/v1/upload"
    assert stored.state == JobState.UPLOADING
    assert stored.attempts == 0
    assert before + 7 <= stored.next_run_at <= time.time() + 7
    assert chat.sent == []


async def test_a_refused_api_key_is_told_to_the_chat_once_and_ends_the_job(
    database: None,
) -> None:
    chat = RecordedChat()
    job = await link_job()

    def answer(request: httpx.Request) -> httpx.Response:
        return reply(401, {"status": "Error", "message": "invalid api key"})

    await pipeline(answer, chat).advance(job)

    stored = await Job.get(id=job.id)
    assert stored.state == JobState.FAILED
    assert chat.sent == [str(MISCONFIGURED)]
