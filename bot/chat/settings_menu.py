"""The /settings inline menu: screens, buttons, and what each button does to a chat's choices.

Buttons carry short commands (`set:flag:soap_note`) rather than state, so a button on an old
menu message acts on the chat's current settings. Every value read back from a button is
checked against the catalog before it is used.

Two languages are set here and named apart everywhere: the *spoken* language of the
recordings (sent to Intron) and the *bot* language the bot writes its messages in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.chat.preferences import ChatPreferences
from bot.i18n import BOT_LANGUAGE_NAMES, BOT_LANGUAGES, N_, Translator
from bot.intron.options import (
    CATEGORIES,
    LANGUAGE_NAMES,
    LANGUAGES,
    ROLE_PAIRS,
    TranscriptionOptions,
    flag_label,
    role_pair_label,
    spoken_language_name,
)
from bot.telegram_io.callback_data import parse_id

PREFIX = "set"
LANGUAGES_PER_PAGE = 12
ON, OFF = "✅", "▫️"
REUSE_ON = N_("♻️ Forwarded copies: earlier result reused")
REUSE_OFF = N_("♻️ Forwarded copies: transcribed again")
QUIET_ON = N_("🔕 Quiet: only results and failures")
QUIET_OFF = N_("📣 “Received” and progress messages: shown")
SPEAKER_NAMES_BUTTON = N_("👤 Speaker names: {names}")
SPEAKER_NAMES_LINE = N_("Speaker names: {names}")
NUMBERED_SPEAKERS = N_("Speaker 1 / Speaker 2")
TEMPLATE_BUTTON = N_("📐 Note template: {template}")
TEMPLATE_LINE = N_("Note template: {template}")
# The templates the operator offers (INTRON_TEMPLATES), by id: the name each is shown under.
Templates = Mapping[str, str]
NO_TEMPLATES: Templates = {}


class InvalidAction(ValueError):
    """The button's data does not name anything this version of the bot offers."""


@dataclass(frozen=True)
class MenuScreen:
    text: str
    markup: InlineKeyboardMarkup | None  # None: the menu is closed


@dataclass(frozen=True)
class MenuResult:
    preferences: ChatPreferences
    screen: MenuScreen
    changed: bool
    notice: str  # the short toast shown when the button is answered
    page: str = "home"  # the screen a change leads to: "home" or "out"


def _button(text: str, *parts: str) -> InlineKeyboardButton:
    data = ":".join((PREFIX, *parts))
    assert len(data.encode()) <= 64, data  # Telegram's callback_data limit
    return InlineKeyboardButton(text, callback_data=data)


# The translator for a chat with these preferences: the menu is redrawn in the bot language
# a press has just chosen.
TranslatorFor = Callable[[ChatPreferences], Translator]


def _reuse(reuse_results: bool, tr: Translator) -> str:
    return tr.gettext(REUSE_ON if reuse_results else REUSE_OFF)


def _quiet(quiet: bool, tr: Translator) -> str:
    return tr.gettext(QUIET_ON if quiet else QUIET_OFF)


def _on_off(value: bool, tr: Translator) -> str:
    return tr.gettext("on") if value else tr.gettext("off")


def template_name(prefs: ChatPreferences, tr: Translator, templates: Templates) -> str:
    chosen = prefs.options.template_id
    if chosen is None:
        return tr.gettext("none")
    # A template the operator no longer offers is still sent until the chat picks another.
    return templates.get(chosen) or tr.gettext("{template} (no longer offered)", template=chosen)


def speaker_names_shown(prefs: ChatPreferences, tr: Translator) -> str:
    if prefs.speaker_roles is None:
        return tr.gettext(NUMBERED_SPEAKERS)
    return role_pair_label(prefs.speaker_roles, tr)


def bot_language_name(prefs: ChatPreferences, tr: Translator) -> str:
    if prefs.bot_language in BOT_LANGUAGE_NAMES:
        return BOT_LANGUAGE_NAMES[prefs.bot_language]
    return tr.gettext("automatic (your Telegram language)")


