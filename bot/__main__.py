"""`python -m bot`: run the bot from the environment and `.env` (long polling, or webhook mode
when WEBHOOK_URL is set); `python -m bot check`: test what it depends on, one line each."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from pydantic import ValidationError

from bot.app import serve
from bot.config import Config, describe_config_error
from bot.logs import configure_logging
from bot.ops.check import run_checks
from bot.ops.startup import EXIT_MISCONFIGURED, StartupFailed

USAGE = "usage: python -m bot [check]"

log = logging.getLogger("bot")


def main(argv: list[str]) -> int:
    if argv not in ([], ["check"]):
        print(USAGE, file=sys.stderr)
        return EXIT_MISCONFIGURED
    try:
        config = Config()  # type: ignore[call-arg]  # required values come from the env
    except ValidationError as exc:
        print(describe_config_error(exc), file=sys.stderr)
        # `check` answers 1 for anything that is not right; the bot says 2: fix the config.
        return 1 if argv else EXIT_MISCONFIGURED
    if argv == ["check"]:
        return asyncio.run(run_checks(config, out=sys.stdout))
    configure_logging(config.log_level, secrets=config.secrets, log_format=config.log_format)
    try:
        asyncio.run(_run(config))
    except StartupFailed as exc:
        log.error("%s", exc)
        return exc.exit_status
    return 0


async def _run(config: Config) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await serve(config, stop)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
