"""The command line: `python -m bot --help` and each command's, `--version`, the console
script, and `run --webhook` / `--polling`, the Procfile's way to pin the mode."""

from __future__ import annotations

import shlex
from importlib.metadata import entry_points, version
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT, BotProcess, settings_env
from tests.fakes.intron_api import FakeIntron
from tests.fakes.telegram import FakeTelegram

# No setting at all: help and version must not need the configuration.
BARE_ENV = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(PROJECT_ROOT)}


async def run_command(
    args: list[str], cwd: Path, env: dict[str, str] | None = None
) -> tuple[int, str]:
    """`python -m bot ARGS` to its end: exit status and output."""
    proc = BotProcess(env or BARE_ENV, cwd=cwd)
    await proc.start(args)
    status = await proc.wait(60)
    return status, proc.output.decode()


@pytest.mark.parametrize("flag", ["--help", "-h"])
async def test_help_lists_the_commands(tmp_path: Path, flag: str) -> None:
    status, output = await run_command([flag], tmp_path)
    assert status == 0
    assert output.startswith("usage: python -m bot ")
    for command in ("run", "check"):
        assert f"\n    {command} " in output, f"{command} is not listed:\n{output}"


@pytest.mark.parametrize("command", ["run", "check"])
async def test_each_command_has_its_help(tmp_path: Path, command: str) -> None:
    status, output = await run_command([command, "--help"], tmp_path)
    assert status == 0
    assert output.startswith(f"usage: python -m bot {command} ")
    if command == "run":
        assert "--webhook" in output and "--polling" in output


async def test_version(tmp_path: Path) -> None:
    status, output = await run_command(["--version"], tmp_path)
    assert status == 0
    assert output == f"intron-telegram-bot {version('intron-telegram-bot')}\n"


async def test_an_unknown_command_is_a_usage_error(tmp_path: Path) -> None:
    status, output = await run_command(["frobnicate"], tmp_path)
    assert status == 2
    assert "invalid choice: 'frobnicate'" in output and "Traceback" not in output


def test_the_console_script_is_the_same_command_line() -> None:
    (script,) = entry_points(group="console_scripts", name="intron-bot")
    assert script.value == "bot.cli:main"


def procfile() -> dict[str, list[str]]:
    lines = (PROJECT_ROOT / "Procfile").read_text().splitlines()
    entries = (line.partition(": ") for line in lines if line.strip())
    return {name: shlex.split(command) for name, _, command in entries}


async def test_procfile_web_refuses_to_poll(
    telegram: FakeTelegram, intron: FakeIntron, database_url: str, tmp_path: Path
) -> None:
    """On a platform, `web:` must listen on $PORT: without WEBHOOK_URL it would poll, so it
    stops in one line instead."""
    command = procfile()["web"]
    assert command[:3] == ["python", "-m", "bot"]
    env = settings_env(telegram, intron, database_url, PORT="8080")
    status, output = await run_command(command[3:], tmp_path, env)
    assert status == 2
    assert output.splitlines() == [
        "run --webhook: WEBHOOK_URL is not set, so the bot would poll and never listen on "
        "PORT; set WEBHOOK_URL (and WEBHOOK_SECRET), or run without --webhook to poll"
    ]
    assert telegram.requests == [], "nothing was started"


async def test_procfile_worker_refuses_webhook_mode(
    telegram: FakeTelegram, intron: FakeIntron, database_url: str, tmp_path: Path
) -> None:
    command = procfile()["worker"]
    assert command[:3] == ["python", "-m", "bot"]
    env = settings_env(
        telegram,
        intron,
        database_url,
        WEBHOOK_URL="https://bot.example.org/telegram/hook",
        WEBHOOK_SECRET="a-secret_0123456789",
    )
    status, output = await run_command(command[3:], tmp_path, env)
    assert status == 2
    assert len(output.splitlines()) == 1
    assert output.startswith("run --polling: WEBHOOK_URL is set")
