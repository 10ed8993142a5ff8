"""A finished job as messages (transcript first, one section per result) and a file."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from telegram import MessageEntity

from bot.i18n import ENGLISH, N_, Translator
from bot.intron.options import FOR_THE_PATIENT, RESULT_LABELS, TRANSCRIPT_LABEL, readable_name
from bot.render.markdown import to_telegram
from bot.render.split import split_text, split_with_glue
from bot.render.text import (
    MAX_MESSAGE_LEN,
    OutgoingText,
    clean_text,
    concat,
    fits,
    utf16_len,
)

NO_SPEECH = N_("(no speech recognised)")
UNKNOWN_RESULT_PREFIX = "🔹 "
SECTION_SEPARATOR = "\n\n"
RESULT_PREFIX = "transcript_"
FILENAME_FALLBACK = "transcript"
FILENAME_MAX_LEN = 40
REPORT_CAPTION = N_("Full report")


@dataclass(frozen=True)
class ReportDocument:
    filename: str
    content: bytes
    caption: str = REPORT_CAPTION  # shown under the file, in the chat's language


@dataclass(frozen=True)
class RenderedReport:
    messages: tuple[OutgoingText, ...]
    document: ReportDocument | None
    # What is written for the patient (follow-up instructions), in messages of its own sent
    # after the note, so it can be forwarded alone; the report file has it too.
    for_patient: tuple[OutgoingText, ...] = ()


# --- Transcript ------------------------------------------------------------------------------

_SPEAKER_LINE = re.compile(r"^\s*SPEAKER_(\d+)\s*:\s*(.*?)\s*$", re.IGNORECASE)
# Share of non-empty lines that must be speaker lines: Intron can wrap a long turn.
_SPEAKER_LINE_SHARE = 0.8


@dataclass(frozen=True)
class _Turns:
    preamble: str  # text before the first speaker line, if any
    turns: tuple[tuple[int, str], ...]  # (speaker number from 1, what they said)


def _parse_turns(transcript: str) -> _Turns | None:
    lines = [line for line in transcript.splitlines() if line.strip()]
    matches = [_SPEAKER_LINE.match(line) for line in lines]
    hits = sum(match is not None for match in matches)
    if not lines or hits == 0 or hits < _SPEAKER_LINE_SHARE * len(lines):
        return None
    numbers: dict[int, int] = {}
    preamble: list[str] = []
    turns: list[tuple[int, list[str]]] = []
    for line, match in zip(lines, matches, strict=True):
        if match is None:
            (turns[-1][1] if turns else preamble).append(line.strip())
            continue
        speaker = numbers.setdefault(int(match.group(1)), len(numbers) + 1)
        if turns and turns[-1][0] == speaker:
            turns[-1][1].append(match.group(2))
        else:
            turns.append((speaker, [match.group(2)]))
    return _Turns(
        " ".join(preamble),
        tuple((speaker, " ".join(p for p in said if p)) for speaker, said in turns),
    )


def _speaker(number: int, tr: Translator, names: Sequence[str] = ()) -> str:
    """The name speaker `number` (from 1) was given, else "Speaker N"."""
    if 0 < number <= len(names) and names[number - 1].strip():
        return clean_text(names[number - 1]).strip()
    return tr.gettext("Speaker {number}", number=number)


def has_turns(transcript: object) -> bool:
    """Whether a transcript is speaker-separated (its speakers can be named)."""
    return isinstance(transcript, str) and _parse_turns(clean_text(transcript)) is not None


def format_turns(
    transcript: str, tr: Translator = ENGLISH, names: Sequence[str] = ()
) -> OutgoingText | None:
    """A speaker-separated transcript as one paragraph per turn, the speaker in bold: the
    name given to them in `names` (in the order they first speak), else "Speaker N".

    None when the transcript is not speaker-separated. The text is speech, not Markdown.
    """
    parsed = _parse_turns(clean_text(transcript))
    if parsed is None:
        return None
    pieces: list[str] = []
    entities: list[MessageEntity] = []
    used = 0
    if parsed.preamble:
        pieces.append(parsed.preamble + SECTION_SEPARATOR)
        used += utf16_len(pieces[-1])
    for index, (number, said) in enumerate(parsed.turns):
        label = _speaker(number, tr, names)
        entities.append(MessageEntity(MessageEntity.BOLD, used, utf16_len(label)))
        piece = f"{label}: {said}".rstrip()
        if index < len(parsed.turns) - 1:
            piece += SECTION_SEPARATOR
        pieces.append(piece)
        used += utf16_len(piece)
    return OutgoingText("".join(pieces), tuple(entities))


def _transcript_markdown(transcript: str, tr: Translator, names: Sequence[str] = ()) -> str:
    parsed = _parse_turns(transcript)
    if parsed is None:
        return transcript.strip()
    paragraphs = [parsed.preamble] if parsed.preamble else []
    paragraphs += [f"**{_speaker(n, tr, names)}:** {said}".rstrip() for n, said in parsed.turns]
    return SECTION_SEPARATOR.join(paragraphs)


# --- The report ------------------------------------------------------------------------------


def _is_empty(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, Mapping | list | tuple | set | frozenset):
        return len(value) == 0
    return False


def _json_text(value: object) -> str:
    try:
        return json.dumps(value, indent=2, ensure_ascii=False, default=str)
    except Exception:
        return repr(value)


def _structured(value: object) -> OutgoingText:
    """A non-string result (structured post-processing) as a readable JSON code block."""
    text = clean_text(_json_text(value)).strip()
    return OutgoingText(
        text, (MessageEntity(MessageEntity.PRE, 0, utf16_len(text), language="json"),)
    )


def _result_fields(data: Mapping[str, Any], tr: Translator) -> list[tuple[str, str, Any]]:
    """(field, label, value) of every result to show: known flags in catalog order, then the
    rest."""
    known = {RESULT_PREFIX + flag: tr.gettext(label) for flag, label in RESULT_LABELS.items()}
    fields = [(field, label, data[field]) for field, label in known.items() if field in data]
    unknown = sorted(
        key
        for key in data
        if isinstance(key, str) and key.startswith(RESULT_PREFIX) and key not in known
    )
    fields += [(key, UNKNOWN_RESULT_PREFIX + readable_name(key), data[key]) for key in unknown]
    return [(field, label, value) for field, label, value in fields if not _is_empty(value)]


@dataclass(frozen=True)
class _Section:
    label: str
    body: OutgoingText  # label in bold, a line break, then the content


def _section(label: str, content: OutgoingText) -> _Section:
    heading = OutgoingText(label, (MessageEntity(MessageEntity.BOLD, 0, utf16_len(label)),))
    return _Section(label, concat(heading, content, "\n"))


def _pack(sections: Sequence[_Section], max_len: int) -> list[OutgoingText]:
    """Sections into messages, starting a fresh message for a section that then fits whole."""
    messages: list[OutgoingText] = []
    current: OutgoingText | None = None
    for section in sections:
        body = section.body
        if current is None:
            candidate, at = body, 0
        else:
            candidate = concat(current, body, SECTION_SEPARATOR)
            at = len(current.text) + len(SECTION_SEPARATOR)
        if fits(candidate, max_len):
            current = candidate
        elif current is not None and fits(body, max_len):
            messages.extend(split_text(current, max_len))
            current = body
        else:
            # A label must not end a message on its own, away from its content.
            parts = split_with_glue(candidate, max_len, glue=((at, at + len(section.label)),))
            messages.extend(parts[:-1])
            current = parts[-1] if parts else None
    if current is not None:
        messages.extend(split_text(current, max_len))
    return messages


_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,5}$")
_NOT_FILENAME = re.compile(r"[^A-Za-z0-9_-]+")


def report_filename(audio_name: str, when: datetime) -> str:
    stem = _EXTENSION.sub("", clean_text(audio_name).strip())
    stem = _NOT_FILENAME.sub("_", stem).strip("_-")[:FILENAME_MAX_LEN].strip("_-")
    return f"{stem or FILENAME_FALLBACK}_{when.strftime('%Y-%m-%d')}.md"


def _document(
    transcript_md: str,
    results_md: Sequence[tuple[str, str]],
    audio_name: str,
    when: datetime,
    tr: Translator,
) -> ReportDocument:
    blocks = ["# " + tr.gettext("Transcript"), transcript_md]
    for label, markdown in results_md:
        blocks += [f"## {label}", markdown]
    content = SECTION_SEPARATOR.join(blocks) + "\n"
    return ReportDocument(
        report_filename(audio_name, when),
        clean_text(content).encode("utf-8"),
        tr.gettext(REPORT_CAPTION),
    )


def render_results(
    data: Mapping[str, Any],
    *,
    audio_name: str,
    when: datetime,
    max_len: int = MAX_MESSAGE_LEN,
    tr: Translator = ENGLISH,
    speakers: Sequence[str] = (),
) -> RenderedReport:
    """A finished job's transcript and results as messages, plus a file when they are many;
    headings (and "Speaker N") in `tr`'s language, the content as Intron wrote it. `speakers`
    names the speakers of a diarized transcript in the order they first speak."""
    raw_transcript = data.get("audio_transcript")
    if _is_empty(raw_transcript):
        transcript = OutgoingText(tr.gettext(NO_SPEECH), ())
        transcript_md = transcript.text
    elif isinstance(raw_transcript, str):
        cleaned = clean_text(raw_transcript)
        # Speech is never Markdown: a `*` said aloud stays a `*`.
        transcript = format_turns(cleaned, tr, speakers) or OutgoingText(cleaned.strip(), ())
        transcript_md = _transcript_markdown(cleaned, tr, speakers)
    else:
        transcript = _structured(raw_transcript)
        transcript_md = f"```json\n{transcript.text}\n```"

    sections = [_section(tr.gettext(TRANSCRIPT_LABEL), transcript)]
    for_patient: list[_Section] = []
    results_md: list[tuple[str, str]] = []
    patient_fields = {RESULT_PREFIX + flag for flag in FOR_THE_PATIENT}
    for field, label, value in _result_fields(data, tr):
        if isinstance(value, str):
            content = to_telegram(value)
            markdown = clean_text(value).strip()
        else:
            content = _structured(value)
            markdown = f"```json\n{content.text}\n```"
        if not content.text.strip():
            continue
        (for_patient if field in patient_fields else sections).append(_section(label, content))
        results_md.append((label, markdown))

    messages = _pack(sections, max_len)
    document = None
    if len(messages) > 2:
        document = _document(transcript_md, results_md, audio_name, when, tr)
    # Each for-the-patient result starts a message of its own, whatever its size.
    patient = [message for section in for_patient for message in _pack([section], max_len)]
    return RenderedReport(tuple(messages), document, tuple(patient))
