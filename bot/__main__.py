"""`python -m bot`: start the bot from the environment and `.env`: long polling, or webhook mode
when WEBHOOK_URL is set."""

from __future__ import annotations

import asyncio
import signal
import sys

from pydantic import ValidationError

from bot.app import serve
from bot.config import Config, describe_config_error
from bot.logs import configure_logging
from bot.receiving import StartupRefused


def main() -> int:
    try:
        config = Config()  # type: ignore[call-arg]  # required values come from the env
    except ValidationError as exc:
        print(describe_config_error(exc), file=sys.stderr)
        return 2
    configure_logging(
        config.log_level,
        secrets=[
            config.telegram_bot_token.get_secret_value(),
            config.intron_api_key.get_secret_value(),
            config.webhook_secret.get_secret_value() if config.webhook_secret else "",
        ],
    )
    try:
        asyncio.run(_run(config))
    except StartupRefused as exc:
        print(f"Start-up failed: {exc}", file=sys.stderr)
        return 1
    return 0


async def _run(config: Config) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await serve(config, stop)


if __name__ == "__main__":
    sys.exit(main())
