"""A guard on the code itself: no text reaches a chat without going through the translator.

It reads the bot's source (bot/, handlers/) and fails on any call that shows text to a user
(a reply, an edit, a button, a command description, a button's answer, a job's failure)
whose text is an English literal, an f-string with words in it, or a module constant holding
one (marked with N_ or not), instead of `tr.gettext(...)` / `tr.ngettext(...)`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PROJECT_ROOT = Path(__file__).parent.parent
SOURCES = ("bot", "handlers")

# Calls that put text in front of a user, and which of their arguments are that text
# (positions, then keyword names).
SINKS: dict[str, tuple[tuple[int, ...], tuple[str, ...]]] = {
    "reply_text": ((0,), ("text",)),
    "send_message": ((1,), ("text",)),
    "edit_message_text": ((0,), ("text",)),
    "edit_status": ((2,), ("text",)),
    "answer": ((0, 1), ("text",)),  # query.answer(text) and handlers.common.answer(q, text)
    "InlineKeyboardButton": ((0,), ("text",)),
    "_button": ((0,), ()),
    "BotCommand": ((1,), ("description",)),
    "MenuScreen": ((0,), ("text",)),
    "_fail": ((1,), ("message",)),
    "AudioUnavailable": ((0,), ()),
    "reply_document": ((), ("caption",)),
    "send_document": ((), ("caption",)),
}
TRANSLATING = {"gettext", "ngettext", "phrase"}


def _has_words(text: str) -> bool:
    return any(ch.isalpha() for ch in text)


def module_constants(tree: ast.Module) -> set[str]:
    """Module-level names bound to English text (a literal, or an N_-marked one)."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if _is_english(node.value, set()) or _is_marked(node.value):
                names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


def _is_marked(node: ast.expr) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "N_"


def _is_english(node: ast.expr, constants: set[str]) -> bool:
    """Whether this expression shows untranslated English words."""
    match node:
        case ast.Constant(value=str() as text):
            return _has_words(text)
        case ast.JoinedStr(values=values):
            return any(
                _is_english(v, constants) if not isinstance(v, ast.FormattedValue) else False
                for v in values
            ) or any(
                isinstance(v, ast.FormattedValue) and _is_english(v.value, constants)
                for v in values
            )
        case ast.BinOp(left=left, right=right):
            return _is_english(left, constants) or _is_english(right, constants)
        case ast.IfExp(body=body, orelse=orelse):
            return _is_english(body, constants) or _is_english(orelse, constants)
        case ast.Name(id=name):
            return name in constants
        case ast.Call() if _is_marked(node):
            return True  # N_ only marks a message id: shown as is, it is English
    return False


def _call_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def untranslated_texts(source: str, constants: set[str]) -> Iterator[tuple[int, str]]:
    """(line, call) of every call in `source` that shows English without translating it."""
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = _call_name(node)
        if name not in SINKS:
            continue
        positions, keywords = SINKS[name]
        shown = [node.args[i] for i in positions if i < len(node.args)]
        shown += [k.value for k in node.keywords if k.arg in keywords]
        if any(_is_english(arg, constants) for arg in shown):
            yield node.lineno, name


def source_files() -> list[Path]:
    return sorted(p for folder in SOURCES for p in (PROJECT_ROOT / folder).rglob("*.py"))


def test_no_english_text_reaches_a_chat_untranslated() -> None:
    trees = {path: ast.parse(path.read_text()) for path in source_files()}
    # Constants are often imported from the module that defines them: gather them all.
    constants = set().union(*(module_constants(tree) for tree in trees.values()))
    found = [
        f"{path.relative_to(PROJECT_ROOT)}:{line}: {call}(...)"
        for path in trees
        for line, call in untranslated_texts(path.read_text(), constants)
    ]
    assert not found, "user-facing text not passed through the translator:\n" + "\n".join(found)


def test_the_guard_sees_each_way_english_slips_through() -> None:
    bad = """
GREETING = N_("Hello")
await message.reply_text("Send me a voice note")
await message.reply_text(f"Files up to {mb} MB")
await message.reply_text("❌ " + reason + " Please try again")
await answer(query, GREETING, alert=True)
InlineKeyboardButton("Cancel", callback_data="forget:no")
BotCommand("help", "How to use the bot")
await query.edit_message_text(text="Nothing was erased." if x else tr.gettext("Erased."))
"""
    good = """
await message.reply_text(tr.gettext("Send me a voice note"))
await message.reply_text(f"❌ {tr.phrase(problem)}", do_quote=True)
await answer(query, tr.gettext(GREETING), alert=True)
InlineKeyboardButton(tr.gettext("Cancel"), callback_data="forget:no")
await message.reply_text(screen.text, reply_markup=screen.markup)
"""
    constants = module_constants(ast.parse(bad))
    assert constants == {"GREETING"}
    assert sorted(line for line, _ in untranslated_texts(bad, constants)) == [3, 4, 5, 6, 7, 8, 9]
    assert list(untranslated_texts(good, constants)) == []
