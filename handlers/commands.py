"""/start, /help, /privacy, the command menus in each bot language, and commands the bot does not
know."""

from __future__ import annotations

from telegram import (
    Bot,
    BotCommand,
    BotCommandScope,
    BotCommandScopeAllChatAdministrators,
    BotCommandScopeAllGroupChats,
    BotCommandScopeDefault,
    Update,
)

from bot.chat.preferences import load_preferences
from bot.chat.settings_menu import describe
from bot.i18n import BOT_LANGUAGES, ENGLISH_CODE, N_, Locales, Translator
from bot.telegram_io.audio_input import ACCEPTED_TEXT
from bot.telegram_io.inbox import keep_handled_seconds
from handlers.common import Context, is_group, services, translator_for

# (command, description): the descriptions are message ids, shown in each menu's language.
COMMANDS: tuple[tuple[str, str], ...] = (
    ("start", N_("What this bot does and your current settings")),
    ("settings", N_("Choose category, outputs, speakers and languages")),
    ("transcribe", N_("Reply to a voice note or a link to transcribe it")),
    ("history", N_("Recent transcriptions, with resend")),
    ("usage", N_("Audio minutes processed")),
    ("forget", N_("Erase this chat's transcripts and settings")),
    ("privacy", N_("What the bot keeps, for how long, and who runs it")),
    ("help", N_("How to use the bot")),
)
# What a group member who is not an administrator can use: settings and /forget are theirs to
# see only where they may change them.
ADMIN_COMMANDS = ("settings", "forget")

GROUP_HELP = N_(
    "In groups: I can only see voice notes if I am an administrator of the group, or if my "
    "privacy mode is turned off in @BotFather (/setprivacy). If I stay silent, that is almost "
    "always why. Group administrators can choose in /settings whether I transcribe every "
    "voice note or only those someone replies /transcribe to."
)


LINKS_HELP = N_(
    "Recordings too big for Telegram (over {max_mb} MB), such as a long call: send a link to "
    "the audio or video file instead (http:// or https://, up to {max_links} links in one "
    "message). Intron fetches it itself; I download nothing. Links to Telegram, to local "
    "addresses and links with a password in them are refused."
)
REUSE_HELP = N_(
    "A voice note forwarded to me that was already transcribed with the same settings is "
    "answered at once from that result, and counted apart in /usage. Turn this off in "
    "/settings. /transcribe on a note already answered in this chat offers its result again."
)
PRIVACY_HELP = N_("/privacy says what I keep, for how long, and how to erase it.")
# One message per paragraph: a change to one leaves the others' translations standing.
PRIVACY_TEXT = (
    N_("🔒 Privacy"),
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
        "stay, for /usage. The updates Telegram hands me (your messages, as they arrived) are "
        "deleted {inbox_days} days after I handled them."
    ),
    N_(
        "The audio: it goes to Intron (intron.io) for transcription. I hold it in a temporary "
        "file only while sending it and delete it right after; a link is fetched by Intron "
        "itself. I do not keep the audio. A recording forwarded from another chat may be "
        "answered from the result made there, which is the transcript of the same audio you "
        "already have."
    ),
    N_(
        "Erase everything now: /forget erases this chat's transcripts, results, file names and "
        "settings, and stops recordings still in progress."
    ),
)
OPERATOR_LINE = N_("This bot is operated by {contact}.")
NO_OPERATOR_LINE = N_("The operator of this bot has not published a contact.")


def command_menu(tr: Translator, *, for_members: bool = False) -> list[BotCommand]:
    return [
        BotCommand(command, tr.gettext(description))
        for command, description in COMMANDS
        if not (for_members and command in ADMIN_COMMANDS)
    ]


async def publish_commands(bot: Bot, locales: Locales) -> None:
    """The command menu in each bot language (English for every other Telegram language):
    everything in private chats and for group administrators, the commands members may use for
    everyone else in a group."""
    scopes: tuple[tuple[BotCommandScope, bool], ...] = (
        (BotCommandScopeDefault(), False),
        (BotCommandScopeAllGroupChats(), True),
        (BotCommandScopeAllChatAdministrators(), False),
    )
    for language in BOT_LANGUAGES:
        tr = locales.translator(language)
        code = None if language == ENGLISH_CODE else language
        for scope, for_members in scopes:
            await bot.set_my_commands(
                command_menu(tr, for_members=for_members), scope=scope, language_code=code
            )


async def on_start(update: Update, context: Context) -> None:
    message = update.effective_message
    if message is None:
        return
    prefs = await load_preferences(message.chat_id)
    tr = translator_for(update, context, prefs)
    await message.reply_text(
        tr.gettext(
            "👋 I turn voice notes into transcripts and clinical or call-center notes, using "
            "Intron's speech recognition tuned for African accents and medical vocabulary."
        )
        + "\n\n"
        + tr.gettext(ACCEPTED_TEXT)
        + "\n\n"
        + tr.gettext("Current settings:")
        + "\n"
        + describe(
            prefs,
            tr,
            is_group=is_group(message.chat),
            templates=services(context).config.template_names,
        )
        + "\n\n"
        + tr.gettext("Change them with /settings. /help lists everything I can do.")
        + "\n"
        + tr.gettext(PRIVACY_HELP)
    )


async def on_help(update: Update, context: Context) -> None:
    message = update.effective_message
    if message is None:
        return
    tr = translator_for(update, context, await load_preferences(message.chat_id))
    lines = [f"/{c.command} — {c.description}" for c in command_menu(tr)]
    config = services(context).config
    max_mb = config.max_download_bytes // (1024 * 1024)
    paragraphs = [
        tr.gettext(ACCEPTED_TEXT) + " " + tr.gettext("Files up to {mb} MB.", mb=max_mb),
        tr.gettext(LINKS_HELP, max_mb=max_mb, max_links=config.max_links_per_message),
        tr.gettext(
            "With /settings you choose what comes back with the transcript: a summary, SOAP "
            "note, clerking, treatment plan, ICD codes, call resolution, agent score and more."
        ),
        tr.gettext(REUSE_HELP),
        tr.gettext(
            'I write in English, French or Swahili: your Telegram language, or the "Bot '
            'language" chosen in /settings. The "Spoken language" there is the language of '
            "the recordings, for Intron."
        ),
        "\n".join(lines),
    ]
    if is_group(message.chat):
        paragraphs.append(tr.gettext(GROUP_HELP))
    await message.reply_text("\n\n".join(paragraphs))


async def on_privacy(update: Update, context: Context) -> None:
    message = update.effective_message
    if message is None:
        return
    tr = translator_for(update, context, await load_preferences(message.chat_id))
    config = services(context).config
    contact = config.operator_contact
    if contact:
        operator = tr.gettext(OPERATOR_LINE, contact=contact)
    else:
        operator = tr.gettext(NO_OPERATOR_LINE)
    days = {
        "retention_days": config.retention_days,
        "inbox_days": round(keep_handled_seconds(config.retention_days) / 86400),
    }
    text = "\n\n".join(tr.gettext(paragraph, **days) for paragraph in PRIVACY_TEXT)
    await message.reply_text(f"{text}\n\n{operator}")


async def on_unknown_command(update: Update, context: Context) -> None:
    message = update.effective_message
    if message is not None:
        tr = translator_for(update, context, await load_preferences(message.chat_id))
        await message.reply_text(
            tr.gettext("I don't know that command. /help lists the ones I do."), do_quote=True
        )
