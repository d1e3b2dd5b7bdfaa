"""Running `issuectl` as a user would: the installed console script, in a child process.

Every run gets a private HOME and XDG_CONFIG_HOME, so no test reads or writes
the real user's login file, and no ISSUES_* variable leaks in from outside.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import httpx
import pytest


def command() -> list[str]:
    """The installed `issuectl` beside this interpreter, else `python -m cli`."""
    script = pathlib.Path(sys.executable).parent / "issuectl"
    if script.exists():
        return [str(script)]
    found = shutil.which("issuectl")
    return [found] if found else [sys.executable, "-m", "cli"]


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        assert self.code == 0, self.stderr
        return json.loads(self.stdout)


class Cli:
    """`cli("list", "--json")` with a home of its own and, by default, the server and a token."""

    def __init__(self, home: pathlib.Path, server: str | None = None, token: str | None = None) -> None:
        self.home = home
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ISSUES_")}
        self.env.update({"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"), "COLUMNS": "200"})
        if server:
            self.env["ISSUES_SERVER"] = server
        if token:
            self.env["ISSUES_TOKEN"] = token

    def __call__(self, *args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> Result:
        done = subprocess.run(
            [*command(), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            env={**self.env, **(env or {})},
            stdin=None if stdin is not None else subprocess.DEVNULL,
        )
        return Result(done.returncode, done.stdout, done.stderr)

    @property
    def login_file(self) -> pathlib.Path:
        return self.home / ".config" / "issuectl" / "login.json"


def http_json(server: Any, token: str, path: str, **params: Any) -> Any:
    """What the HTTP gateway answers for `GET path`: the JSON --json must print."""
    response = httpx.get(f"{server.http_url}{path}", params=params, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    return response.json()


def assert_one_error_line(result: Result, *fragments: str) -> None:
    """Exit 1, nothing on stdout, one `error: ...` line on stderr containing each fragment."""
    assert result.code == 1, (result.code, result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.fixture
def account(grpc_server: Any, make_token: Any) -> str:
    """A token of a fresh workspace (admin; a module may override this fixture)."""
    token, _ = make_token("admin")
    return token


@pytest.fixture
def cli(grpc_server: Any, account: str, tmp_path: pathlib.Path) -> Cli:
    """issuectl pointed at the test server with `account` through the environment."""
    return Cli(tmp_path, grpc_server.target, account)