def home_screen(
    prefs: ChatPreferences, tr: Translator, *, is_group: bool, templates: Templates = NO_TEMPLATES
) -> MenuScreen:
    options = prefs.options
    category = CATEGORIES[options.category]
    label = tr.gettext(category.label)
    rows = [[_button(tr.gettext("🗂 Category: {category}", category=label), "cat")]]
    if category.flags:
        outputs = tr.gettext(
            "🧾 Outputs ({chosen} of {offered})",
            chosen=len(options.flags),
            offered=len(category.flags),
        )
        rows.append([_button(outputs, "out")])
    if templates or prefs.options.template_id:
        shown = template_name(prefs, tr, templates)
        rows.append([_button(tr.gettext(TEMPLATE_BUTTON, template=shown), "tpl")])
    speakers = tr.gettext("👥 Speaker separation: {state}", state=_on_off(options.diarization, tr))
    rows.append([_button(speakers, "diar")])
    if options.diarization:
        names = tr.gettext(SPEAKER_NAMES_BUTTON, names=speaker_names_shown(prefs, tr))
        rows.append([_button(names, "spk")])
    spoken = (
        spoken_language_name(options.language, tr) if options.language else tr.gettext("not set")
    )
    rows.append(
        [_button(tr.gettext("🎙 Spoken language: {language}", language=spoken), "lang", "0")]
    )
    written = tr.gettext("💬 Bot language: {language}", language=bot_language_name(prefs, tr))
    rows.append([_button(written, "ui")])
    if is_group:
        if prefs.on_request:
            mode = tr.gettext("🔔 Transcribe: only on /transcribe")
        else:
            mode = tr.gettext("🔔 Transcribe: every voice note")
        rows.append([_button(mode, "mode")])
    rows.append([_button(_reuse(prefs.reuse_results, tr), "reuse")])
    rows.append([_button(_quiet(prefs.quiet, tr), "quiet")])
    rows.append([_button(tr.gettext("✅ Done"), "done")])
    text = (
        tr.gettext("⚙️ Settings for this chat")
        + "\n\n"
        + describe(prefs, tr, is_group=is_group, templates=templates)
    )
    return MenuScreen(text, InlineKeyboardMarkup(rows))


def describe(
    prefs: ChatPreferences, tr: Translator, *, is_group: bool, templates: Templates = NO_TEMPLATES
) -> str:
    text = prefs.options.describe(tr)
    if prefs.options.diarization and prefs.speaker_roles is not None:
        shown = speaker_names_shown(prefs, tr)
        text += "\n" + tr.gettext(SPEAKER_NAMES_LINE, names=shown)
    if prefs.options.template_id is not None:
        shown = template_name(prefs, tr, templates)
        text += "\n" + tr.gettext(TEMPLATE_LINE, template=shown)
    text += "\n" + tr.gettext("Bot language: {language}", language=bot_language_name(prefs, tr))
    if is_group:
        if prefs.on_request:
            text += "\n" + tr.gettext("Transcribe: only when someone replies /transcribe")
        else:
            text += "\n" + tr.gettext("Transcribe: every voice note")
    text += "\n" + _reuse(prefs.reuse_results, tr)
    text += "\n" + _quiet(prefs.quiet, tr)
    return text


def _back(tr: Translator) -> InlineKeyboardButton:
    return _button(tr.gettext("⬅️ Back"), "home")


def _category_screen(prefs: ChatPreferences, tr: Translator) -> MenuScreen:
    rows = [
        [_button(("● " if key == prefs.options.category else "") + tr.gettext(c.label), "cat", key)]
        for key, c in CATEGORIES.items()
    ]
    rows.append([_back(tr)])
    return MenuScreen(
        tr.gettext("🗂 Choose what Intron should produce from each recording:"),
        InlineKeyboardMarkup(rows),
    )


def _outputs_screen(prefs: ChatPreferences, tr: Translator) -> MenuScreen:
    options = prefs.options
    category = CATEGORIES[options.category]
    rows = [
        [_button(f"{ON if flag in options.flags else OFF} {flag_label(flag, tr)}", "flag", flag)]
        for flag in category.flags
    ]
    rows.append([_back(tr)])
    return MenuScreen(
        tr.gettext(
            "🧾 Outputs for {category}: tap to switch on or off.",
            category=tr.gettext(category.label),
        ),
        InlineKeyboardMarkup(rows),
    )


