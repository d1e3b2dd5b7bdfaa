"""The README's generated clients, run as a user would (only the port differs):
openapi-python-client generates a client from the served document without a
warning and it creates an issue with a description block and reads its event;
openapi-typescript's types of the same document pass `tsc --strict` with
description blocks and event data. They install the generators (pip, npm)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from .test_readme import block_after


def _run(marker: str, grpc_server, token: str, tmp_path) -> subprocess.CompletedProcess[str]:
    script = "set -euo pipefail\n" + block_after(marker).replace("localhost:8080", f"127.0.0.1:{grpc_server.http_port}")
    return subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "TOKEN": token},
        cwd=tmp_path,
    )


@pytest.mark.long
@pytest.mark.parametrize("backend", ["sqlite"], scope="session")
def test_the_readme_python_client_generates_cleanly_and_works(backend, grpc_server, make_token, tmp_path):
    token, _ = make_token("member")
    result = _run("python-client", grpc_server, token, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stdout + result.stderr, result.stdout + result.stderr
    identifier, status, text = result.stdout.splitlines()[-2].split(" ", 2)
    assert identifier.endswith("-1") and status == "open" and text == "Seen on board 3"
    assert result.stdout.splitlines()[-1] == "Power rail undervoltage"


@pytest.mark.parametrize("backend", ["sqlite"], scope="session")
def test_the_readme_typescript_types_check(backend, grpc_server, make_token, tmp_path):
    assert shutil.which("npm"), "npm is needed for the TypeScript client (CI installs buf and redocly with it too)"
    token, _ = make_token("viewer")
    result = _run("typescript-client", grpc_server, token, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("types check")
