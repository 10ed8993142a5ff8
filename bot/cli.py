"""The command line: `python -m bot` and the `intron-bot` console script.

`run` (also what no command means) runs the bot; `check` tests what it depends on; `genkey`
prints a new DATA_ENCRYPTION_KEY. Each command is a subparser with its own `--help` and a
`handler(args) -> exit status`; a new command is one more `_add_...` function registered in
`build_parser`.

The bot's own modules are imported inside the handlers, so `--help` and `--version` answer at
once and need no configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

from bot.exit_status import EXIT_MISCONFIGURED

if TYPE_CHECKING:
    from bot.config import Config

DISTRIBUTION = "intron-telegram-bot"

log = logging.getLogger("bot")

Handler = Callable[[argparse.Namespace], int]


def package_version() -> str:
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def _prog(argv0: str) -> str:
    """How the user called us, for the usage line: `python -m bot` shows as __main__.py."""
    name = Path(argv0).name
    return "python -m bot" if name in ("__main__.py", "") else name


def build_parser(prog: str = "python -m bot") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=(
            "Telegram bot that turns voice notes into Intron Sahara transcripts. Settings come "
            "from the environment and .env in the working directory. Without a command: run."
        ),
    )
    parser.add_argument(
        "--version", action="version", version=f"{DISTRIBUTION} {package_version()}"
    )
    commands = parser.add_subparsers(title="commands", dest="command")
    _add_run(commands)
    _add_check(commands)
    _add_genkey(commands)
    # No command means `run` with its defaults; the usage line says the command is optional.
    parser.set_defaults(handler=_run_command, mode=None)
    names = ",".join(commands.choices)
    parser.usage = f"%(prog)s [-h] [--version] [{{{names}}} [options]]"
    return parser


def _add_run(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = commands.add_parser(
        "run",
        help="run the bot (the default): long polling, or webhook mode when WEBHOOK_URL is set",
        description=(
            "Run the bot until SIGTERM or Ctrl-C: long polling, or webhook mode when WEBHOOK_URL "
            "is set. --webhook and --polling pin the mode, so a process meant to listen on "
            "$PORT (a Procfile's web:) cannot quietly poll instead, and the other way round."
        ),
    )
    mode = run.add_mutually_exclusive_group()
    mode.add_argument(
        "--webhook",
        dest="mode",
        action="store_const",
        const="webhook",
        help="refuse to start unless WEBHOOK_URL is set (webhook mode)",
    )
    mode.add_argument(
        "--polling",
        dest="mode",
        action="store_const",
        const="polling",
        help="refuse to start if WEBHOOK_URL is set (long polling)",
    )
    run.set_defaults(handler=_run_command)


def _add_check(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    check = commands.add_parser(
        "check",
        help="test Telegram, Intron, the database (and the webhook): one line each",
        description=(
            "Test each thing the bot depends on and print one line for each; exit 0 when "
            "every line is ok, 1 otherwise. Safe to run beside the running bot."
        ),
    )
    check.set_defaults(handler=_check_command)


def _add_genkey(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    genkey = commands.add_parser(
        "genkey",
        help="print a new random key for DATA_ENCRYPTION_KEY",
        description=(
            "Print a new key for DATA_ENCRYPTION_KEY (32 random bytes, urlsafe base64), which "
            "seals transcripts, results, file names and links in the database. Needs no "
            "configuration. Keep it with the database's backups: without it they cannot be "
            "read. To rotate, move the current key to DATA_ENCRYPTION_OLD_KEYS."
        ),
    )
    genkey.set_defaults(handler=_genkey_command)


def _genkey_command(args: argparse.Namespace) -> int:
    from storage.encrypted import generate_key

    print(generate_key())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(_prog(sys.argv[0]))
    args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    handler: Handler = args.handler
    try:
        return handler(args)
    except KeyboardInterrupt:  # Ctrl-C before the event loop took over the signal
        return 130


def _load_config(*, failed_status: int) -> Config | int:
    """The configuration, or the exit status after printing the one line saying what is
    wrong with it."""
    from pydantic import ValidationError

    from bot.config import Config, describe_config_error

    try:
        return Config()  # type: ignore[call-arg]  # required values come from the env
    except ValidationError as exc:
        print(describe_config_error(exc), file=sys.stderr)
        return failed_status


def _check_command(args: argparse.Namespace) -> int:
    from bot.ops.check import run_checks

    # `check` answers 1 for anything that is not right; the bot says 2: fix the config.
    config = _load_config(failed_status=1)
    if isinstance(config, int):
        return config
    return asyncio.run(run_checks(config, out=sys.stdout))


def _mode_problem(mode: str | None, config: Config) -> str | None:
    if mode == "webhook" and config.webhook_url is None:
        return (
            "run --webhook: WEBHOOK_URL is not set, so the bot would poll and never listen on "
            "PORT; set WEBHOOK_URL (and WEBHOOK_SECRET), or run without --webhook to poll"
        )
    if mode == "polling" and config.webhook_url is not None:
        return (
            "run --polling: WEBHOOK_URL is set, so the bot would run in webhook mode; unset "
            "WEBHOOK_URL, or run with --webhook"
        )
    return None


def _run_command(args: argparse.Namespace) -> int:
    # Before the Telegram and engine modules are imported, so a bad setting is told at once.
    config = _load_config(failed_status=EXIT_MISCONFIGURED)
    if isinstance(config, int):
        return config

    from bot.logs import configure_logging
    from bot.ops.startup import StartupFailed

    problem = _mode_problem(args.mode, config)
    if problem is not None:
        print(problem, file=sys.stderr)
        return EXIT_MISCONFIGURED

    configure_logging(config.log_level, secrets=config.secrets, log_format=config.log_format)
    try:
        asyncio.run(_serve_until_signalled(config))
    except StartupFailed as exc:
        log.error("%s", exc)
        return exc.exit_status
    return 0


async def _serve_until_signalled(config: Config) -> None:
    from bot.app import serve

    stop = asyncio.Event()
    started = asyncio.Event()
    loop = asyncio.get_running_loop()
    # From here on, also during start-up: each start-up step gives way as soon as `stop` is
    # set (bot/ops/startup.py), so a stop request never waits for a database or Telegram.
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await serve(config, stop, started)
    if not started.is_set():
        log.info("stopped during start-up, as asked")
