"""What the tests run against: real PostgreSQL, a real server process, a real channel."""

from __future__ import annotations

import glob
import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any

import grpc
import peewee
from google.protobuf import message_factory

from issues.v1 import issue_service_pb2, issue_service_pb2_grpc
from service.app import tokens
from service.storage import database

REPO = pathlib.Path(__file__).resolve().parent.parent
# How long a server or gateway subprocess may take to start: only a ceiling (a
# start returns as soon as it logs that it serves), generous because parallel
# test workers start several at once, and a session server that fails to start
# fails every test of its backend on that worker.
START_TIMEOUT = 120.0
SERVICE = issue_service_pb2.DESCRIPTOR.services_by_name["IssueService"]
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


# -- PostgreSQL ---------------------------------------------------------------


def _reachable(url: str) -> bool:
    try:
        db = database.open_database(url, pool_size=1)
        db.connect()
        db.close_all()
        return True
    except peewee.DatabaseError:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ThrowawayPostgres:
    """A PostgreSQL cluster in a temporary directory, for machines without one running."""

    def __init__(self, *, standby_of: ThrowawayPostgres | None = None) -> None:
        """A new cluster, or (`standby_of`) a streaming standby of a running one
        (`pg_basebackup -R`), started on a port of its own."""
        bindir = self.find_bindir()
        if bindir is None:
            raise RuntimeError("no initdb/pg_ctl found")
        self.bindir = bindir
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="issues-pg-"))
        self.port = _free_port()
        # initdb refuses to run as root.
        self.run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.run_as:
            shutil.chown(self.dir, "postgres")
        try:
            if standby_of is None:
                self._run("initdb", "-D", str(self.dir / "data"), "-U", "postgres", "--auth=trust", "-E", "UTF8")
            else:
                self._run(
                    "pg_basebackup",
                    "-D",
                    str(self.dir / "data"),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(standby_of.port),
                    "-U",
                    "postgres",
                    "-R",
                    "-X",
                    "stream",
                    "--checkpoint=fast",
                )
            self.start_server()
        except BaseException:
            shutil.rmtree(self.dir, ignore_errors=True)  # nothing runs from it yet
            raise
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @staticmethod
    def find_bindir() -> pathlib.Path | None:
        found = shutil.which("pg_ctl")
        if found:
            # A symlink on PATH (/usr/local/bin/pg_ctl): the real directory has every tool.
            return pathlib.Path(found).resolve().parent
        candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        return pathlib.Path(candidates[-1]).parent if candidates else None

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([*self.run_as, str(self.bindir / tool), *args], check=True, capture_output=True)

    def start_server(self) -> None:
        self._run(
            "pg_ctl",
            "-D",
            str(self.dir / "data"),
            "-l",
            str(self.dir / "log"),
            "-w",
            "start",
            "-o",
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off",
        )

    def run_tool(self, tool: str, *args: str) -> None:
        """Run one of PostgreSQL's programs (as the postgres user when we are root)."""
        self._run(tool, *args)

    def stop_server(self, mode: str = "fast") -> None:
        """Stop the server, keeping its data (an outage, not an ending)."""
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", mode, "-w", "stop")

    def stop(self) -> None:
        """Stop the server and delete the cluster."""
        try:
            self.stop_server()
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(self.dir, ignore_errors=True)


def create_database(admin_url: str) -> tuple[str, str]:
    """A new empty database; returns (its url, its name)."""
    name = f"issues_test_{uuid.uuid4().hex[:12]}"
    admin = database.open_database(admin_url, pool_size=1)
    with admin.connection_context():
        admin.execute_sql(f'CREATE DATABASE "{name}"')
    admin.close_all()
    return admin_url.rsplit("/", 1)[0] + f"/{name}", name


def drop_database(admin_url: str, name: str) -> None:
    admin = database.open_database(admin_url, pool_size=1)
    with admin.connection_context():
        admin.execute_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close_all()


# -- tokens -------------------------------------------------------------------

_databases: dict[str, peewee.Database] = {}


def use_database(url: str) -> peewee.Database:
    """Bind the storage layer of the test process to the database at `url`."""
    db = _databases.get(url)
    if db is None:
        db = _databases[url] = database.open_database(url, pool_size=2)
    database.bind(db)
    return db


def in_database(url: str, fn: Any, *, write: bool = False) -> Any:
    """Run `fn` in a transaction on the database at `url`, from the test process."""
    use_database(url)
    return database.transaction(fn, write=write)


def mint_token(
    url: str, role: str = "admin", workspace: str | None = None, email: str | None = None
) -> tuple[str, str]:
    slug = workspace or f"ws-{uuid.uuid4().hex[:10]}"
    email = email or f"{role}-{uuid.uuid4().hex[:6]}@example.com"
    use_database(url)
    return tokens.create_token(slug, email, role, create_workspace=True), slug


def close_databases() -> None:
    for db in _databases.values():
        db.close_all()
    _databases.clear()


# -- the server process -------------------------------------------------------