def _language_screen(prefs: ChatPreferences, tr: Translator, page: int) -> MenuScreen:
    pages = max(1, -(-len(LANGUAGES) // LANGUAGES_PER_PAGE))
    if not 0 <= page < pages:
        raise InvalidAction(f"no language page {page}")
    chosen = prefs.options.language
    shown = LANGUAGES[page * LANGUAGES_PER_PAGE : (page + 1) * LANGUAGES_PER_PAGE]
    rows = (
        [[_button(("● " if chosen is None else "") + tr.gettext("Not set"), "lang", "-")]]
        if page == 0
        else []
    )
    for i in range(0, len(shown), 2):
        rows.append(
            [
                _button(
                    ("● " if code == chosen else "") + spoken_language_name(code, tr), "lang", code
                )
                for code, _ in shown[i : i + 2]
            ]
        )
    nav = []
    if page > 0:
        nav.append(_button(tr.gettext("◀️ Previous"), "lang", str(page - 1)))
    if page < pages - 1:
        nav.append(_button(tr.gettext("Next ▶️"), "lang", str(page + 1)))
    nav.append(_back(tr))
    rows.append(nav)
    return MenuScreen(
        tr.gettext(
            "🎙 Spoken language of the recordings, sent to Intron (page {page} of {pages}). "
            '"Not set" lets Intron use its default. The language I write in is '
            '"Bot language" on the first screen.',
            page=page + 1,
            pages=pages,
        ),
        InlineKeyboardMarkup(rows),
    )


def _speaker_names_screen(prefs: ChatPreferences, tr: Translator) -> MenuScreen:
    def mark(selected: bool) -> str:
        return "● " if selected else ""

    numbered = tr.gettext(NUMBERED_SPEAKERS)
    rows = [[_button(mark(prefs.speaker_roles is None) + numbered, "spk", "-")]]
    keys = list(ROLE_PAIRS)
    for i in range(0, len(keys), 2):
        rows.append(
            [
                _button(mark(prefs.speaker_roles == key) + role_pair_label(key, tr), "spk", key)
                for key in keys[i : i + 2]
            ]
        )
    rows.append([_back(tr)])
    return MenuScreen(
        tr.gettext(
            "👤 Speaker names for every speaker-separated result of this chat: the first name "
            "is whoever speaks first. A result's own button can still name them otherwise."
        ),
        InlineKeyboardMarkup(rows),
    )


def _template_screen(prefs: ChatPreferences, tr: Translator, templates: Templates) -> MenuScreen:
    chosen = prefs.options.template_id
    rows = [[_button(("● " if chosen is None else "") + tr.gettext("No template"), "tpl", "-")]]
    rows += [
        [_button(("● " if template_id == chosen else "") + name, "tpl", template_id)]
        for template_id, name in templates.items()
    ]
    rows.append([_back(tr)])
    return MenuScreen(
        tr.gettext(
            "📐 Note template: the operator's own format for the notes Intron writes from "
            "each recording, sent with every upload of this chat."
        ),
        InlineKeyboardMarkup(rows),
    )


def _bot_language_screen(prefs: ChatPreferences, tr: Translator) -> MenuScreen:
    def mark(selected: bool) -> str:
        return "● " if selected else ""

    automatic = tr.gettext("Automatic (your Telegram language)")
    rows = [[_button(mark(prefs.bot_language is None) + automatic, "ui", "-")]]
    rows.append(
        [
            _button(mark(prefs.bot_language == code) + BOT_LANGUAGE_NAMES[code], "ui", code)
            for code in BOT_LANGUAGES
        ]
    )
    rows.append([_back(tr)])
    return MenuScreen(
        tr.gettext(
            "💬 Bot language: the language I write my messages, menus and result headings "
            'in. (The language spoken in the recordings is set under "Spoken language".)'
        ),
        InlineKeyboardMarkup(rows),
    )


def _page_screen(
    prefs: ChatPreferences, tr: Translator, page: str, *, is_group: bool, templates: Templates
) -> MenuScreen:
    if page == "out":
        return _outputs_screen(prefs, tr)
    return home_screen(prefs, tr, is_group=is_group, templates=templates)


def already_applied(
    change: MenuResult,
    current: ChatPreferences,
    translator_for: TranslatorFor,
    *,
    is_group: bool,
    templates: Templates = NO_TEMPLATES,
) -> MenuResult:
    """For a press whose change was saved before (the same update, handled again after a
    restart): the screen that change leads to, showing the settings as they are, unchanged."""
    screen = _page_screen(
        current, translator_for(current), change.page, is_group=is_group, templates=templates
    )
    return MenuResult(current, screen, False, "")


def apply_action(
    prefs: ChatPreferences,
    data: str,
    translator_for: TranslatorFor,
    *,
    is_group: bool,
    templates: Templates = NO_TEMPLATES,
) -> MenuResult:
    """What a button press does. Raises InvalidAction for data this menu never produced."""
    parts = data.split(":")
    if len(parts) < 2 or parts[0] != PREFIX:
        raise InvalidAction(data)
    action, args = parts[1], parts[2:]
    options = prefs.options
    tr = translator_for(prefs)

    def stay(screen: MenuScreen, notice: str = "") -> MenuResult:
        return MenuResult(prefs, screen, False, notice)

    def change(new: ChatPreferences, page: str, notice: str) -> MenuResult:
        screen = _page_screen(
            new, translator_for(new), page, is_group=is_group, templates=templates
        )
        return MenuResult(new, screen, True, notice, page)

    def home() -> MenuScreen:
        return home_screen(prefs, tr, is_group=is_group, templates=templates)

    match action, args:
        case "home", []:
            return stay(home())
        case "cat", []:
            return stay(_category_screen(prefs, tr))
        case "cat", [key] if key in CATEGORIES:
            new_options = TranscriptionOptions.for_category(key, keep=options)
            label = tr.gettext(CATEGORIES[key].label)
            return change(
                replace(prefs, options=new_options),
                "home",
                tr.gettext("Category: {category}", category=label),
            )
        case "out", []:
            if not CATEGORIES[options.category].flags:
                return stay(home(), tr.gettext("This category has no outputs"))
            return stay(_outputs_screen(prefs, tr))
        case "flag", [flag]:
            if flag not in CATEGORIES[options.category].flags:
                # A button from before the category changed: show what applies now.
                return stay(home(), tr.gettext("That option is no longer available"))
            new_options = options.with_flag_toggled(flag)
            state = _on_off(flag in new_options.flags, tr)
            notice = tr.gettext("{output}: {state}", output=flag_label(flag, tr), state=state)
            return change(replace(prefs, options=new_options), "out", notice)
        case "diar", []:
            new_options = options.model_copy(update={"diarization": not options.diarization})
            state = _on_off(new_options.diarization, tr)
            return change(
                replace(prefs, options=new_options),
                "home",
                tr.gettext("Speaker separation: {state}", state=state),
            )
        case "lang", [arg] if (page := parse_id(arg)) is not None:
            return stay(_language_screen(prefs, tr, page))
        case "lang", [arg] if arg == "-" or arg in LANGUAGE_NAMES:
            language = None if arg == "-" else arg
            new_options = options.model_copy(update={"language": language})
            name = spoken_language_name(arg, tr) if language else tr.gettext("not set")
            return change(
                replace(prefs, options=new_options),
                "home",
                tr.gettext("Spoken language: {language}", language=name),
            )
        case "spk", []:
            return stay(_speaker_names_screen(prefs, tr))
        case "spk", [arg] if arg == "-" or arg in ROLE_PAIRS:
            new = replace(prefs, speaker_roles=None if arg == "-" else arg)
            notice = tr.gettext(SPEAKER_NAMES_LINE, names=speaker_names_shown(new, tr))
            return change(new, "home", notice)
        case "tpl", []:
            return stay(_template_screen(prefs, tr, templates))
        case "tpl", [arg] if arg == "-" or arg in templates:
            new_options = options.model_copy(update={"template_id": None if arg == "-" else arg})
            new = replace(prefs, options=new_options)
            notice = tr.gettext(TEMPLATE_LINE, template=template_name(new, tr, templates))
            return change(new, "home", notice)
        case "ui", []:
            return stay(_bot_language_screen(prefs, tr))
        case "ui", [arg] if arg == "-" or arg in BOT_LANGUAGES:
            new = replace(prefs, bot_language=None if arg == "-" else arg)
            new_tr = translator_for(new)
            notice = new_tr.gettext(
                "Bot language: {language}", language=bot_language_name(new, new_tr)
            )
            return change(new, "home", notice)
        case "mode", [] if is_group:
            new = replace(prefs, on_request=not prefs.on_request)
            if new.on_request:
                notice = tr.gettext("Only on /transcribe")
            else:
                notice = tr.gettext("Every voice note")
            return change(new, "home", notice)
        case "reuse", []:
            new = replace(prefs, reuse_results=not prefs.reuse_results)
            return change(new, "home", _reuse(new.reuse_results, tr))
        case "quiet", []:
            new = replace(prefs, quiet=not prefs.quiet)
            return change(new, "home", _quiet(new.quiet, tr))
        case "done", []:
            described = describe(prefs, tr, is_group=is_group, templates=templates)
            text = tr.gettext("✅ Settings saved.") + "\n\n" + described
            return stay(MenuScreen(text, None), tr.gettext("Saved"))
    raise InvalidAction(data)
