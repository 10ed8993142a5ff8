"""Fetching a user's audio from Telegram onto local disk, streamed.

python-telegram-bot's own download reads the whole file into memory first; with many
concurrent 20 MB files that is the bot's whole memory budget, so the bytes are streamed to a
temporary file here instead. The download URL contains the bot token: it is never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import httpx
from telegram import Bot
from telegram.error import BadRequest, NetworkError, TelegramError

from bot.i18n import N_, Phrase
from bot.outages import Outages
from bot.telegram_io.errors import Refusal, is_refusal

log = logging.getLogger(__name__)

CHUNK_SIZE = 64 * 1024


EMPTY_FILE = Phrase(N_("This recording is empty (0 bytes). Please record it again."))


class AudioUnavailable(Exception):
    """Telegram will not give us this file; retrying will not change that. `phrase` is what
    the user is told, in their language."""

    def __init__(self, phrase: Phrase) -> None:
        super().__init__(phrase.message)
        self.phrase = phrase


class DownloadFailed(Exception):
    """A network or server hiccup while fetching the file: worth another try."""


@dataclass(frozen=True)
class LocalAudio:
    path: Path
    size: int
    # True when a local Bot API server handed us its own copy (in its working folder) rather
    # than a download into ours: that copy would otherwise stay on its disk for about a day.
    server_copy: bool = False

    def discard(self, *, sent: bool = True) -> None:
        """Delete the file once nothing needs its bytes. A server's copy goes only once the
        audio was `sent` (Intron has it, or the job is over): a retry reads it again."""
        if self.server_copy and not sent:
            return
        try:
            self.path.unlink(missing_ok=True)
        except OSError as exc:  # the server's folder may not be ours to write in
            log.warning("could not delete a downloaded recording: %s", type(exc).__name__)


class TelegramFileFetcher:
    def __init__(
        self, bot: Bot, *, local_mode: bool, temp_dir: Path, outages: Outages | None = None
    ) -> None:
        self._bot = bot
        # getFile passes the rate limiter, which tells the outage log; the download does not.
        self._telegram = (outages or Outages()).telegram
        self._local_mode = local_mode
        self._temp_dir = temp_dir
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=10.0))

    def clear_leftovers(self) -> int:
        """A process killed mid-download leaves its partial files behind; the folder is this
        worker's own, so whatever is in it at start-up is garbage."""
        self._temp_dir.mkdir(parents=True, exist_ok=True)
        removed = 0
        for leftover in self._temp_dir.glob("voice-*.part"):
            leftover.unlink(missing_ok=True)
            removed += 1
        return removed

    async def aclose(self) -> None:
        await self._http.aclose()
        # The folder is this process's own: leave none behind once it holds nothing.
        with contextlib.suppress(OSError):
            self._temp_dir.rmdir()

    async def fetch(self, file_id: str, *, max_bytes: int) -> LocalAudio:
        try:
            tg_file = await self._bot.get_file(file_id)
        except BadRequest as exc:
            if is_refusal(exc, Refusal.FILE_TOO_BIG):
                raise AudioUnavailable(too_big(max_bytes)) from exc
            raise AudioUnavailable(
                Phrase(N_("Telegram no longer serves this file. Please send the recording again."))
            ) from exc
        except NetworkError as exc:
            raise DownloadFailed(type(exc).__name__) from exc
        if not tg_file.file_path:
            raise AudioUnavailable(
                Phrase(N_("Telegram did not give a path for this file. Please send it again."))
            )
        if tg_file.file_size and tg_file.file_size > max_bytes:
            raise AudioUnavailable(too_big(max_bytes))

        if self._local_mode and not tg_file.file_path.startswith(("http://", "https://")):
            path = Path(tg_file.file_path)
            size = (await asyncio.to_thread(path.stat)).st_size
            return _checked(LocalAudio(path, size, server_copy=True), max_bytes)
        return _checked(await self._stream(tg_file.file_path, max_bytes), max_bytes)

    async def _stream(self, url: str, max_bytes: int) -> LocalAudio:
        fd, name = tempfile.mkstemp(prefix="voice-", suffix=".part", dir=self._temp_dir)
        audio = LocalAudio(Path(name), 0)
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                async with self._http.stream("GET", url) as response:
                    if response.status_code >= 500:
                        self._telegram.count("file download", f"HTTP {response.status_code}")
                        raise DownloadFailed(f"HTTP {response.status_code}")
                    self._telegram.worked()
                    if response.status_code >= 400:
                        raise AudioUnavailable(
                            Phrase(
                                N_("Telegram refused to hand over this file. Please send it again.")
                            )
                        )
                    async for chunk in response.aiter_bytes(CHUNK_SIZE):
                        size += len(chunk)
                        if size > max_bytes:
                            raise AudioUnavailable(too_big(max_bytes))
                        out.write(chunk)
        except httpx.TransportError as exc:
            audio.discard()
            self._telegram.outage(exc, "file download")
            raise DownloadFailed(type(exc).__name__) from exc
        except BaseException:
            audio.discard()
            raise
        return LocalAudio(audio.path, size)


async def still_served(bot: Bot, file_id: str) -> bool:
    """Whether Telegram still hands this file to the bot: False only when it says it does not
    (the refusal a download would get). A failure to ask says nothing; the download finds out."""
    try:
        await bot.get_file(file_id)
    except BadRequest as exc:
        # Too big to download is a file Telegram has: the job explains the size.
        return is_refusal(exc, Refusal.FILE_TOO_BIG)
    except TelegramError:
        return True
    return True


def _checked(audio: LocalAudio, max_bytes: int) -> LocalAudio:
    if audio.size == 0:
        audio.discard()
        raise AudioUnavailable(EMPTY_FILE)
    if audio.size > max_bytes:
        audio.discard()
        raise AudioUnavailable(too_big(max_bytes))
    return audio


def too_big(max_bytes: int) -> Phrase:
    return Phrase(
        N_(
            "This file is larger than {mb} MB, the most Telegram lets a bot download. "
            "Please send a shorter recording, or split it into parts."
        ),
        {"mb": max_bytes // (1024 * 1024)},
    )
