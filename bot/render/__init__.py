"""Turn a finished Intron job into Telegram messages that Telegram cannot reject.

Everything goes out as plain text plus explicit entities (never a parse mode), because
Intron's Markdown is written by an LLM: one stray `_` or `<` would make Telegram refuse a
whole message under MarkdownV2 or HTML. The guarantees, in order of importance:

1. no character of content is lost (the converter's silent drops are prevented or detected);
2. Telegram accepts every message (length, entity ranges, link URLs, entity count);
3. formatting survives where it can, including across message boundaries.

This package never logs and never touches the network: transcripts are medical data.
"""

from bot.render.markdown import to_telegram
from bot.render.report import (
    NO_SPEECH,
    RenderedReport,
    ReportDocument,
    format_turns,
    has_turns,
    render_results,
    report_filename,
)
from bot.render.split import split_text
from bot.render.text import (
    MAX_ENTITIES_PER_MESSAGE,
    MAX_MESSAGE_LEN,
    OutgoingText,
    utf16_len,
)

__all__ = [
    "MAX_ENTITIES_PER_MESSAGE",
    "MAX_MESSAGE_LEN",
    "NO_SPEECH",
    "OutgoingText",
    "RenderedReport",
    "ReportDocument",
    "format_turns",
    "has_turns",
    "render_results",
    "report_filename",
    "split_text",
    "to_telegram",
    "utf16_len",
]
