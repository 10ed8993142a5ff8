"""bot.render: what Telegram receives must be accepted, complete and readable."""

from __future__ import annotations

import html
import random
import re
from datetime import UTC, datetime
from typing import Any

import pyromark
import pytest
import telegramify_markdown
from telegram import MessageEntity

from bot import render
from bot.intron.options import RESULT_LABELS, TRANSCRIPT_LABEL
from bot.render import (
    MAX_MESSAGE_LEN,
    NO_SPEECH,
    OutgoingText,
    RenderedReport,
    format_turns,
    render_results,
    split_text,
    to_telegram,
    utf16_len,
)
from bot.render.text import MAX_LINK_URL_CHARS_PER_MESSAGE, drop_redundant
from tests.markdown_cases import constructs, nested_emphasis, pathological

WHEN = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
QUOTES = frozenset({MessageEntity.BLOCKQUOTE, MessageEntity.EXPANDABLE_BLOCKQUOTE})


# --- helpers -----------------------------------------------------------------------------


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def alnum(text: str) -> str:
    return "".join(ch for ch in text if ch.isalnum())


def entity_text(message: OutgoingText, entity: MessageEntity) -> str:
    """The characters an entity covers, counted in UTF-16 as Telegram does."""
    units = message.text.encode("utf-16-le", "surrogatepass")
    start, end = entity.offset * 2, (entity.offset + entity.length) * 2
    return units[start:end].decode("utf-16-le", "surrogatepass")


def texts_of(message: OutgoingText, kind: str) -> list[str]:
    return [entity_text(message, e) for e in message.entities if e.type == kind]


def assert_sendable(messages: list[OutgoingText] | tuple[OutgoingText, ...], max_len: int) -> None:
    """What Telegram demands of every message we send (and the 100 entities it shows)."""
    assert messages, "at least one message"
    for message in messages:
        assert message.text.strip(), "Telegram refuses empty text"
        assert message.text == message.text.strip(), "edges are trimmed"
        assert utf16_len(message.text) <= max_len
        total = utf16_len(message.text)
        for entity in message.entities:
            assert entity.length > 0
            assert entity.offset >= 0
            assert entity.offset + entity.length <= total
        assert len(message.entities) <= render.MAX_ENTITIES_PER_MESSAGE
        assert sum(len(e.url or "") for e in message.entities) <= MAX_LINK_URL_CHARS_PER_MESSAGE


def assert_nesting(message: OutgoingText) -> None:
    """Telegram's rules for entities sharing characters: one holds the other, and no block
    quote is inside another."""
    spans = sorted(
        ((e.offset, e.offset + e.length, e.type) for e in message.entities),
        key=lambda span: (span[0], -span[1]),
    )
    for index, (start, end, kind) in enumerate(spans):
        for other_start, other_end, other_kind in spans[index + 1 :]:
            if other_start >= end:
                break
            assert other_end <= end, f"{kind} {start}-{end} overlaps {other_kind}"
            assert not (kind in QUOTES and other_kind in QUOTES), "block quote in block quote"


def report(data: dict[str, Any], **kw: Any) -> RenderedReport:
    return render_results(data, audio_name=kw.pop("audio_name", "voice.ogg"), when=WHEN, **kw)


def long_transcript() -> str:
    rng = random.Random(7)
    pieces: list[str] = []
    for i in range(260):
        if i % 37 == 5:
            # Long stretches with no space at all (numbers read out, URLs, languages
            # written without spaces) force cuts that are not at a space.
            pieces.append("".join(rng.choice("abcdefghij0123456789") for _ in range(700)) + ".")
        else:
            pieces.append(f"Sentence {i} says the patient reported symptom {i * 7 % 13} today.")
    text = " ".join(pieces)
    assert len(text) > 12_000
    return text


# --- utf16_len ---------------------------------------------------------------------------


def test_utf16_len_counts_code_units() -> None:
    assert utf16_len("") == 0
    assert utf16_len("abc") == 3
    assert utf16_len("é") == 1
    assert utf16_len("📝") == 2
    assert utf16_len("👩‍⚕️") == 5
    assert utf16_len("\ud83d") == 1  # a lone surrogate counts, it does not raise


# --- split_text --------------------------------------------------------------------------


