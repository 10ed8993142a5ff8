"""The baseline: a voice-note bot written the way a first attempt usually is.

One httpx client, a `getUpdates` loop, and for every voice note a task that downloads the
whole file into memory, uploads the bytes to Intron and then polls that job's status every
5 seconds on its own, with no shared budget and no persistence. It exists only so that the
benchmark has something honest to compare the real bot with; do not deploy it.

Reads the same environment variables as the bot: TELEGRAM_BOT_TOKEN, INTRON_API_KEY,
INTRON_BASE_URL, TELEGRAM_BASE_URL, TELEGRAM_BASE_FILE_URL. Stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from typing import Any

import httpx

log = logging.getLogger("naive_bot")

POLL_EVERY_SECONDS = 5.0
LONG_POLL_SECONDS = 10


class NaiveBot:
    def __init__(self, env: dict[str, str]) -> None:
        token = env["TELEGRAM_BOT_TOKEN"]
        self.api = env.get("TELEGRAM_BASE_URL", "https://api.telegram.org/bot") + token
        self.files = env.get("TELEGRAM_BASE_FILE_URL", "https://api.telegram.org/file/bot") + token
        self.intron = env.get("INTRON_BASE_URL", "https://infer.intron.health").rstrip("/")
        self.intron_headers = {"Authorization": f"Bearer {env['INTRON_API_KEY']}"}
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=10.0))
        self.tasks: set[asyncio.Task[None]] = set()

    async def call(self, method: str, **params: Any) -> Any:
        response = await self.http.post(
            f"{self.api}/{method}", json=params, timeout=LONG_POLL_SECONDS + 20
        )
        payload = response.json()
        if not payload.get("ok"):
            raise RuntimeError(f"{method}: {payload.get('description')}")
        return payload["result"]

    async def run(self, stop: asyncio.Event) -> None:
        offset = 0
        stopping = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set():
                poll = asyncio.create_task(
                    self.call("getUpdates", offset=offset, timeout=LONG_POLL_SECONDS)
                )
                await asyncio.wait({poll, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if stop.is_set():
                    poll.cancel()
                    with contextlib.suppress(BaseException):
                        await poll
                    break
                try:
                    updates = poll.result()
                except Exception as exc:
                    log.warning("getUpdates failed: %s", exc)
                    await asyncio.sleep(1.0)
                    continue
                for update in updates:
                    offset = max(offset, update["update_id"] + 1)
                    message = update.get("message") or {}
                    if "voice" in message:
                        task = asyncio.create_task(self.transcribe(message))
                        self.tasks.add(task)
                        task.add_done_callback(self.tasks.discard)
        finally:
            stopping.cancel()
            for task in list(self.tasks):
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
            await self.http.aclose()

    async def transcribe(self, message: dict[str, Any]) -> None:
        chat_id = message["chat"]["id"]
        message_id = message["message_id"]
        try:
            tg_file = await self.call("getFile", file_id=message["voice"]["file_id"])
            download = await self.http.get(f"{self.files}/{tg_file['file_path']}")
            download.raise_for_status()
            audio = download.content  # the whole recording, in memory
            name = "voice.ogg"
            await self.before_upload()
            upload = await self.http.post(
                f"{self.intron}/file/v1/upload",
                headers=self.intron_headers,
                data={"audio_file_name": name},
                files={"audio_file_blob": (name, audio, "audio/ogg")},
            )
            upload.raise_for_status()
            file_id = upload.json()["data"]["file_id"]
            data = await self.wait_transcribed(file_id)
            if data.get("processing_status") == "FILE_TRANSCRIBED":
                text = "📝 Transcript\n" + str(data.get("audio_transcript", ""))
            else:
                text = "❌ Transcription failed."
            await self.call(
                "sendMessage",
                chat_id=chat_id,
                text=text,
                reply_parameters={"message_id": message_id},
            )
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("chat %s message %s: failed", chat_id, message_id)

    async def before_upload(self) -> None:
        """No budget here: every upload goes at once."""

    async def wait_transcribed(self, file_id: str) -> dict[str, Any]:
        """Ask every 5 s until Intron is done; returns its `data`."""
        while True:
            await asyncio.sleep(POLL_EVERY_SECONDS)
            answer = await self.http.get(
                f"{self.intron}/file/v1/status/{file_id}", headers=self.intron_headers
            )
            if answer.status_code != 200:
                continue  # a first attempt just tries again next time
            data: dict[str, Any] = answer.json()["data"]
            if data.get("processing_status") in ("FILE_TRANSCRIBED", "FILE_PROCESSING_FAILED"):
                return data


async def serve(bot: NaiveBot) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await bot.run(stop)


def main(bot_class: type[NaiveBot] = NaiveBot) -> int:
    """Run a baseline bot from the environment until SIGTERM (the benchmark's way)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    asyncio.run(serve(bot_class(dict(os.environ))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