class ServerProcess:
    """`python -m service serve` in a child process, on a free port.

    With `workers` above 1 it is the supervisor of `serve --workers N`, started
    once it logs that every process serves; `pids` then names each process
    ("worker-1", ..., "gateway") and `worker_targets` each worker's own port.
    """

    def __init__(
        self,
        database_url: str,
        workdir: pathlib.Path,
        *,
        http: bool = False,
        env: dict[str, str] | None = None,
        workers: int = 1,
        grpc_port: int = 0,
    ) -> None:
        self.database_url = database_url
        self.grpc_port = grpc_port  # 0: a free one, picked anew at each start
        self.workdir = workdir
        self.http = http
        self.workers = workers
        self.env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.http_port = 0
        self.pids: dict[str, int] = {}
        self.worker_targets: list[str] = []
        self.start()

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = START_TIMEOUT) -> None:
        self.port = self.http_port = 0
        self.log = self.workdir / f"server-{time.monotonic_ns()}.log"
        self.stdout = self.workdir / f"server-{time.monotonic_ns()}.out"
        listen = [
            "--grpc-listen",
            f"127.0.0.1:{self.grpc_port}",
            *(["--http-listen", "127.0.0.1:0"] if self.http else ["--no-http"]),
            *(["--workers", str(self.workers)] if self.workers > 1 else []),
        ]
        with open(self.log, "wb") as err, open(self.stdout, "wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "service", "serve", "--database-url", self.database_url, *listen],
                cwd=self.workdir,
                stdout=out,
                stderr=err,
                env=self.env,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for entry in self.log_entries():
                if self.workers > 1:
                    if entry.get("msg") == "supervisor serving":
                        self.port = int(entry["grpc_listen"].rsplit(":", 1)[1])
                        self.http_port = int(entry["http_listen"].rsplit(":", 1)[1]) if entry["http_listen"] else 0
                        self.pids, self.worker_targets = entry["pids"], entry["worker_listen"]
                    continue
                if entry.get("msg") == "serving grpc":
                    self.port = int(entry["grpc_listen"].rsplit(":", 1)[1])
                if entry.get("msg") == "serving http":
                    self.http_port = int(entry["http_listen"].rsplit(":", 1)[1])
            if self.port and (self.http_port or not self.http):
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log.read_text()}")
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"server did not start:\n{self.log.read_text()}")

    def log_entries(self) -> list[dict[str, Any]]:
        entries = []
        for line in self.log.read_text().splitlines():
            try:
                entries.append(json.loads(line))
            except ValueError:
                entries.append({"raw": line})
        return entries

    def stop(self, sig: int = 15, timeout: float = 20.0) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def peak_rss_bytes(self) -> int:
        """The server process's high-water mark of resident memory (VmHWM)."""
        assert self.process is not None
        return peak_rss_bytes(self.process.pid)

    def restart(self) -> None:
        self.stop()
        self.start()


def peak_rss_bytes(pid: int) -> int:
    """A process's high-water mark of resident memory (VmHWM)."""
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM")


class GatewayProcess:
    """`python -m gateway` in a child process, in front of `grpc_target`, on `port`."""

    def __init__(self, grpc_target: str, port: int, workdir: pathlib.Path, *, timeout: float = START_TIMEOUT) -> None:
        self.port = port
        self.log = workdir / f"gateway-{time.monotonic_ns()}.log"
        with open(self.log, "wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gateway", "--http-listen", f"127.0.0.1:{port}", "--grpc-target", grpc_target],
                cwd=REPO,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        deadline = time.monotonic() + timeout
        while '"serving http"' not in self.log.read_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the gateway did not start:\n{self.log.read_text()}")
            time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def peak_rss_bytes(self) -> int:
        return peak_rss_bytes(self.process.pid)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


# -- calling the API ----------------------------------------------------------


class Api:
    """IssueService calls with a token: `api.CreateIssue(title="x")`.

    Keyword arguments build the method's request message.
    """

    def __init__(self, channel: grpc.Channel, token: str | None) -> None:
        self._stub = issue_service_pb2_grpc.IssueServiceStub(channel)
        self.metadata = (("authorization", f"Bearer {token}"),) if token else ()

    def __getattr__(self, name: str) -> Any:
        method = SERVICE.methods_by_name[name]
        request_class = message_factory.GetMessageClass(method.input_type)  # whichever file declares it
        call = getattr(self._stub, name)

        def invoke(request: Any = None, **fields: Any) -> Any:
            return call(request if request is not None else request_class(**fields), metadata=self.metadata, timeout=30)

        return invoke


def bad_request_fields(error: grpc.RpcError) -> list[str]:
    """The fields named by the google.rpc.BadRequest details of an error."""
    from google.rpc import error_details_pb2
    from grpc_status import rpc_status

    status = rpc_status.from_call(error)
    fields = []
    for detail in status.details if status else []:
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            fields += [v.field for v in bad.field_violations]
    return fields


def database_host_port(url: str) -> tuple[str, int]:
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 5432


def replace_host_port(url: str, host: str, port: int) -> str:
    """The same database URL, reached at host:port."""
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    user = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}{host}:{port}"))
