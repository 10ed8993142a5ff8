"""/start, /help, /privacy and commands the bot does not know."""

from __future__ import annotations

from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllChatAdministrators,
    BotCommandScopeAllGroupChats,
    Update,
)

from bot.chat.preferences import load_preferences
from bot.chat.settings_menu import describe
from bot.telegram_io.audio_input import ACCEPTED_TEXT
from bot.telegram_io.inbox import keep_handled_seconds
from handlers.common import Context, is_group, services

COMMANDS = (
    BotCommand("start", "What this bot does and your current settings"),
    BotCommand("settings", "Choose category, outputs, speakers and language"),
    BotCommand("transcribe", "Reply to a voice note or a link to transcribe it"),
    BotCommand("history", "Recent transcriptions, with resend"),
    BotCommand("usage", "Audio minutes processed"),
    BotCommand("forget", "Erase this chat's transcripts and settings"),
    BotCommand("privacy", "What the bot keeps, for how long, and who runs it"),
    BotCommand("help", "How to use the bot"),
)
# What a group member who is not an administrator can use: settings and /forget are theirs to
# see only where they may change them.
GROUP_MEMBER_COMMANDS = tuple(c for c in COMMANDS if c.command not in ("settings", "forget"))

GROUP_HELP = (
    "\n\nIn groups: I can only see voice notes if I am an administrator of the group, or if my "
    "privacy mode is turned off in @BotFather (/setprivacy). If I stay silent, that is almost "
    "always why. Group administrators can choose in /settings whether I transcribe every "
    "voice note or only those someone replies /transcribe to."
)


LINKS_HELP = (
    "Recordings too big for Telegram (over {max_mb} MB), such as a long call: send a link to "
    "the audio or video file instead (http:// or https://, up to {max_links} links in one "
    "message). Intron fetches it itself; I download nothing. Links to Telegram, to local "
    "addresses and links with a password in them are refused."
)
REUSE_HELP = (
    "A voice note forwarded to me that was already transcribed with the same settings is "
    "answered at once from that result, and counted apart in /usage. Turn this off in "
    "/settings. /transcribe on a note already answered in this chat offers its result again."
)
PRIVACY_HELP = "/privacy says what I keep, for how long, and how to erase it."
PRIVACY_TEXT = (
    "🔒 Privacy\n\n"
    "What I keep, per chat: each recording's date, duration, kind, settings and state; the "
    "transcript and results Intron returned; the file name, and a link you sent; and this "
    "chat's settings.\n\n"
    "For how long: the transcript, results, file names, links and file ids are erased "
    "{retention_days} days after the recording was answered. Date, duration and state stay, "
    "for /usage. The updates Telegram hands me (your messages, as they arrived) are deleted "
    "{inbox_days} days after I handled them.\n\n"
    "The audio: it goes to Intron (intron.io) for transcription. I hold it in a temporary file "
    "only while sending it and delete it right after; a link is fetched by Intron itself. I do "
    "not keep the audio. "
    "A recording forwarded from another chat may be answered from the result made there, "
    "which is the transcript of the same audio you already have.\n\n"
    "Erase everything now: /forget erases this chat's transcripts, results, file names and "
    "settings, and stops recordings still in progress."
)
OPERATOR_LINE = "This bot is operated by {contact}."
NO_OPERATOR_LINE = "The operator of this bot has not published a contact."


async def publish_commands(bot: Bot) -> None:
    """The command menu: everything in private chats and for group administrators, the
    commands members may use for everyone else in a group."""
    await bot.set_my_commands(COMMANDS)
    await bot.set_my_commands(GROUP_MEMBER_COMMANDS, scope=BotCommandScopeAllGroupChats())
    await bot.set_my_commands(COMMANDS, scope=BotCommandScopeAllChatAdministrators())


async def on_start(update: Update, context: Context) -> None:
    message = update.effective_message
    if message is None:
        return
    prefs = await load_preferences(message.chat_id)
    await message.reply_text(
        "👋 I turn voice notes into transcripts and clinical or call-center notes, using "
        "Intron's speech recognition tuned for African accents and medical vocabulary.\n\n"
        f"{ACCEPTED_TEXT}\n\n"
        "Current settings:\n"
        f"{describe(prefs, is_group=is_group(message.chat))}\n\n"
        "Change them with /settings. /help lists everything I can do.\n"
        f"{PRIVACY_HELP}"
    )


async def on_help(update: Update, context: Context) -> None:
    message = update.effective_message
    if message is None:
        return
    lines = [f"/{c.command} — {c.description}" for c in COMMANDS]
    config = services(context).config
    max_mb = config.max_download_bytes // (1024 * 1024)
    text = (
        f"{ACCEPTED_TEXT} Files up to {max_mb} MB.\n\n"
        + LINKS_HELP.format(max_mb=max_mb, max_links=config.max_links_per_message)
        + "\n\n"
        "With /settings you choose what comes back with the transcript: a summary, SOAP note, "
        "clerking, treatment plan, ICD codes, call resolution, agent score and more.\n\n"
        + REUSE_HELP
        + "\n\n"
        + "\n".join(lines)
    )
    if is_group(message.chat):
        text += GROUP_HELP
    await message.reply_text(text)


async def on_privacy(update: Update, context: Context) -> None:
    message = update.effective_message
    if message is None:
        return
    config = services(context).config
    contact = config.operator_contact
    operator = OPERATOR_LINE.format(contact=contact) if contact else NO_OPERATOR_LINE
    text = PRIVACY_TEXT.format(
        retention_days=config.retention_days,
        inbox_days=round(keep_handled_seconds(config.retention_days) / 86400),
    )
    await message.reply_text(f"{text}\n\n{operator}")


async def on_unknown_command(update: Update, context: Context) -> None:
    message = update.effective_message
    if message is not None:
        await message.reply_text(
            "I don't know that command. /help lists the ones I do.", do_quote=True
        )