def test_short_text_is_one_part_and_trimmed() -> None:
    parts = split_text(OutgoingText("  hello  \n", (MessageEntity("bold", 2, 5),)))
    assert [p.text for p in parts] == ["hello"]
    assert texts_of(parts[0], "bold") == ["hello"]


def test_blank_text_gives_no_parts() -> None:
    assert split_text(OutgoingText(" \n\t ", ())) == []


def test_long_transcript_loses_nothing_and_respects_the_limit() -> None:
    text = long_transcript()
    parts = split_text(OutgoingText(text, ()))
    assert len(parts) >= 3
    assert_sendable(parts, MAX_MESSAGE_LEN)
    assert squash("".join(p.text for p in parts)) == squash(text)


def test_cut_prefers_paragraph_then_line_then_sentence_then_space() -> None:
    para = "a" * 30 + " tail.\n" + "b" * 10 + "\n\n" + "c" * 40
    assert split_text(OutgoingText(para, ()), 60)[0].text.endswith("b" * 10)
    line = "a" * 30 + " tail. more\n" + "b" * 40
    assert split_text(OutgoingText(line, ()), 50)[0].text == "a" * 30 + " tail. more"
    sentence = "a" * 30 + ". Second sentence goes on and on"
    assert split_text(OutgoingText(sentence, ()), 45)[0].text == "a" * 30 + "."
    space = "word " * 20
    parts = split_text(OutgoingText(space, ()), 23)
    assert all(p.text.startswith("word") and p.text.endswith("word") for p in parts)


def test_hard_cut_never_splits_a_surrogate_pair_or_an_emoji_sequence() -> None:
    text = "😀" * 5000
    parts = split_text(OutgoingText(text, ()), 4096)
    assert_sendable(parts, 4096)
    assert "".join(p.text for p in parts) == text
    family = "👨‍👩‍👧" * 1000  # ZWJ sequences: cutting inside shows broken people
    parts = split_text(OutgoingText(family, ()), 100)
    assert "".join(p.text for p in parts) == family
    assert all(p.text.startswith("👨") and p.text.endswith("👧") for p in parts)


def test_emoji_heavy_text_stays_within_the_limit() -> None:
    rng = random.Random(3)
    alphabet = ["😀", "🩺", "📋", "a", " ", "é", "\n", "✅", "👍🏽", "🇳🇬"]
    text = "".join(rng.choice(alphabet) for _ in range(20_000))
    message = OutgoingText(text, (MessageEntity("italic", 0, utf16_len(text)),))
    parts = split_text(message)
    assert_sendable(parts, MAX_MESSAGE_LEN)
    assert squash("".join(p.text for p in parts)) == squash(text)
    # The italic entity spanning everything is present, whole, in every part.
    for part in parts:
        assert [(e.offset, e.length) for e in part.entities] == [(0, utf16_len(part.text))]


def test_entities_crossing_a_cut_are_clipped_into_both_parts() -> None:
    text = "intro " + "x" * 50 + " bold words that continue here " + "y" * 50
    start = text.index("bold")
    end = text.index(" " + "y")
    link = MessageEntity("text_link", start, end - start, url="https://example.org/a")
    bold = MessageEntity("bold", start, end - start)
    parts = split_text(OutgoingText(text, (bold, link)), 80)
    bold_pieces = [t for p in parts for t in texts_of(p, "bold")]
    assert "".join(bold_pieces).replace(" ", "") == "boldwordsthatcontinuehere"
    assert len(bold_pieces) == 2
    for part in parts:
        for entity in part.entities:
            if entity.type == "text_link":
                assert entity.url == "https://example.org/a"
    assert_sendable(parts, 80)


def test_many_entities_start_a_new_message_instead_of_being_ignored() -> None:
    words = [f"w{i}" for i in range(250)]
    text = " ".join(words)
    entities = []
    offset = 0
    for word in words:
        entities.append(MessageEntity("bold", offset, len(word)))
        offset += len(word) + 1
    parts = split_text(OutgoingText(text, tuple(entities)))
    assert len(parts) == 3
    assert_sendable(parts, MAX_MESSAGE_LEN)
    assert sum(len(p.entities) for p in parts) == 250


