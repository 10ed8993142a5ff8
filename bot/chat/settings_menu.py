"""The /settings inline menu: screens, buttons, and what each button does to a chat's choices.

Buttons carry short commands (`set:flag:soap_note`) rather than state, so a button on an old
menu message acts on the chat's current settings. Every value read back from a button is
checked against the catalog before it is used.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.chat.options import CATEGORIES, LANGUAGE_NAMES, LANGUAGES, TranscriptionOptions, flag_label
from bot.chat.preferences import ChatPreferences

PREFIX = "set"
LANGUAGES_PER_PAGE = 12
ON, OFF = "✅", "▫️"
REUSE_ON = "♻️ Forwarded copies: earlier result reused"
REUSE_OFF = "♻️ Forwarded copies: transcribed again"


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


def home_screen(prefs: ChatPreferences, *, is_group: bool) -> MenuScreen:
    options = prefs.options
    category = CATEGORIES[options.category]
    rows = [[_button(f"🗂 Category: {category.label}", "cat")]]
    if category.flags:
        rows.append([_button(f"🧾 Outputs ({len(options.flags)} of {len(category.flags)})", "out")])
    rows.append(
        [_button(f"👥 Speaker separation: {'on' if options.diarization else 'off'}", "diar")]
    )
    language = LANGUAGE_NAMES.get(options.language or "", "not set")
    rows.append([_button(f"🌍 Language: {language}", "lang", "0")])
    if is_group:
        mode = "only on /transcribe" if prefs.on_request else "every voice note"
        rows.append([_button(f"🔔 Transcribe: {mode}", "mode")])
    reuse = REUSE_ON if prefs.reuse_results else REUSE_OFF
    rows.append([_button(reuse, "reuse")])
    rows.append([_button("✅ Done", "done")])
    text = "⚙️ Settings for this chat\n\n" + describe(prefs, is_group=is_group)
    return MenuScreen(text, InlineKeyboardMarkup(rows))


def describe(prefs: ChatPreferences, *, is_group: bool) -> str:
    text = prefs.options.describe()
    if is_group:
        mode = "only when someone replies /transcribe" if prefs.on_request else "every voice note"
        text += f"\nTranscribe: {mode}"
    text += "\n" + (REUSE_ON if prefs.reuse_results else REUSE_OFF)
    return text


def _category_screen(prefs: ChatPreferences) -> MenuScreen:
    rows = [
        [_button(("● " if key == prefs.options.category else "") + c.label, "cat", key)]
        for key, c in CATEGORIES.items()
    ]
    rows.append([_button("⬅️ Back", "home")])
    return MenuScreen(
        "🗂 Choose what Intron should produce from each recording:", InlineKeyboardMarkup(rows)
    )


def _outputs_screen(prefs: ChatPreferences) -> MenuScreen:
    options = prefs.options
    category = CATEGORIES[options.category]
    rows = [
        [_button(f"{ON if flag in options.flags else OFF} {flag_label(flag)}", "flag", flag)]
        for flag in category.flags
    ]
    rows.append([_button("⬅️ Back", "home")])
    return MenuScreen(
        f"🧾 Outputs for {category.label}: tap to switch on or off.", InlineKeyboardMarkup(rows)
    )


def _language_screen(prefs: ChatPreferences, page: int) -> MenuScreen:
    pages = max(1, -(-len(LANGUAGES) // LANGUAGES_PER_PAGE))
    if not 0 <= page < pages:
        raise InvalidAction(f"no language page {page}")
    chosen = prefs.options.language
    shown = LANGUAGES[page * LANGUAGES_PER_PAGE : (page + 1) * LANGUAGES_PER_PAGE]
    rows = (
        [[_button(("● " if chosen is None else "") + "Not set", "lang", "-")]] if page == 0 else []
    )
    for i in range(0, len(shown), 2):
        rows.append(
            [
                _button(("● " if code == chosen else "") + name, "lang", code)
                for code, name in shown[i : i + 2]
            ]
        )
    nav = []
    if page > 0:
        nav.append(_button("◀️ Previous", "lang", str(page - 1)))
    if page < pages - 1:
        nav.append(_button("Next ▶️", "lang", str(page + 1)))
    nav.append(_button("⬅️ Back", "home"))
    rows.append(nav)
    return MenuScreen(
        f'🌍 Spoken language (page {page + 1} of {pages}). "Not set" lets Intron use its default.',
        InlineKeyboardMarkup(rows),
    )


def _page_screen(prefs: ChatPreferences, page: str, *, is_group: bool) -> MenuScreen:
    return _outputs_screen(prefs) if page == "out" else home_screen(prefs, is_group=is_group)


def already_applied(change: MenuResult, current: ChatPreferences, *, is_group: bool) -> MenuResult:
    """For a press whose change was saved before (the same update, handled again after a
    restart): the screen that change leads to, showing the settings as they are, unchanged."""
    return MenuResult(current, _page_screen(current, change.page, is_group=is_group), False, "")


def apply_action(prefs: ChatPreferences, data: str, *, is_group: bool) -> MenuResult:
    """What a button press does. Raises InvalidAction for data this menu never produced."""
    parts = data.split(":")
    if len(parts) < 2 or parts[0] != PREFIX:
        raise InvalidAction(data)
    action, args = parts[1], parts[2:]
    options = prefs.options

    def stay(screen: MenuScreen, notice: str = "") -> MenuResult:
        return MenuResult(prefs, screen, False, notice)

    def change(new: ChatPreferences, page: str, notice: str) -> MenuResult:
        return MenuResult(new, _page_screen(new, page, is_group=is_group), True, notice, page)

    match action, args:
        case "home", []:
            return stay(home_screen(prefs, is_group=is_group))
        case "cat", []:
            return stay(_category_screen(prefs))
        case "cat", [key] if key in CATEGORIES:
            new_options = TranscriptionOptions.for_category(key, keep=options)
            return change(
                replace(prefs, options=new_options), "home", f"Category: {CATEGORIES[key].label}"
            )
        case "out", []:
            if not CATEGORIES[options.category].flags:
                return stay(home_screen(prefs, is_group=is_group), "This category has no outputs")
            return stay(_outputs_screen(prefs))
        case "flag", [flag]:
            if flag not in CATEGORIES[options.category].flags:
                # A button from before the category changed: show what applies now.
                return stay(
                    home_screen(prefs, is_group=is_group), "That option is no longer available"
                )
            new_options = options.with_flag_toggled(flag)
            state = "on" if flag in new_options.flags else "off"
            return change(
                replace(prefs, options=new_options), "out", f"{flag_label(flag)}: {state}"
            )
        case "diar", []:
            new_options = options.model_copy(update={"diarization": not options.diarization})
            state = "on" if new_options.diarization else "off"
            return change(
                replace(prefs, options=new_options), "home", f"Speaker separation: {state}"
            )
        case "lang", [arg] if arg.isdigit():
            return stay(_language_screen(prefs, int(arg)))
        case "lang", [arg] if arg == "-" or arg in LANGUAGE_NAMES:
            language = None if arg == "-" else arg
            new_options = options.model_copy(update={"language": language})
            name = LANGUAGE_NAMES.get(arg, "not set")
            return change(replace(prefs, options=new_options), "home", f"Language: {name}")
        case "mode", [] if is_group:
            new = replace(prefs, on_request=not prefs.on_request)
            notice = "Only on /transcribe" if new.on_request else "Every voice note"
            return change(new, "home", notice)
        case "reuse", []:
            new = replace(prefs, reuse_results=not prefs.reuse_results)
            return change(new, "home", REUSE_ON if new.reuse_results else REUSE_OFF)
        case "done", []:
            text = "✅ Settings saved.\n\n" + describe(prefs, is_group=is_group)
            return stay(MenuScreen(text, None), "Saved")
    raise InvalidAction(data)
