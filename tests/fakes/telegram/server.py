"""The aiohttp server: routing, request parsing, fault injection and the test-facing API."""

from __future__ import annotations

import asyncio
import copy
import inspect
import logging
import socket
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from tests.fakes.telegram.errors import ApiError, bad_request
from tests.fakes.telegram.flood import BotFloodLimit, GroupFloodLimit, counted_chat
from tests.fakes.telegram.models import Injection, JSONDict, LateAnswer, UploadedFile
from tests.fakes.telegram.params import decode_param
from tests.fakes.telegram.validation import MAX_UPLOAD_BYTES
from tests.fakes.telegram.webhook import WebhookDelivery

log = logging.getLogger(__name__)


def _short(value: Any, limit: int = 300) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Hold:
    """Calls of one method kept waiting. ``release()`` answers them normally; ``drop()``
    answers them 502 without performing them (as if they never reached Telegram), for calls
    from a bot process the test has killed meanwhile. New calls pass either way."""

    def __init__(self) -> None:
        self._gate = asyncio.Event()
        self._dropped = False

    def release(self) -> None:
        self._gate.set()

    def drop(self) -> None:
        self._dropped = True
        self._gate.set()

    async def wait(self) -> None:
        if self._gate.is_set():
            return
        await self._gate.wait()
        if self._dropped:
            raise ApiError(502, "Bad Gateway")