def test_split_never_raises_on_broken_entities() -> None:
    message = OutgoingText("abc def", (MessageEntity("bold", 5, 40), MessageEntity("bold", -3, 2)))
    parts = split_text(message)
    assert [p.text for p in parts] == ["abc def"]
    assert texts_of(parts[0], "bold") == ["ef"]


def test_split_property_random_strings() -> None:
    rng = random.Random(20261124)
    alphabet = [
        *"abcdefghijklmnopqrstuvwxyz0123456789",
        *[" ", " ", " ", "\n", "\n\n", ". ", "! ", "? ", "\t", "*", "_", "<", "&"],
        *["😀", "🩺", "é", "ß", "中", "👍🏽", "\u0301", "\u200d", "🇳🇬", "\u200b", "。"],
    ]
    for _ in range(600):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 400)))
        total = utf16_len(text)
        entities: list[MessageEntity] = []
        for _ in range(rng.randint(0, 8)):
            if total == 0:
                break
            offset = rng.randint(0, total - 1)
            length = rng.randint(1, total - offset)
            entities.append(MessageEntity(rng.choice(["bold", "italic", "code"]), offset, length))
        max_len = rng.randint(2, 120)
        parts = split_text(OutgoingText(text, tuple(entities)), max_len)
        if text.strip():
            assert_sendable(parts, max_len)
        else:
            assert parts == []
        assert squash("".join(p.text for p in parts)) == squash(text)


# --- to_telegram -------------------------------------------------------------------------


HOSTILE = (
    "# Plan\n\n"
    "**Bold** and *italic* and `code <kept>`.\n\n"
    "- snake_case_name and 2 * 3 < 7 & a [bracket\n"
    "- <br> tag, <b>html</b>, unbalanced **bold and _under\n"
    "- price $5 to $6 and a || b || c\n"
    "<div>\nblock html text\n</div>\n\n"
    "<!-- a comment --> after comment\n\n"
    "[Assessment]: Hypertension stage 2\n\n"
    "| Drug | Dose<br>timing |\n|---|---|\n| Amoxicillin | 500 mg |\n"
)


def test_markdown_keeps_every_visible_character() -> None:
    out = to_telegram(HOSTILE)
    for fragment in (
        "2 * 3 < 7 & a [bracket",
        "<br> tag, <b>html</b>, unbalanced **bold and _under",
        "$5 to $6 and a || b || c",
        "<div>",
        "block html text",
        "<!-- a comment --> after comment",
        "[Assessment]: Hypertension stage 2",
        "Dose<br>timing",
        "code <kept>",
    ):
        assert fragment in out.text, fragment
    source_letters = alnum(HOSTILE.replace("```", ""))
    remaining = iter(alnum(out.text))
    assert all(ch in remaining for ch in source_letters)


def test_markdown_formatting_becomes_entities() -> None:
    out = to_telegram(HOSTILE)
    assert "Bold" in texts_of(out, "bold")
    assert "italic" in texts_of(out, "italic")
    assert "code <kept>" in texts_of(out, "code")  # no backslash added inside code
    assert "**" not in texts_of(out, "bold")
    assert out.text.startswith("📌 Plan")
    assert "Plan" in texts_of(out, "bold")


def test_unbalanced_bold_stays_literal_and_balanced_is_bold() -> None:
    out = to_telegram("**start** then **never closed and _open")
    assert out.text == "start then **never closed and _open"
    assert texts_of(out, "bold") == ["start"]


def test_code_block_keeps_html_verbatim_with_its_language() -> None:
    out = to_telegram("Run:\n\n```python\nprint('<b>&amp;</b>')\n```")
    pre = [e for e in out.entities if e.type == "pre"]
    assert len(pre) == 1 and pre[0].language == "python"
    assert entity_text(out, pre[0]) == "print('<b>&amp;</b>')"


def test_links_telegram_would_refuse_keep_their_target_as_text() -> None:
    out = to_telegram(
        "See [guideline](https://who.int/x), [notes](docs/notes.md) and [a](javascript:alert(1))"
    )
    links = [e for e in out.entities if e.type == "text_link"]
    assert [(entity_text(out, e), e.url) for e in links] == [("guideline", "https://who.int/x")]
    assert "notes (docs/notes.md)" in out.text
    assert "javascript:alert" in out.text


