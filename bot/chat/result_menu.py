"""The buttons under a delivered result: more from the same recording without sending it again.

A result's last note part carries a few buttons: the outputs of the chat's category that this
result does not have yet (for a transcript-only result, the categories), and "More…" for the
rest. A button's data names the job and what it asks for (`res:42:out:telehealth:1`); it is
parsed strictly and checked against the catalog and the job as it is now, so an old button never
asks for something that no longer makes sense.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pydantic import ValidationError
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.chat.preferences import load_preferences
from bot.i18n import N_, Translator
from bot.intron.options import (
    CATEGORIES,
    RESULT_LABELS,
    ROLE_PAIRS,
    TranscriptionOptions,
    role_pair_label,
    role_pairs_for,
)
from bot.render import has_turns
from bot.telegram_io.callback_data import parse_fields, parse_id
from bot.telegram_io.migration import current_chat_id
from storage.models import Job

log = logging.getLogger(__name__)

PREFIX = "res"
# Offers shown on the result itself; the rest are behind "More…".
SHOWN_OFFERS = 3
PER_ROW = 2
# The categories a transcript-only result offers, the clinical ones first.
CATEGORY_ORDER = ("telehealth", "procedure", "call_center", "meeting_notes", "general", "legal")

MORE = N_("➕ More…")
BACK = N_("⬅️ Back")
NAME_SPEAKERS = N_("👤 Name the speakers")
TYPE_NAMES = N_("✏️ Type their names")

# Screens a press only shows (the keyboard is edited in place); the other actions do something.
HOME, MORE_SCREEN, CATEGORY_SCREEN, SPEAKERS_SCREEN = "home", "more", "cat", "spk"
ASK_OUTPUT, NAME_ROLES, TYPE_NAMES_ACTION = "out", "role", "type"
SCREENS = (HOME, MORE_SCREEN, CATEGORY_SCREEN, SPEAKERS_SCREEN)


@dataclass(frozen=True)
class Offer:
    """An output to add (`flag`), or a category whose outputs a press shows (`flag` None)."""

    category: str
    flag: str | None = None


@dataclass(frozen=True)
class ResultPress:
    """A press on a result's button, as read back from its data."""

    job_id: int
    action: str
    category: str | None = None
    flag: str | None = None
    roles: str | None = None  # a key of ROLE_PAIRS


def options_of(job: Job) -> TranscriptionOptions | None:
    """The options the job was transcribed with; None for options an older catalog stored."""
    try:
        return TranscriptionOptions.model_validate(job.options)
    except ValidationError:
        return None


def with_output(
    options: TranscriptionOptions, category: str, flag: str
) -> TranscriptionOptions | None:
    """The options of the same recording with `flag` of `category` added: the outputs the
    result has that the category offers too, and this one; the rest as they were. None when
    the result has that output already, or the category does not offer it."""
    offered = CATEGORIES[category].flags if category in CATEGORIES else ()
    if flag not in offered:
        return None
    kept = [f for f in options.flags if f in offered] if options.category == category else []
    if flag in kept:
        return None
    base = (
        options
        if options.category == category
        else options.model_copy(update={"category": category, "flags": []})
    )
    return base.with_flags([*kept, flag])


def offers(options: TranscriptionOptions, chat_category: str) -> list[Offer]:
    """What a result with these options offers: the missing outputs of the chat's category
    (of the result's own when the chat's has none), else the categories."""
    category = chat_category if CATEGORIES[chat_category].flags else options.category
    if not CATEGORIES[category].flags:
        return [Offer(key) for key in CATEGORY_ORDER]
    return outputs_of(options, category)


def outputs_of(options: TranscriptionOptions, category: str) -> list[Offer]:
    return [
        Offer(category, flag)
        for flag in CATEGORIES[category].flags
        if with_output(options, category, flag) is not None
    ]


def _data(job_id: int, *fields: str) -> str:
    data = ":".join((PREFIX, str(job_id), *fields))
    assert len(data.encode()) <= 64, data  # Telegram's callback_data limit
    return data


def _offer_button(job_id: int, offer: Offer, tr: Translator) -> InlineKeyboardButton:
    category = CATEGORIES[offer.category]
    if offer.flag is None:
        return InlineKeyboardButton(
            f"📂 {tr.gettext(category.label)}",
            callback_data=_data(job_id, CATEGORY_SCREEN, offer.category),
        )
    label = tr.gettext(RESULT_LABELS.get(offer.flag, offer.flag))
    index = str(category.flags.index(offer.flag))
    return InlineKeyboardButton(
        label, callback_data=_data(job_id, ASK_OUTPUT, offer.category, index)
    )


