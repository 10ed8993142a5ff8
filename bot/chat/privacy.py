"""What /privacy tells a chat: what the bot keeps, for how long, where the audio goes and who
runs the bot, with the operator's retention and contact filled in."""

from __future__ import annotations

from bot.i18n import N_, Translator
from bot.telegram_io.inbox import keep_handled_seconds

PRIVACY_HEADING = N_("🔒 Privacy")
# One message per paragraph: a change to one leaves the others' translations standing.
WHAT_IS_KEPT = (
    N_(
        "What I keep, per chat: each recording's date, duration, kind, settings and state; the "
        "transcript and results Intron returned, with the speakers' names you gave them; the "
        "file name, and a link you sent; and this chat's settings."
    ),
    N_(
        "How it is kept: the transcripts, results and notes, file names, links and the messages "
        "Telegram hands me are stored encrypted (AES-GCM) in the bot's database: a copy of the "
        "database without its key does not show them."
    ),
    N_(
        "For how long: the transcript, results, file names, links and file ids are erased "
        "{retention_days} days after the recording was answered. Date, duration and state "
        "stay, for /usage. The updates Telegram hands me (your messages, as they arrived) keep "
        "their content only until I have handled them; then only their number stays, "
        "{inbox_days} days, so that a repeated delivery is recognised."
    ),
    N_(
        "Where: the database is on the server this bot's operator chose (ask them where it is "
        "if your data must stay in your country). Intron receives the audio and returns the "
        "transcript; what Intron keeps of it, and for how long, is set by Intron's own terms "
        "(intron.io), not by this bot: /forget erases what the bot holds."
    ),
    N_(
        "The audio: it goes to Intron (intron.io) for transcription. I hold it in a temporary "
        "file only while sending it and delete it right after; a link is fetched by Intron "
        "itself. I do not keep the audio. A recording forwarded from another chat may be "
        "answered from the result made there, which is the transcript of the same audio you "
        "already have."
    ),
)
ERASE_NOW = N_(
    "Erase everything now: /forget erases this chat's transcripts, results, file names and "
    "settings, and stops recordings still in progress."
)
OPERATOR_LINE = N_("This bot is operated by {contact}.")
NO_OPERATOR_LINE = N_("The operator of this bot has not published a contact.")


def what_is_kept(tr: Translator, *, retention_days: int) -> list[str]:
    """What is stored, for how long, and where the audio goes, in `tr`'s language."""
    days = {
        "retention_days": retention_days,
        "inbox_days": round(keep_handled_seconds(retention_days) / 86400),
    }
    return [tr.gettext(paragraph, **days) for paragraph in WHAT_IS_KEPT]


def operator_line(tr: Translator, contact: str | None) -> str:
    if contact:
        return tr.gettext(OPERATOR_LINE, contact=contact)
    return tr.gettext(NO_OPERATOR_LINE)


def privacy_text(tr: Translator, *, retention_days: int, contact: str | None) -> str:
    paragraphs = [
        tr.gettext(PRIVACY_HEADING),
        *what_is_kept(tr, retention_days=retention_days),
        tr.gettext(ERASE_NOW),
        operator_line(tr, contact),
    ]
    return "\n\n".join(paragraphs)
