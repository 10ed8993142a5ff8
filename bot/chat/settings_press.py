"""A settings button press, applied exactly once even when its update is handled twice.

Most buttons toggle (an output, speaker separation, a group's mode), so applying one press twice
undoes it. The inbox handles an update again when the process died after the handler saved its
change but before the update was marked handled; the settings row records which update made
the last change, so that second run sees its own change and only shows the result.
"""

from __future__ import annotations

from bot.chat.preferences import changed_by, load_preferences, save_preferences
from bot.chat.settings_menu import (
    NO_TEMPLATES,
    MenuResult,
    Templates,
    TranslatorFor,
    already_applied,
    apply_action,
)


async def press_settings_button(
    chat_id: int,
    data: str,
    translator_for: TranslatorFor,
    *,
    is_group: bool,
    update_id: int,
    templates: Templates = NO_TEMPLATES,
) -> MenuResult:
    """Raises InvalidAction for data the menu never produced."""
    prefs = await load_preferences(chat_id)
    result = apply_action(prefs, data, translator_for, is_group=is_group, templates=templates)
    if not result.changed:
        return result
    if await changed_by(chat_id, update_id):
        return already_applied(
            result, prefs, translator_for, is_group=is_group, templates=templates
        )
    await save_preferences(chat_id, result.preferences, changed_by_update=update_id)
    return result