def _rows(buttons: list[InlineKeyboardButton]) -> list[list[InlineKeyboardButton]]:
    return [buttons[i : i + PER_ROW] for i in range(0, len(buttons), PER_ROW)]


def result_keyboard(
    job_id: int,
    options: TranscriptionOptions,
    chat_category: str,
    tr: Translator,
    *,
    screen: str = HOME,
    category: str | None = None,
    diarized: bool = False,
) -> InlineKeyboardMarkup | None:
    """The keyboard of a result on one of its screens: the result's own (a few offers and
    "More…", and naming the speakers of a `diarized` one), every offer ("More…"), a category's
    outputs, or the speakers' names. None: nothing to offer."""
    back = InlineKeyboardButton(tr.gettext(BACK), callback_data=_data(job_id, HOME))
    if screen == SPEAKERS_SCREEN and diarized:
        pairs = [
            InlineKeyboardButton(
                role_pair_label(key, tr), callback_data=_data(job_id, NAME_ROLES, key)
            )
            for key in role_pairs_for(options.category)
        ]
        typed = InlineKeyboardButton(
            tr.gettext(TYPE_NAMES), callback_data=_data(job_id, TYPE_NAMES_ACTION)
        )
        return InlineKeyboardMarkup([*_rows(pairs), [typed], [back]])
    if screen == CATEGORY_SCREEN and category in CATEGORIES:
        buttons = [_offer_button(job_id, o, tr) for o in outputs_of(options, category)]
        return InlineKeyboardMarkup([*_rows(buttons), [back]])
    every = offers(options, chat_category)
    if screen == MORE_SCREEN:
        buttons = [_offer_button(job_id, o, tr) for o in every]
        return InlineKeyboardMarkup([*_rows(buttons), [back]])
    buttons = [_offer_button(job_id, o, tr) for o in every[:SHOWN_OFFERS]]
    if len(every) > SHOWN_OFFERS:
        buttons.append(
            InlineKeyboardButton(tr.gettext(MORE), callback_data=_data(job_id, MORE_SCREEN))
        )
    rows = _rows(buttons)
    if diarized:
        rows.append(
            [
                InlineKeyboardButton(
                    tr.gettext(NAME_SPEAKERS), callback_data=_data(job_id, SPEAKERS_SCREEN)
                )
            ]
        )
    return InlineKeyboardMarkup(rows) if rows else None


async def chat_category(job: Job) -> str:
    """The category the job's chat uses now (under its current id, if it was upgraded)."""
    return (await load_preferences(await current_chat_id(job.chat_id))).options.category


def is_diarized(job: Job) -> bool:
    """A result whose transcript is separated by speaker: its speakers can be named."""
    return isinstance(job.result, dict) and has_turns(job.result.get("audio_transcript"))


async def keyboard_for(
    job: Job, tr: Translator, *, screen: str = HOME, category: str | None = None
) -> InlineKeyboardMarkup | None:
    options = options_of(job)
    if options is None:
        return None
    return result_keyboard(
        job.id,
        options,
        await chat_category(job),
        tr,
        screen=screen,
        category=category,
        diarized=is_diarized(job),
    )


class ChatResultExtras:
    """The engine's `ResultExtras`, as this chat's settings make them: the chat's default
    speaker names, and a result's buttons."""

    async def speakers(self, job: Job) -> dict[str, str] | None:
        if not is_diarized(job):
            return None
        prefs = await load_preferences(await current_chat_id(job.chat_id))
        return {"roles": prefs.speaker_roles} if prefs.speaker_roles else None

    async def keyboard(self, job: Job, tr: Translator) -> InlineKeyboardMarkup | None:
        return await keyboard_for(job, tr)


def parse_press(data: str) -> ResultPress | None:
    """The press a result button's data describes, or None for data no result button has."""
    fields = parse_fields(data, PREFIX)
    if not fields or (job_id := parse_id(fields[0])) is None:
        return None
    match fields[1:]:
        case [action] if action in (HOME, MORE_SCREEN, SPEAKERS_SCREEN, TYPE_NAMES_ACTION):
            return ResultPress(job_id, action)
        case [action, key] if action == NAME_ROLES and key in ROLE_PAIRS:
            return ResultPress(job_id, action, roles=key)
        case [action, key] if action == CATEGORY_SCREEN and key in CATEGORIES:
            return ResultPress(job_id, action, category=key)
        case [action, key, index] if action == ASK_OUTPUT and key in CATEGORIES:
            flags = CATEGORIES[key].flags
            number = parse_id(index)
            if number is not None and number < len(flags):
                return ResultPress(job_id, action, category=key, flag=flags[number])
    return None