class FakeTelegram(WebhookDelivery):
    """A fake Telegram Bot API server on 127.0.0.1 (see the ``tests.fakes.telegram`` docstring).

    It is built in layers, each module adding to the one below it: ``FileStore`` (files) ->
    ``ChatState`` (chats, messages, updates) -> ``RequestChecks`` -> ``BotApiMethods`` ->
    ``WebhookDelivery`` -> this class (HTTP, lifecycle, fault injection and what tests inspect).
    """

    def __init__(
        self,
        token: str = "123456:TEST-TOKEN-not-real",
        *,
        max_download_bytes: int = 20 * 1024 * 1024,
    ) -> None:
        super().__init__(token, max_download_bytes=max_download_bytes)
        self.requests: list[tuple[str, JSONDict]] = []
        self.rejections: list[tuple[str, JSONDict, str]] = []
        self.file_downloads: list[str] = []
        self._injections: dict[str, list[Injection]] = {}
        self._late_answers: dict[str, list[LateAnswer]] = {}
        self._holds: dict[str, Hold] = {}
        self._flood: GroupFloodLimit | None = None
        self._bot_flood: BotFloodLimit | None = None
        # (chat id, time.monotonic()) of every message put in a chat (sent, edited...) that
        # passed the flood limits; and (method, params) of those the limits refused.
        self.counted_messages: list[tuple[int, float]] = []
        self.flood_refusals: list[tuple[str, JSONDict]] = []
        # While set, Telegram is down: every call (file downloads too) is answered this status
        # (502, as Telegram's front servers do), or with 0 dropped unanswered.
        self._down: int | None = None
        self.calls_while_down = 0

        self._runner: web.AppRunner | None = None
        self._port: int | None = None

        self._handlers: dict[str, Callable[[JSONDict], Any]] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageCaption": self._edit_message_caption,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "sendChatAction": self._send_chat_action,
            "getFile": self._get_file,
            "getChatMember": self._get_chat_member,
            "sendDocument": self._send_document,
            "close": self._true,
            "logOut": self._true,
        }
        self._method_names = {name.lower(): name for name in self._handlers}

    # ---------------------------------------------------------------------------------------
    # lifecycle

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._require_port()}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self._require_port()}/file/bot"

    def _require_port(self) -> int:
        if self._port is None:
            raise RuntimeError("FakeTelegram is not started: await fake.start() first")
        return self._port

    async def start(self, sock: socket.socket | None = None) -> None:
        """Listen on a free port of 127.0.0.1, or on `sock`: a socket the test bound earlier
        and kept (refusing connections until now) plays a Telegram that comes up late."""
        if self._runner is not None:
            raise RuntimeError("FakeTelegram is already running")
        self._closing = False
        app = web.Application(client_max_size=MAX_UPLOAD_BYTES + 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_route("GET", "/file/bot{token}/{file_path:.*}", self._handle_file)
        app.router.add_route("*", "/{tail:.*}", self._handle_unknown_path)
        runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0
        )
        await runner.setup()
        if sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
        try:
            site = web.SockSite(runner, sock)
            await site.start()
        except BaseException:
            sock.close()
            await runner.cleanup()
            raise
        self._port = sock.getsockname()[1]
        self._runner = runner

    async def stop(self) -> None:
        self._closing = True
        self._wake_pollers()
        for hold in self._holds.values():
            hold.release()
        await self._stop_delivery()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> FakeTelegram:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ---------------------------------------------------------------------------------------
    # what tests inspect

    @property
    def my_commands(self) -> list[JSONDict]:
        """Commands set for the default scope and no language code."""
        return copy.deepcopy(self._commands.get(self._commands_key(None, None), []))

    def commands_for(
        self, scope: JSONDict | None = None, language_code: str = ""
    ) -> list[JSONDict]:
        return copy.deepcopy(self._commands.get(self._commands_key(scope, language_code), []))

    def webhook_info(self) -> JSONDict:
        """What getWebhookInfo would answer now."""
        return self._get_webhook_info({})

    def calls(self, method: str) -> list[JSONDict]:
        """Params of every call of ``method`` (accepted or rejected), in order."""
        return [params for name, params in self.requests if name == method]

    async def wait_for(
        self,
        predicate: Callable[[], bool],
        timeout: float = 30.0,  # noqa: ASYNC109 - the interface tests are written against
    ) -> None:
        """Poll ``predicate`` until it holds. ``timeout`` is hang protection: generous, so
        that a busy machine is never mistaken for a bug."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        last_error: BaseException | None = None
        while True:
            try:
                if predicate():
                    return
                last_error = None
            except Exception as exc:  # e.g. IndexError while the bot has not answered yet
                last_error = exc
            if loop.time() >= deadline:
                break
            await asyncio.sleep(0.02)
        recent = [(m, p) for m, p in self.requests if m != "getUpdates"][-8:]
        lines = [f"condition not met within {timeout}s"]
        if last_error is not None:
            lines.append(f"predicate last raised {last_error!r}")
        lines.append("last requests (getUpdates omitted):")
        lines += [f"  {method} {_short(params)}" for method, params in recent] or ["  (none)"]
        if self.rejections:
            lines.append("last rejections:")
            lines += [f"  {m} -> {d} {_short(p, 200)}" for m, p, d in self.rejections[-5:]]
        raise AssertionError("\n".join(lines))

    def fail_next(
        self,
        method: str,
        *,
        status: int = 400,
        description: str = "Bad Request: injected",
        retry_after: int | None = None,
        times: int = 1,
        after: int = 0,
    ) -> None:
        """The next `times` calls of `method` (after letting `after` through) are refused."""
        parameters: JSONDict | None = None
        if retry_after is not None:
            if status == 400:
                status = 429
            if description == "Bad Request: injected":
                description = f"Too Many Requests: retry after {retry_after}"
            parameters = {"retry_after": retry_after}
        self._injections.setdefault(method.lower(), []).append(
            Injection(status, description, parameters, times, skip=after)
        )

    def go_down(self, status: int = 502) -> None:
        """Telegram is down until `come_back()`: every call, getUpdates and file downloads
        included, gets `status` with an HTML page as Telegram's front servers send; status 0
        drops the connection with no answer at all."""
        self._down = status

    def come_back(self) -> None:
        self._down = None

    def _outage_answer(self, request: web.Request) -> web.Response | None:
        if self._down is None:
            return None
        self.calls_while_down += 1
        if self._down == 0:
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=502)  # never reaches the client
        return web.Response(
            status=self._down, text="<html><h1>Bad Gateway</h1></html>", content_type="text/html"
        )

    def stop_failing(self) -> None:
        """Forget every pending injected failure and late answer: Telegram is back."""
        self._injections.clear()
        self._late_answers.clear()

    def answer_late(self, method: str, *, delay: float, times: int = 1, after: int = 0) -> None:
        """The next `times` calls of `method` (after letting `after` through) are carried out
        at once (a message is stored, say) but answered only after `delay` seconds: a client
        that gave up sooner never learns it. (A call that hangs before it is carried out is
        ``hold``.)"""
        self._late_answers.setdefault(method.lower(), []).append(
            LateAnswer(delay, times, skip=after)
        )

    def answer_when_released(self, method: str, *, times: int = 1, after: int = 0) -> Hold:
        """As ``answer_late``, but the answer waits for the returned hold: ``release()`` sends
        it, ``drop()`` answers 502 instead (the call was carried out all the same). For a test
        that must act while the bot waits for the answer, however long acting takes."""
        hold = Hold()
        self._late_answers.setdefault(method.lower(), []).append(
            LateAnswer(0.0, times, skip=after, until=hold.wait)
        )
        return hold

    def hold(self, method: str) -> Hold:
        """Calls of ``method`` from now on get no answer (they are recorded in ``requests`` as
        they arrive) until the hold is released or dropped."""
        hold = Hold()
        self._holds[method.lower()] = hold
        return hold

    def limit_group_messages(self, per_minute: int = 20, *, window_seconds: float = 60.0) -> None:
        """Model Telegram's flood limit: beyond ``per_minute`` messages in a minute (or in
        ``window_seconds``, scaled down for a test) in one group, answer 429 with retry_after
        as Telegram does."""
        self._flood = GroupFloodLimit(per_minute, window_seconds=window_seconds)

    def limit_bot_messages(self, per_second: int = 30) -> None:
        """Model Telegram's limit for the whole bot: beyond ``per_second`` messages in a
        second, to any chats, answer 429."""
        self._bot_flood = BotFloodLimit(per_second)

    def max_messages_in_window(self, chat_id: int, window: float) -> int:
        """The most messages ``chat_id`` was given in any ``window`` seconds."""
        times = [at for chat, at in self.counted_messages if chat == chat_id]
        return max((sum(1 for u in times if t <= u < t + window) for t in times), default=0)

    # ---------------------------------------------------------------------------------------
    # HTTP

    async def _read_params(self, request: web.Request) -> JSONDict:
        params: JSONDict = {key: decode_param(key, value) for key, value in request.query.items()}
        if not request.can_read_body:
            return params
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError as exc:
                raise bad_request("can't parse JSON encoded request body") from exc
            if not isinstance(body, dict):
                raise bad_request("can't parse JSON encoded request body")
            params.update(body)
            return params
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, web.FileField):
                params[key] = UploadedFile(value.filename, value.content_type, value.file.read())
            elif isinstance(value, bytes):
                params[key] = UploadedFile(None, None, value)
            else:
                params[key] = decode_param(key, value)
        return params

    @staticmethod
    def _error_response(error: ApiError) -> web.Response:
        payload: JSONDict = {
            "ok": False,
            "error_code": error.status,
            "description": error.description,
        }
        if error.parameters:
            payload["parameters"] = error.parameters
        return web.json_response(payload, status=error.status)

    async def _handle_api(self, request: web.Request) -> web.Response:
        down = self._outage_answer(request)
        if down is not None:
            return down
        raw_method = request.match_info["method"]
        method = self._method_names.get(raw_method.lower(), raw_method)
        try:
            params = await self._read_params(request)
        except ApiError as error:
            self.requests.append((method, {}))
            self.rejections.append((method, {}, error.description))
            return self._error_response(error)
        self.requests.append((method, params))
        try:
            if request.match_info["token"] != self.token:
                raise ApiError(401, "Unauthorized")
            handler = self._handlers.get(method)
            if handler is None:
                raise ApiError(404, "Not Found")
            self._apply_injection(method)
            hold = self._holds.get(method.lower())
            if hold is not None:
                await hold.wait()
            self._check_flood(method, params)
            if method == "getUpdates":
                result = await self._get_updates(params, request)
            else:
                late = self._take_late(method)
                result = handler(params)
                if inspect.isawaitable(result):
                    result = await result
                if late is not None and late.until is not None:
                    await late.until()
                elif late is not None:
                    await asyncio.sleep(late.delay)
        except ApiError as error:
            transport = request.transport
            if error.status == 409 and (transport is None or transport.is_closing()):
                # The client already gave up on this long poll; nobody sees the conflict.
                return self._error_response(error)
            self.rejections.append((method, params, error.description))
            log.debug("fake telegram rejected %s: %s", method, error.description)
            return self._error_response(error)
        return web.json_response({"ok": True, "result": result})

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        down = self._outage_answer(request)
        if down is not None:
            return down
        if request.match_info["token"] != self.token:
            return self._error_response(ApiError(401, "Unauthorized"))
        entry = self._files_by_path.get(request.match_info["file_path"])
        if entry is None or entry.forgotten:
            return self._error_response(ApiError(404, "Not Found"))
        self.file_downloads.append(entry.file_id)
        return web.Response(body=entry.data, content_type="application/octet-stream")

    async def _handle_unknown_path(self, request: web.Request) -> web.Response:
        return self._error_response(ApiError(404, "Not Found"))

    def _check_flood(self, method: str, params: JSONDict) -> None:
        chat = counted_chat(method, params.get("chat_id"))
        if chat is None:
            return
        try:
            if self._flood is not None:
                self._flood.check(method, chat)
            if self._bot_flood is not None:
                self._bot_flood.check(method, chat)
        except ApiError:
            self.flood_refusals.append((method, params))
            raise
        self.counted_messages.append((chat, time.monotonic()))

    def _take_late(self, method: str) -> LateAnswer | None:
        pending = self._late_answers.get(method.lower())
        if not pending:
            return None
        late = pending[0]
        if late.skip > 0:
            late.skip -= 1
            return None
        late.remaining -= 1
        if late.remaining <= 0:
            pending.pop(0)
        return late

    def _apply_injection(self, method: str) -> None:
        pending = self._injections.get(method.lower())
        if not pending:
            return
        injection = pending[0]
        if injection.skip > 0:
            injection.skip -= 1
            return
        injection.remaining -= 1
        if injection.remaining <= 0:
            pending.pop(0)
        raise ApiError(injection.status, injection.description, injection.parameters)
