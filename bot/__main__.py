"""`python -m bot`: start the bot in long-polling mode from the environment and `.env`."""

from __future__ import annotations

import asyncio
import signal
import sys

from pydantic import ValidationError

from bot.app import serve
from bot.logs import configure_logging
from bot.settings import Settings, describe_settings_error


def main() -> int:
    try:
        settings = Settings()  # type: ignore[call-arg]  # required values come from the env
    except ValidationError as exc:
        print(describe_settings_error(exc), file=sys.stderr)
        return 2
    configure_logging(
        settings.log_level,
        secrets=[
            settings.telegram_bot_token.get_secret_value(),
            settings.intron_api_key.get_secret_value(),
        ],
    )
    asyncio.run(_run(settings))
    return 0


async def _run(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await serve(settings, stop)


if __name__ == "__main__":
    sys.exit(main())
