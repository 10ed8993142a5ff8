"""A job's answer as stored parts: rendered once, when the job is ready to reply, then sent
part by part from the database, so a resumed reply continues exactly where it stopped."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, MessageEntity

from bot.i18n import N_, Translator
from bot.intron.options import speaker_names
from bot.render import OutgoingText, ReportDocument, render_results
from bot.render.report import REPORT_CAPTION
from storage.models import Job

ReplyPart = OutgoingText | ReportDocument

SEND_AGAIN = N_("🔁 Send the result again")
# The callback data of a resend button: its prefix, then the job's id.
RESEND_PREFIX = "hist:"


def resend_keyboard(job_id: int, tr: Translator) -> InlineKeyboardMarkup:
    """One button that sends a finished job's stored result again (through /history's
    resend, with its cooldown)."""
    button = InlineKeyboardButton(tr.gettext(SEND_AGAIN), callback_data=f"{RESEND_PREFIX}{job_id}")
    return InlineKeyboardMarkup([[button]])


def result_parts(job: Job, tr: Translator) -> list[ReplyPart]:
    """The job's transcript and results as messages, then the report file if there is one,
    then what is written for the patient, headed in `tr`'s language."""
    return rendered_result(job, tr)[0]


def rendered_result(job: Job, tr: Translator) -> tuple[list[ReplyPart], int]:
    """The result's parts, and the index of the note's last part (the messages and report
    file before what is for the patient)."""
    report = render_results(
        job.result or {},
        audio_name=job.file_name,
        when=job.created_at or datetime.now(UTC),
        tr=tr,
        speakers=speaker_names(job.speakers, tr),
    )
    parts: list[ReplyPart] = list(report.messages)
    if report.document is not None:
        parts.append(report.document)
    note_end = len(parts) - 1
    parts.extend(report.for_patient)
    return parts, note_end


def answer_parts(job: Job, tr: Translator) -> list[ReplyPart]:
    """What answers the job now: its failure (stored as the chat was told), else its results."""
    return rendered_answer(job, tr)[0]


def rendered_answer(job: Job, tr: Translator) -> tuple[list[ReplyPart], int | None]:
    """The job's answer, and the index of the part a result's keyboard goes on (None for a
    failure, which has no buttons)."""
    if job.failure:
        return [OutgoingText(job.failure, ())], None
    return rendered_result(job, tr)


def threading_in(job: Job, chat_id: int) -> tuple[int | None, int | None]:
    """(message to reply to, forum topic) for the job's answer in `chat_id`: the recording and
    its topic where they are in that chat; none in a supergroup the group was upgraded to,
    which has none of the old group's messages."""
    if chat_id != job.chat_id:
        return None, None
    return job.message_id, job.message_thread_id


def parts_to_json(
    parts: Sequence[ReplyPart],
    *,
    keyboard: InlineKeyboardMarkup | None = None,
    keyboard_at: int | None = None,
) -> list[dict[str, Any]]:
    """The parts as stored; `keyboard` goes with part `keyboard_at` (stored with it, so a
    resumed reply sends the buttons it was rendered with)."""
    stored: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, ReportDocument):
            # The report is Markdown the renderer wrote as UTF-8.
            stored.append(
                {
                    "filename": part.filename,
                    "content": part.content.decode("utf-8"),
                    "caption": part.caption,
                }
            )
        else:
            stored.append({"text": part.text, "entities": [e.to_dict() for e in part.entities]})
    if keyboard is not None and keyboard_at is not None and 0 <= keyboard_at < len(stored):
        stored[keyboard_at]["keyboard"] = keyboard.to_dict()
    return stored


def keyboard_of(stored: Sequence[dict[str, Any]] | None, index: int) -> InlineKeyboardMarkup | None:
    """The keyboard stored with part `index`, if any."""
    if not stored or not 0 <= index < len(stored):
        return None
    keyboard = stored[index].get("keyboard")
    return InlineKeyboardMarkup.de_json(keyboard, None) if isinstance(keyboard, dict) else None


def parts_from_json(stored: Sequence[dict[str, Any]]) -> list[ReplyPart]:
    parts: list[ReplyPart] = []
    for item in stored:
        if "filename" in item:
            content = item["content"].encode("utf-8")
            # Parts stored before captions were translated keep the English one.
            caption = item.get("caption", REPORT_CAPTION)
            parts.append(ReportDocument(item["filename"], content, caption))
        else:
            entities = tuple(MessageEntity.de_json(e, None) for e in item["entities"])
            parts.append(OutgoingText(item["text"], entities))
    return parts
