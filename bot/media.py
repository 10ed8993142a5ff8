"""Which messages carry audio the bot accepts, and what it knows about that audio up front."""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from pathlib import PurePosixPath

from telegram import Message

from bot.telegram_files import too_big_text

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

ACCEPTED_TEXT = (
    "Send me a voice note, an audio file (mp3, m4a, wav, ogg, flac, webm), a video note or a "
    "video, and I will reply with the transcript."
)


@dataclass(frozen=True)
class AudioInput:
    kind: str  # voice, audio, video_note, video, document
    file_id: str
    file_name: str  # what Intron is told the file is called
    mime_type: str | None
    size: int | None
    duration: int | None

    def problem(self, max_bytes: int) -> str | None:
        """Why this audio cannot be transcribed, if that is clear before downloading it."""
        if self.size == 0:
            return "This recording is empty (0 bytes). Please record it again."
        if self.duration == 0 and self.kind in ("voice", "video_note"):
            return "This recording is empty (0 seconds). Please record it again."
        if self.size is not None and self.size > max_bytes:
            return too_big_text(max_bytes)
        return None


def audio_in(message: Message) -> AudioInput | None:
    """The audio a message carries, or None if it carries nothing the bot can transcribe."""
    if message.voice:
        v = message.voice
        return AudioInput(
            "voice", v.file_id, _name("voice", v.mime_type, ".ogg"), v.mime_type or "audio/ogg",
            v.file_size, v.duration,
        )  # fmt: skip
    if message.video_note:
        v = message.video_note
        return AudioInput(
            "video_note", v.file_id, "video_note.mp4", "video/mp4", v.file_size, v.duration
        )
    if message.audio:
        a = message.audio
        name = a.file_name or _name("audio", a.mime_type, ".mp3")
        return AudioInput("audio", a.file_id, name, a.mime_type, a.file_size, a.duration)
    if message.video:
        v = message.video
        name = v.file_name or _name("video", v.mime_type, ".mp4")
        return AudioInput("video", v.file_id, name, v.mime_type, v.file_size, v.duration)
    if message.document and _is_audio_document(
        message.document.mime_type, message.document.file_name
    ):
        d = message.document
        name = d.file_name or _name("audio", d.mime_type, ".bin")
        return AudioInput("document", d.file_id, name, d.mime_type, d.file_size, None)
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
