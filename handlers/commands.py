"""/start, /help and commands the bot does not know."""

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
from handlers.common import Context, is_group, services

COMMANDS = (
    BotCommand("start", "What this bot does and your current settings"),
    BotCommand("settings", "Choose category, outputs, speakers and language"),
    BotCommand("transcribe", "Reply to a voice note to transcribe it"),
    BotCommand("history", "Recent transcriptions, with resend"),
    BotCommand("usage", "Audio minutes processed"),
    BotCommand("forget", "Erase this chat's transcripts and settings"),
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
        "Change them with /settings. /help lists everything I can do."
    )


async def on_help(update: Update, context: Context) -> None:
    message = update.effective_message
    if message is None:
        return
    lines = [f"/{c.command} — {c.description}" for c in COMMANDS]
    max_mb = services(context).config.max_download_bytes // (1024 * 1024)
    text = (
        f"{ACCEPTED_TEXT} Files up to {max_mb} MB.\n\n"
        "With /settings you choose what comes back with the transcript: a summary, SOAP note, "
        "clerking, treatment plan, ICD codes, call resolution, agent score and more.\n\n"
        + "\n".join(lines)
    )
    if is_group(message.chat):
        text += GROUP_HELP
    await message.reply_text(text)


async def on_unknown_command(update: Update, context: Context) -> None:
    message = update.effective_message
    if message is not None:
        await message.reply_text(
            "I don't know that command. /help lists the ones I do.", do_quote=True
        )
