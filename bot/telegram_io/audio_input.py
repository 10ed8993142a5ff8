"""Which messages carry audio the bot accepts, and what it knows about that audio up front."""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from pathlib import PurePosixPath

from telegram import Message

from bot.i18n import N_, Phrase
from bot.telegram_io.durations import as_seconds
from bot.telegram_io.files import EMPTY_FILE, too_big
from bot.telegram_io.links import link_file_name

AUDIO_EXTENSIONS = frozenset(
    {
        ".wav",
        ".mp3",
        ".m4a",
        ".ogg",
        ".oga",
        ".opus",
        ".webm",
        ".flac",
        ".aac",
        ".mp4",
        ".amr",
        ".wma",
    }
)

ACCEPTED_TEXT = N_(
    "Send me a voice note, an audio file (mp3, m4a, wav, ogg, flac, webm), a video note or a "
    "video, and I will reply with the transcript."
)


LINK = "link"


@dataclass(frozen=True)
class AudioInput:
    kind: str  # voice, audio, video_note, video, document, or link
    file_id: str  # Telegram's; "" for a link
    file_name: str  # what Intron is told the file is called
    mime_type: str | None
    size: int | None
    duration: int | None  # None when unknown, as for every link
    # The same for every copy of a file in every chat (forwarded notes); None for a link.
    unique_id: str | None = None
    url: str | None = None  # a link's URL, checked, which Intron reads the audio from

    @classmethod
    def of_link(cls, url: str) -> AudioInput:
        return cls(LINK, "", link_file_name(url), None, None, None, url=url)

    def problem(self, max_bytes: int, max_minutes: float | None = None) -> Phrase | None:
        """Why this audio cannot be transcribed, if that is clear before downloading it."""
        if self.size == 0:
            return EMPTY_FILE
        if self.duration == 0 and self.kind in ("voice", "video_note"):
            return Phrase(N_("This recording is empty (0 seconds). Please record it again."))
        if self.size is not None and self.size > max_bytes:
            return too_big(max_bytes)
        if (
            max_minutes is not None
            and self.duration is not None
            and self.duration > max_minutes * 60
        ):
            return Phrase(
                N_(
                    "This recording is {minutes} minutes long; this bot takes recordings of at "
                    "most {limit} minutes. Please send a shorter one, or split it into parts."
                ),
                {"minutes": round(self.duration / 60), "limit": f"{max_minutes:g}"},
            )
        return None


def audio_in(message: Message) -> AudioInput | None:
    """The audio a message carries, or None if it carries nothing the bot can transcribe."""
    document = message.document
    if document and not _is_audio_document(document.mime_type, document.file_name):
        document = None
    for kind, media, default_mime, default_ext in (
        ("voice", message.voice, "audio/ogg", ".ogg"),
        ("video_note", message.video_note, "video/mp4", ".mp4"),
        ("audio", message.audio, None, ".mp3"),
        ("video", message.video, None, ".mp4"),
        ("document", document, None, ".bin"),
    ):
        if media is None:
            continue
        mime_type = getattr(media, "mime_type", None) or default_mime
        stem = "audio" if kind == "document" else kind
        name = getattr(media, "file_name", None) or _name(stem, mime_type, default_ext)
        duration = as_seconds(getattr(media, "duration", None))
        unique_id = getattr(media, "file_unique_id", None)
        return AudioInput(
            kind, media.file_id, name, mime_type, media.file_size, duration, unique_id
        )
    return None


def _is_audio_document(mime_type: str | None, file_name: str | None) -> bool:
    if mime_type and mime_type.startswith(("audio/", "video/")):
        return True
    return bool(file_name) and PurePosixPath(file_name.lower()).suffix in AUDIO_EXTENSIONS


def _name(stem: str, mime_type: str | None, fallback_ext: str) -> str:
    ext = mimetypes.guess_extension(mime_type or "") or fallback_ext
    if ext in (".oga", ".opus"):
        ext = ".ogg"
    return stem + ext
