"""Files the fake stores and serves, and the media objects tests attach to user messages."""

from __future__ import annotations

import mimetypes
import secrets
from pathlib import Path
from typing import Any

from tests.fakes.telegram.models import FileEntry, JSONDict

_MIME_SUFFIXES = {
    "audio/ogg": ".oga",
    "audio/opus": ".opus",
    "audio/mpeg": ".mp3",
    "audio/mp3": ".mp3",
    "audio/mp4": ".m4a",
    "audio/x-m4a": ".m4a",
    "audio/m4a": ".m4a",
    "audio/aac": ".aac",
    "audio/wav": ".wav",
    "audio/x-wav": ".wav",
    "audio/flac": ".flac",
    "audio/webm": ".webm",
    "video/mp4": ".mp4",
    "video/webm": ".webm",
    "video/quicktime": ".mov",
    "application/pdf": ".pdf",
    "text/plain": ".txt",
}


def suffix_for(mime_type: str | None, file_name: str | None = None, default: str = "") -> str:
    if file_name and "." in file_name.rsplit("/", 1)[-1]:
        return "." + file_name.rsplit(".", 1)[-1].lower()
    if mime_type:
        mime = mime_type.split(";", 1)[0].strip().lower()
        if mime in _MIME_SUFFIXES:
            return _MIME_SUFFIXES[mime]
        guessed = mimetypes.guess_extension(mime)
        if guessed:
            return guessed
    return default


class FileStore:
    """Registered files by id and by download path; the bottom layer of ``FakeTelegram``."""

    def __init__(self, *, max_download_bytes: int) -> None:
        self.max_download_bytes = max_download_bytes
        self._files: dict[str, FileEntry] = {}
        self._files_by_path: dict[str, FileEntry] = {}
        self._file_counter = 0
        # Set: act as a local Bot API server (`--local`): getFile puts the file in this folder
        # (again, if it was deleted) and answers its absolute path instead of a download path.
        self.local_files_dir: Path | None = None

    def _register_file(self, data: bytes, folder: str, suffix: str) -> FileEntry:
        n = self._file_counter
        self._file_counter += 1
        entry = FileEntry(
            file_id=f"FAKE-{n:05d}-{secrets.token_hex(8)}",
            file_unique_id=f"AgADu{n:05d}",
            file_path=f"{folder}/file_{n}{suffix}",
            data=bytes(data),
        )
        self._files[entry.file_id] = entry
        self._files_by_path[entry.file_path] = entry
        return entry

    def forwarded(self, media: JSONDict) -> JSONDict:
        """The media of a copy of `media` forwarded to another chat: Telegram gives it a file
        id of its own but the same file_unique_id, and the same content."""
        original = self._files[media["file_id"]]
        folder, _, name = original.file_path.partition("/")
        suffix = "." + name.rsplit(".", 1)[1] if "." in name else ""
        copy = self._register_file(original.data, folder, suffix)
        copy.file_unique_id = original.file_unique_id
        return {**media, "file_id": copy.file_id}

    def add_file(self, data: bytes, *, file_path_suffix: str = ".oga") -> str:
        return self._register_file(data, "voice", file_path_suffix).file_id

    def forget_file(self, file_id: str) -> None:
        self._files[file_id].forgotten = True

    def _media(self, data: bytes, folder: str, suffix: str, **fields: Any) -> JSONDict:
        entry = self._register_file(data, folder, suffix)
        media: JSONDict = {"file_id": entry.file_id, "file_unique_id": entry.file_unique_id}
        media.update({key: value for key, value in fields.items() if value is not None})
        media["file_size"] = len(data)
        return media

    def voice(self, data: bytes, *, duration: int = 7, mime_type: str = "audio/ogg") -> JSONDict:
        suffix = suffix_for(mime_type, default=".oga")
        return self._media(data, "voice", suffix, duration=duration, mime_type=mime_type)

    def audio(
        self,
        data: bytes,
        *,
        duration: int = 6,
        mime_type: str = "audio/mpeg",
        file_name: str = "audio.mp3",
    ) -> JSONDict:
        suffix = suffix_for(mime_type, file_name, default=".mp3")
        return self._media(
            data, "music", suffix, duration=duration, mime_type=mime_type, file_name=file_name
        )

    def video_note(self, data: bytes, *, duration: int = 4, length: int = 240) -> JSONDict:
        return self._media(data, "video_notes", ".mp4", length=length, duration=duration)

    def video(
        self,
        data: bytes,
        *,
        duration: int = 4,
        mime_type: str = "video/mp4",
        file_name: str | None = None,
    ) -> JSONDict:
        suffix = suffix_for(mime_type, file_name, default=".mp4")
        return self._media(
            data,
            "videos",
            suffix,
            width=240,
            height=240,
            duration=duration,
            mime_type=mime_type,
            file_name=file_name,
        )

    def document(self, data: bytes, *, mime_type: str | None, file_name: str) -> JSONDict:
        suffix = suffix_for(mime_type, file_name)
        return self._media(data, "documents", suffix, file_name=file_name, mime_type=mime_type)