def test_entities_converted_to_telegram_objects() -> None:
    out = to_telegram("**b** _i_ ~~s~~ [l](https://example.com)\n\n> quoted")
    assert all(isinstance(e, MessageEntity) for e in out.entities)
    kinds = {e.type for e in out.entities}
    assert {"bold", "italic", "strikethrough", "text_link", "blockquote"} <= kinds


def test_conversion_failure_falls_back_to_plain_source(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(markdown: str, **options: Any) -> Any:
        raise RuntimeError("converter bug")

    monkeypatch.setattr(telegramify_markdown, "convert", broken)
    source = "**Summary** with <x> and _stray"
    assert to_telegram(source) == OutgoingText(source, ())
    rendered = report({"audio_transcript": "hi", "transcript_summary": source})
    assert source in rendered.messages[0].text


def test_out_of_range_entities_fall_back_to_plain_source(monkeypatch: pytest.MonkeyPatch) -> None:
    def wrong(markdown: str, **options: Any) -> Any:
        return "short", [telegramify_markdown.MessageEntity("bold", 2, 50)]

    monkeypatch.setattr(telegramify_markdown, "convert", wrong)
    assert to_telegram("**short**") == OutgoingText("**short**", ())


def test_converter_that_loses_text_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(telegramify_markdown, "convert", lambda markdown, **_: ("Summary", []))
    assert to_telegram("Summary: fever 39 C") == OutgoingText("Summary: fever 39 C", ())


def test_latex_looking_text_is_kept_as_written_and_keeps_its_formatting() -> None:
    # The converter's LaTeX escaping would turn \alpha into α, which the content check
    # cannot tell from a loss: the whole text then fell back to its Markdown source.
    source = "**Dose**: \\(\\alpha + \\beta\\) mg/kg, and \\[x^2\\]"
    rendered = to_telegram(source)
    assert alnum(source) in alnum(rendered.text)
    assert "**" not in rendered.text
    assert [(e.type, rendered.text[e.offset : e.offset + e.length]) for e in rendered.entities] == [
        (MessageEntity.BOLD, "Dose")
    ]


def test_control_characters_and_lone_surrogates_are_made_sendable() -> None:
    out = to_telegram("a\x00b\r\nc \ud83d d")
    out.text.encode("utf-8")  # must not raise
    assert "a b" in out.text and "\r" not in out.text
    assert to_telegram("   ") == OutgoingText("", ())


# --- format_turns ------------------------------------------------------------------------


def test_diarized_transcript_becomes_turns_with_bold_labels() -> None:
    transcript = (
        "SPEAKER_07: Good morning.\n"
        "SPEAKER_07: How are you feeling?\n"
        "SPEAKER_00: Not well, doctor.\n"
        "SPEAKER_07: Tell me more.\n"
        "SPEAKER_02: I am his wife.\n"
    )
    out = format_turns(transcript)
    assert out is not None
    assert out.text == (
        "Speaker 1: Good morning. How are you feeling?\n\n"
        "Speaker 2: Not well, doctor.\n\n"
        "Speaker 1: Tell me more.\n\n"
        "Speaker 3: I am his wife."
    )
    assert texts_of(out, "bold") == ["Speaker 1", "Speaker 2", "Speaker 1", "Speaker 3"]


def test_turns_tolerate_a_wrapped_line_and_keep_speech_literal() -> None:
    transcript = (
        "SPEAKER_01: Take 2 * 500 mg\n"
        "twice daily, the_dose is <fine>\n"
        "SPEAKER_02: OK.\n"
        "SPEAKER_01: Good.\n"
        "SPEAKER_02: Bye.\n"
        "SPEAKER_01: Bye."
    )
    out = format_turns(transcript)
    assert out is not None
    assert out.text.startswith("Speaker 1: Take 2 * 500 mg twice daily, the_dose is <fine>")
    assert texts_of(out, "bold") == ["Speaker 1", "Speaker 2"] * 2 + ["Speaker 1"]


def test_plain_transcript_is_not_turns() -> None:
    assert format_turns("Hello there. SPEAKER_01: is mentioned mid-line.") is None
    assert format_turns("") is None
    assert format_turns("line one\nline two\nSPEAKER_01: only one") is None


# --- render_results ----------------------------------------------------------------------


def test_sections_in_order_with_bold_labels() -> None:
    data = {
        "audio_file_name": "voice.ogg",
        "processed_audio_duration_in_seconds": 12,
        "transcript_zeta_notes": "zeta text",
        "transcript_soap_note": "**S:** cough",
        "audio_transcript": "The patient has a *cough*.",
        "transcript_new_field": "new text",
        "transcript_summary": "Summary text",
        "transcript_icd_codes": "   ",
        "transcript_clerking": None,
    }
    result = report(data)
    assert len(result.messages) == 1 and result.document is None
    message = result.messages[0]
    labels = [
        TRANSCRIPT_LABEL,
        RESULT_LABELS["summary"],
        RESULT_LABELS["soap_note"],
        "🔹 New field",
        "🔹 Zeta notes",
    ]
    assert texts_of(message, "bold")[:2] == labels[:2]
    assert [label for label in texts_of(message, "bold") if label in labels] == labels
    positions = [message.text.index(label) for label in labels]
    assert positions == sorted(positions)
    assert message.text.startswith(f"{TRANSCRIPT_LABEL}\nThe patient has a *cough*.\n\n")
    assert f"{RESULT_LABELS['summary']}\nSummary text\n\n" in message.text
    assert "🏷" not in message.text and "Clerking" not in message.text
    # Speech is not Markdown: its `*` stays, and it has no italic.
    assert "italic" not in {e.type for e in message.entities}
    assert "S:" in texts_of(message, "bold")
    assert_sendable(result.messages, MAX_MESSAGE_LEN)


def test_follow_up_instructions_come_apart_from_the_note_and_in_the_report_file() -> None:
    data = {
        "audio_transcript": "The patient has a cough.",
        "transcript_soap_note": "**S:** cough",
        "transcript_followup_instructions": "- Drink water\n- Come back in **two weeks**",
    }
    result = report(data)
    [note] = result.messages
    assert RESULT_LABELS["soap_note"] in note.text
    assert (
        "Drink water" not in note.text and RESULT_LABELS["followup_instructions"] not in note.text
    )
    [instructions] = result.for_patient
    assert instructions.text.startswith(RESULT_LABELS["followup_instructions"] + "\n")
    assert "Drink water" in instructions.text and "two weeks" in texts_of(instructions, "bold")
    assert texts_of(instructions, "bold")[0] == RESULT_LABELS["followup_instructions"]
    assert_sendable(result.for_patient, MAX_MESSAGE_LEN)
    # A report long enough for a file has the instructions in it too.
    long = report({**data, "audio_transcript": long_transcript()})
    assert long.document is not None and len(long.for_patient) == 1
    assert "Drink water" in long.document.content.decode()
    assert not any("Drink water" in m.text for m in long.messages)


def test_missing_transcript_says_no_speech() -> None:
    for data in ({}, {"audio_transcript": None}, {"audio_transcript": "  \n "}):
        message = report(data).messages[0]
        assert message.text == f"{TRANSCRIPT_LABEL}\n{NO_SPEECH}"


def test_diarized_transcript_is_rendered_as_turns() -> None:
    data = {"audio_transcript": "SPEAKER_01: Hello.\nSPEAKER_01: Sit down.\nSPEAKER_02: Thanks."}
    message = report(data).messages[0]
    assert message.text == (
        f"{TRANSCRIPT_LABEL}\nSpeaker 1: Hello. Sit down.\n\nSpeaker 2: Thanks."
    )
    assert texts_of(message, "bold") == [TRANSCRIPT_LABEL, "Speaker 1", "Speaker 2"]


def test_structured_results_are_shown_as_json() -> None:
    data = {
        "audio_transcript": "hi",
        "transcript_entity_list": {"drugs": ["amoxicillin"], "dose": "500 mg", "ok": True},
        "transcript_suggestions": [],
    }
    message = report(data).messages[0]
    assert '"drugs": [' in message.text and '"amoxicillin"' in message.text
    assert [e.language for e in message.entities if e.type == "pre"] == ["json"]
    assert RESULT_LABELS["suggestions"] not in message.text


def test_long_report_is_split_complete_with_a_document() -> None:
    transcript = long_transcript()
    summary = "## Summary\n\n" + "\n".join(
        f"- **Point {i}:** detail <{i}> & more" for i in range(60)
    )
    data = {"audio_transcript": transcript, "transcript_summary": summary}
    result = report(data, audio_name="Consultation 24/11 (Dr. Ade).ogg")
    assert len(result.messages) > 2
    assert_sendable(result.messages, MAX_MESSAGE_LEN)
    joined = squash("".join(m.text for m in result.messages))
    assert squash(transcript) in joined
    for i in range(60):
        assert f"Point{i}:detail<{i}>&more" in joined
    # The summary fits in one message, so it starts one of its own.
    summary_messages = [m for m in result.messages if RESULT_LABELS["summary"] in m.text]
    assert len(summary_messages) == 1
    assert summary_messages[0].text.startswith(RESULT_LABELS["summary"])
    assert "Point 59" in summary_messages[0].text

    document = result.document
    assert document is not None
    assert document.filename == "Consultation_24_11_Dr_Ade_2026-11-24.md"
    content = document.content.decode("utf-8")
    assert content.startswith("# Transcript\n\n")
    assert squash(transcript) in squash(content)
    assert f"## {RESULT_LABELS['summary']}\n\n{summary}" in content  # the original Markdown


def test_section_too_big_for_one_message_is_split_inside() -> None:
    data = {"audio_transcript": "Short one.", "transcript_summary": "word " * 1500}
    result = report(data, max_len=1000)
    assert_sendable(result.messages, 1000)
    # The summary cannot fit anywhere whole, so it starts right after the transcript.
    assert RESULT_LABELS["summary"] in result.messages[0].text
    assert squash("".join(m.text for m in result.messages)).count("word") == 1500


def test_two_messages_get_no_document() -> None:
    data = {"audio_transcript": "a" * 3000, "transcript_summary": "b" * 3000}
    result = report(data)
    assert len(result.messages) == 2
    assert result.document is None


def test_label_is_not_left_alone_at_the_end_of_a_message() -> None:
    data = {"audio_transcript": "x" * 5000}
    result = report(data)
    assert result.messages[0].text.startswith(TRANSCRIPT_LABEL + "\n" + "x")
    assert_sendable(result.messages, MAX_MESSAGE_LEN)


@pytest.mark.parametrize(
    ("audio_name", "expected"),
    [
        ("voice.ogg", "voice_2026-11-24.md"),
        ("", "transcript_2026-11-24.md"),
        ("../../etc/passwd", "etc_passwd_2026-11-24.md"),
        ("ẹ̀kọ́.m4a", "k_2026-11-24.md"),
        ("!!!.mp3", "transcript_2026-11-24.md"),
        ("a" * 80 + ".ogg", "a" * 40 + "_2026-11-24.md"),
        ("call-center_01", "call-center_01_2026-11-24.md"),
    ],
)
def test_document_filename(audio_name: str, expected: str) -> None:
    assert render.report_filename(audio_name, WHEN) == expected
    filename = expected.removesuffix("_2026-11-24.md")
    assert len(filename) <= 40 and re.fullmatch(r"[A-Za-z0-9_-]+", filename)


def test_many_results_with_unicode_and_hostile_markdown_are_sendable() -> None:
    data: dict[str, Any] = {"audio_transcript": "Ẹ káàbọ̀ 👋 " * 400}
    for flag in RESULT_LABELS:
        data[f"transcript_{flag}"] = HOSTILE * 3
    result = report(data)
    assert_sendable(result.messages, MAX_MESSAGE_LEN)
    assert_sendable(result.for_patient, MAX_MESSAGE_LEN)
    joined = "".join(m.text for m in (*result.messages, *result.for_patient))
    assert joined.count("[Assessment]: Hypertension stage 2") == 3 * len(RESULT_LABELS)
    assert result.document is not None
    content = result.document.content.decode("utf-8")
    assert content.count("## ") >= len(RESULT_LABELS)


def test_cjk_text_is_cut_after_a_full_stop() -> None:
    sentence = "患者发烧三天，伴有头痛。"
    parts = split_text(OutgoingText(sentence * 50, ()), 100)
    assert_sendable(parts, 100)
    assert all(p.text.endswith("。") for p in parts)
    assert "".join(p.text for p in parts) == sentence * 50


def test_a_link_the_converter_would_lose_keeps_its_target() -> None:
    # Inside a table cell the converter keeps only the link text: the source is sent instead.
    source = "| Guideline | Link |\n|---|---|\n| WHO | [site](https://who.int/malaria) |"
    assert "https://who.int/malaria" in to_telegram(source).text


def test_document_has_turns_and_each_original_result() -> None:
    data = {
        "audio_transcript": "SPEAKER_00: Hello *there*.\nSPEAKER_01: Hi.\n" * 300,
        "transcript_summary": "**Short** summary with <br> and & signs",
        "transcript_brand_new": {"k": "v"},
    }
    result = report(data)
    assert len(result.messages) > 2
    assert result.document is not None
    content = result.document.content.decode("utf-8")
    assert content.startswith("# Transcript\n\n**Speaker 1:** Hello *there*.\n\n**Speaker 2:** Hi.")
    assert "## 📋 Summary\n\n**Short** summary with <br> and & signs" in content
    assert '## 🔹 Brand new\n\n```json\n{\n  "k": "v"\n}\n```' in content
    assert content.index("## 📋 Summary") < content.index("## 🔹 Brand new")


def test_result_with_many_entities_is_spread_over_messages() -> None:
    summary = "\n".join(f"- **Item {i}** is *noted*" for i in range(150))
    result = report({"audio_transcript": "ok", "transcript_summary": summary})
    assert_sendable(result.messages, MAX_MESSAGE_LEN)
    bold = [t for m in result.messages for t in texts_of(m, "bold")]
    assert [f"Item {i}" for i in range(150)] == [t for t in bold if t.startswith("Item")]


# --- CommonMark constructs and pathological inputs ---------------------------------------


def shown_by_commonmark(markdown: str) -> str:
    """What a CommonMark renderer (with the converter's extensions) shows of markdown: its
    HTML, tags dropped. Every letter and digit of it must reach the chat, in order."""
    from telegramify_markdown.converter import STANDARD_OPTIONS

    return html.unescape(re.sub(r"<[^>]*>", " ", pyromark.html(markdown, options=STANDARD_OPTIONS)))


def assert_rendered_completely(markdown: str, messages: tuple[OutgoingText, ...]) -> None:
    for message in messages:
        assert_nesting(message)
    remaining = iter(alnum("".join(m.text for m in messages)))
    missing = [ch for ch in alnum(shown_by_commonmark(markdown)) if ch not in remaining]
    assert not missing, f"lost {''.join(missing)[:40]!r} of {markdown[:80]!r}"


@pytest.mark.parametrize("markdown", constructs())
def test_markdown_constructs_are_sendable_and_complete(markdown: str) -> None:
    result = report({"audio_transcript": "ok", "transcript_summary": markdown})
    assert_sendable(result.messages, MAX_MESSAGE_LEN)
    assert_rendered_completely(markdown, result.messages)


@pytest.mark.parametrize(("name", "markdown"), list(pathological().items()))
def test_pathological_markdown_stays_within_the_entity_budget(name: str, markdown: str) -> None:
    result = report({"audio_transcript": "ok", "transcript_summary": markdown})
    assert_sendable(result.messages, MAX_MESSAGE_LEN)
    assert_rendered_completely(markdown, result.messages)


def test_deeply_nested_emphasis_keeps_its_formatting_in_few_entities() -> None:
    result = report({"audio_transcript": "ok", "transcript_summary": nested_emphasis(1000)})
    # Before, each of the messages of its 12,000 characters carried over 1,000 entities.
    [message] = [m for m in result.messages if " core " in m.text]
    core = message.text.index(" core ")
    covering = {
        e.type for e in message.entities if e.offset <= core and core + 6 <= e.offset + e.length
    }
    assert covering == {MessageEntity.BOLD, MessageEntity.ITALIC}  # the innermost word too
    assert all(len(m.entities) <= 4 for m in result.messages)  # two labels, italic, bold


def test_nested_block_quotes_become_one_quote() -> None:
    out = to_telegram("> " * 3000 + "deep\n\nafter")
    quotes = [e for e in out.entities if e.type in QUOTES]
    assert [entity_text(out, q) for q in quotes] == ["deep"]
    assert out.text.endswith("after")


def test_redundant_entities_are_dropped_and_distinct_ones_kept() -> None:
    bold, italic, quote = MessageEntity.BOLD, MessageEntity.ITALIC, MessageEntity.BLOCKQUOTE
    link_a = MessageEntity(MessageEntity.TEXT_LINK, 2, 3, url="https://example.org/a")
    entities = [
        MessageEntity(bold, 0, 10),
        MessageEntity(bold, 2, 3),  # inside bold: nothing more to see
        MessageEntity(italic, 2, 3),  # another kind: kept
        MessageEntity(bold, 8, 5),  # overlaps the first without being inside: kept
        link_a,
        MessageEntity(MessageEntity.TEXT_LINK, 3, 1, url="https://example.org/b"),  # other URL
        MessageEntity(quote, 0, 20),
        MessageEntity(MessageEntity.EXPANDABLE_BLOCKQUOTE, 5, 5),  # no quote in a quote
        MessageEntity(bold, 0, 10),  # the same twice
    ]
    kept = drop_redundant(entities)
    assert [(e.type, e.offset, e.length, e.url) for e in kept] == [
        (quote, 0, 20, None),
        (bold, 0, 10, None),
        (italic, 2, 3, None),
        (MessageEntity.TEXT_LINK, 2, 3, "https://example.org/a"),
        (MessageEntity.TEXT_LINK, 3, 1, "https://example.org/b"),
        (bold, 8, 5, None),
    ]


def test_split_keeps_the_budget_even_when_no_cut_can() -> None:
    """150 links with different targets, all over one word: a part holding that word cannot
    have fewer than 150 entities, so the innermost are dropped, the text kept whole."""
    text = "word " + "tail " * 2000
    links = [
        MessageEntity(MessageEntity.TEXT_LINK, 0, 4 + i, url=f"https://e.org/{i}")
        for i in range(150)
    ]
    parts = split_text(OutgoingText(text, tuple(links)))
    assert_sendable_counts = [len(p.entities) for p in parts]
    assert max(assert_sendable_counts) <= render.MAX_ENTITIES_PER_MESSAGE
    assert squash("".join(p.text for p in parts)) == squash(text)
    first_urls = [e.url for e in parts[0].entities]
    assert "https://e.org/149" in first_urls  # the outermost link survives


# --- HTML character references -----------------------------------------------------------


@pytest.mark.parametrize(
    ("markdown", "shown"),
    [
        ("Fish &amp; chips", "Fish & chips"),
        ("&copy; 2026 and &nbsp;space", "© 2026 and \u00a0space"),
        ("&#1234; and &#x4D2; and &#X4d2;", "Ӓ and Ӓ and Ӓ"),
        ("caf&eacute; au lait, &Agrave; la carte", "café au lait, À la carte"),
        ("&lt;b&gt;not html&lt;/b&gt;", "<b>not html</b>"),
        ("&#0; and &#x110000;", "\ufffd and \ufffd"),
        ("&#x1F600; smile", "😀 smile"),
        ("**&copy; bold**", "© bold"),
    ],
)
def test_character_references_show_as_their_characters(markdown: str, shown: str) -> None:
    assert to_telegram(markdown).text == shown


@pytest.mark.parametrize(
    "markdown",
    [
        "AT&T and a & b",
        "&bogus; is no name",
        "&copy needs its semicolon",
        "&#; and &#x; are empty",
        "&#12345678; has too many digits",
        "a&b;c",
        "\\&amp; is escaped",
    ],
)
def test_an_ampersand_that_is_no_reference_shows_as_written(markdown: str) -> None:
    expected = markdown.replace("\\&", "&")
    assert to_telegram(markdown).text == expected


def test_references_inside_code_and_links() -> None:
    out = to_telegram("`&amp;` and [caf&eacute;](https://example.org/?a=1&amp;b=2)")
    assert texts_of(out, "code") == ["&amp;"]  # code is shown as written
    [link] = [e for e in out.entities if e.type == "text_link"]
    assert entity_text(out, link) == "café"
    assert link.url == "https://example.org/?a=1&b=2"
