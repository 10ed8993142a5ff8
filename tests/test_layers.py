"""Imports point one way, down the rooms: a module may import its own room and the rooms
below it, never one above. Read from the source with `ast`, so an import added anywhere, even
inside a function, is caught."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Top to bottom. A room is a folder of bot/ (or handlers/, storage/); bot/'s own modules
# (app.py, cli.py, __main__.py) assemble everything and sit on top; config, logs and
# metrics are cross-cutting and sit at the bottom with storage; outages (the outage logs of
# the database, Telegram and Intron) below them, so metrics can tell of one too.
LAYERS: list[set[str]] = [
    {"bot (assembly)"},
    {"handlers"},
    {"bot.web"},
    {"bot.chat", "bot.ops"},
    {"bot.engine"},
    {"bot.telegram_io"},
    {"bot.render"},
    {"bot.intron"},
    {"bot.i18n"},
    {"bot.metrics", "bot.logs", "bot.exit_status"},
    {"bot.outages"},
    {"bot.config"},
    {"storage"},
]
ASSEMBLY = {"app", "cli", "__main__"}
RANK = {room: depth for depth, rooms in enumerate(LAYERS) for room in rooms}


def room_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] in ("handlers", "storage"):
        return parts[0]
    if parts[0] != "bot" or len(parts) < 2:
        return None
    if parts[1] in ASSEMBLY:
        return "bot (assembly)"
    return ".".join(parts[:2])


def module_name(path: Path) -> str:
    relative = path.relative_to(ROOT).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def upward_imports() -> list[str]:
    wrong: list[str] = []
    for folder in ("bot", "handlers", "storage"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            source = room_of(module_name(path))
            if source is None:
                continue
            for line, imported in imports_of(path):
                target = room_of(imported)
                if target is None or target == source:
                    continue
                if RANK[target] <= RANK[source]:
                    wrong.append(f"{path.relative_to(ROOT)}:{line} imports {imported}")
    return wrong


def test_every_room_has_a_place_in_the_layers() -> None:
    rooms = {
        room_of(module_name(p))
        for f in ("bot", "handlers", "storage")
        for p in (ROOT / f).rglob("*.py")
    }
    assert rooms - {None} <= set(RANK), sorted(r for r in rooms - set(RANK) if r)


def test_no_import_runs_back_up_between_the_rooms() -> None:
    assert upward_imports() == []
