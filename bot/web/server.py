"""The HTTP server: a Starlette app on uvicorn, run as a task of the bot's own event loop.

Routes come from the rooms that own them (Telegram's webhook, /healthz, /metrics). Stopping
drains: from the moment stop begins every new request gets 503 (Telegram sends the update
again later, a load balancer moves on), requests already in flight finish, then the socket
closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator

import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import BaseRoute
from starlette.types import Receive, Scope, Send

log = logging.getLogger(__name__)

STARTUP_TIMEOUT_SECONDS = 10.0


class _InLoopServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """The bot owns SIGTERM and SIGINT (see bot/__main__.py); uvicorn must not take them."""
        yield


class WebServer:
    def __init__(self, routes: list[BaseRoute], *, host: str, port: int) -> None:
        self._app = Starlette(routes=routes)
        self._host = host
        self._port = port
        self._draining = False
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._bound_port: int | None = None
        self._server: _InLoopServer | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        """The port listened on (the one the system chose, when asked for port 0)."""
        if self._bound_port is None:
            raise RuntimeError("the web server is not started")
        return self._bound_port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        if self._draining:
            response = PlainTextResponse("shutting down", status_code=503)
            await response(scope, receive, send)
            return
        self._in_flight += 1
        self._idle.clear()
        try:
            await self._app(scope, receive, send)
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()

    async def start(self) -> None:
        """Listen and serve. A port that cannot be used raises OSError (bound here rather than
        by uvicorn, which would end the process instead)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self._host, self._port))
        except OSError:
            sock.close()
            raise
        self._bound_port = sock.getsockname()[1]
        config = uvicorn.Config(
            self,
            interface="asgi3",
            lifespan="off",
            log_config=None,
            access_log=False,
            server_header=False,
        )
        self._server = _InLoopServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="web-server")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STARTUP_TIMEOUT_SECONDS
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("the web server stopped during start-up")
            if loop.time() > deadline:
                raise RuntimeError("the web server did not start")
            await asyncio.sleep(0.01)
        log.debug("web: listening on %s:%d", self._host, self._bound_port)

    async def drain(self, grace: float) -> None:
        """Answer 503 from now on and let requests in flight finish (up to `grace`)."""
        self._draining = True
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                await self._idle.wait()

    async def close(self) -> None:
        """Stop listening; requests still in flight after a drain are cut off."""
        self._draining = True
        server, task, self._server, self._task = self._server, self._task, None, None
        if server is None or task is None:
            return
        server.should_exit = True
        server.force_exit = self._in_flight > 0  # still busy after the grace: stop anyway
        await task
        log.debug("web: stopped")
