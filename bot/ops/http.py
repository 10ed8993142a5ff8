"""HTTP for operators: the `/metrics` route, and a small uvicorn server inside the bot's loop.

`metrics_route` is a plain Starlette route, so the webhook server can mount it in its own app
and one port serves both; `serve_http` runs an app next to the bot (`serve_metrics` in polling
mode).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from bot.ops.metrics import BotMetrics
from bot.ops.startup import Problem, StartupFailed

METRICS_PATH = "/metrics"
SHUTDOWN_GRACE_SECONDS = 2


def metrics_route(metrics: BotMetrics, path: str = METRICS_PATH) -> Route:
    async def endpoint(request: Request) -> Response:
        await metrics.refresh()
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return Route(path, endpoint, methods=["GET"])


def metrics_app(metrics: BotMetrics) -> Starlette:
    return Starlette(routes=[metrics_route(metrics)])


class _EmbeddedServer(uvicorn.Server):
    """uvicorn as a guest: the bot owns SIGINT/SIGTERM and decides when this server stops."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def serve_http(app: ASGIApp, sock: socket.socket) -> AsyncIterator[None]:
    """Serve `app` on a bound socket until the block ends, then close it.

    The caller binds the socket, so a port in use is an OSError it can explain, instead of
    uvicorn ending the process.
    """
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
    )
    server = _EmbeddedServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="http-server")
    try:
        while not server.started:
            if task.done():
                task.result()  # uvicorn could not start: say why
                raise RuntimeError("the HTTP server stopped during start-up")
            await asyncio.sleep(0.01)
        yield
    finally:
        server.should_exit = True
        await task
        sock.close()


@contextlib.asynccontextmanager
async def serve_metrics(metrics: BotMetrics, host: str, port: int) -> AsyncIterator[int]:
    """`/metrics` on its own port (polling mode); yields the port. A port that cannot be used
    stops start-up with one line."""
    try:
        sock = socket.create_server((host, port))
    except OSError as exc:
        where = f"{host}:{port} (METRICS_HOST, METRICS_PORT)"
        raise StartupFailed(
            Problem(f"cannot serve metrics on {where}: {exc.strerror or exc}", False)
        ) from None
    async with serve_http(metrics_app(metrics), sock):
        yield sock.getsockname()[1]
