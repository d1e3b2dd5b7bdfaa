"""The README as a newcomer types it: the run command verbatim in a fresh copy of the checkout (its own
fresh virtual environment, `pip install .`), then, in a second shell, the line the server printed for it
and every block marked `<!-- runnable: NAME -->`, in order, as printed.

Only the ports differ: the run command takes them from ISSUES_GRPC_LISTEN and
ISSUES_HTTP_LISTEN (this machine may be serving 50051 or 8080 already) and the
blocks' `localhost:50051` and `localhost:8080` are rewritten to match.
"""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import time
from typing import Iterator

import pytest

from .. import harness

REPO = pathlib.Path(__file__).resolve().parents[2]
README = REPO / "README.md"
RUNNABLE = re.compile(r"<!-- runnable: ([\w-]+) -->\n```sh\n(.*?)```", re.S)
MARK = "<<<readme block {}>>>"

# What each block promises in the README's words (a reply it shows, a status it names).
PROMISES = {
    "cli-walkthrough": [
        "logged in to",
        "Power rail undervoltage at startup",
        "Plan attached",
        "[plan.md]",
        "sub-issue",
        "Active Issues",
        "issue.created",
        "deleted ",
    ],
    "grpcurl": ["issues.v1.IssueService", '"status": "SERVING"', '"PRIORITY_HIGH"'],
    "grpcurl-issue": ['"STATUS_IN_PROGRESS"', '"content": "Reproduced on bench."'],
    "grpcurl-writes": ['"OUTCOME_UPDATED"'],
    "curl-walkthrough": ['"content":"Confirmed C12 is root cause."', '"chart_type":"pie_chart"'],
    "curl-delete": ["204"],
    "curl-tracker": [
        '"identifier":"ACM-1"',
        "does not allow moving from open to resolved",
        '"emoji":"👍"',
        '"resolution_summary":"Belt re-tensioned."',
    ],
    "curl-lists": ['"title":"Pump cavitation"', '"field":"page_token"', '"field":"sort"', '"field":"created_before"'],
    "grpcurl-lists": ['"items"'],
    "curl-writes": [
        "the retry got the first answer",
        "REQUEST_ID_REUSED",
        "}304\n",
        "ETAG_MISMATCH",
        '"outcome":"failed"',
    ],
    "curl-attachments": ['"file_type":"troubleshooting_plan"', "1. Probe C12"],
}


def runnable_blocks() -> list[tuple[str, str]]:
    return RUNNABLE.findall(README.read_text())


def block_after(marker: str) -> str:
    text = README.read_text()
    return text[text.index(f"<!-- {marker} -->") :].split("```sh\n", 1)[1].split("```", 1)[0]


def newcomer_environment(home: pathlib.Path) -> dict[str, str]:
    """A fresh shell's: no virtual environment on PATH, no settings of ours, a home of its own."""
    ours = str(pathlib.Path(sys.executable).parent)
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p != ours)
    keep = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ISSUES_", "VIRTUAL_ENV", "PYTHON")) and k not in ("DATABASE_URL", "TOKEN")
    }
    return {**keep, "PATH": path, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}


def copy_checkout(target: pathlib.Path) -> None:
    """The working tree's files as git sees them (tracked, and new ones not ignored), nothing built."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, check=True
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file() and not name.startswith(".venv/"):
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


class Newcomer:
    """The run command, running in a fresh copy of the checkout; its first token's banner."""

    def __init__(self, root: pathlib.Path) -> None:
        self.checkout = root / "checkout"
        self.home = root / "home"
        self.home.mkdir()
        copy_checkout(self.checkout)
        self.grpc_port, self.http_port = harness._free_port(), harness._free_port()
        env = {
            **newcomer_environment(self.home),
            "ISSUES_GRPC_LISTEN": f"127.0.0.1:{self.grpc_port}",
            "ISSUES_HTTP_LISTEN": f"127.0.0.1:{self.http_port}",
        }
        self.out, self.err = root / "run.out", root / "run.err"
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.process = subprocess.Popen(
                ["bash", "-c", block_after("run-command")],
                cwd=self.checkout,
                stdout=out,
                stderr=err,
                env=env,
                start_new_session=True,
            )
        self.files_before = self.listing()

    def wait_until_serving(self, timeout: float = 240.0) -> None:
        deadline = time.monotonic() + timeout
        while '"serving http"' not in self.err.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the run command did not serve:\n{self.out.read_text()}\n{self.err.read_text()}")
            time.sleep(0.2)

    def listing(self) -> set[str]:
        skip = (".venv", "blobs", "build")
        return {
            str(p.relative_to(self.checkout))
            for p in self.checkout.rglob("*")
            if p.is_file()
            and p.relative_to(self.checkout).parts[0] not in skip
            and not p.name.startswith("issues.db")
            and "egg-info" not in str(p)
            and "__pycache__" not in str(p)
        }

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # the run command's shell and the server it started
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@pytest.fixture(scope="module")
def newcomer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Newcomer]:
    started = Newcomer(tmp_path_factory.mktemp("newcomer"))
    try:
        started.wait_until_serving()
        yield started
    finally:
        started.stop()


def test_the_readme_marks_its_walkthroughs_runnable():
    names = [name for name, _ in runnable_blocks()]
    assert names == list(PROMISES), "every runnable block needs its promises here, in README order"


def test_the_first_token_stands_out_with_the_second_terminals_line(newcomer):
    banner = newcomer.out.read_text()
    rule = "=" * 78
    assert banner.count(rule) == 2 and re.search(r"^    iss_[A-Za-z0-9_-]{43}$", banner, re.M)
    assert "token create --workspace default" in banner  # how to mint another
    assert '"msg": "schema created"' in newcomer.err.read_text()


def test_every_runnable_block_works_as_typed_in_a_second_terminal(newcomer):
    banner = newcomer.out.read_text()
    second_terminal = next(line.strip() for line in banner.splitlines() if "export TOKEN=" in line)
    assert second_terminal.startswith(f"cd {newcomer.checkout} && source {newcomer.checkout}/.venv/bin/activate")
    blocks = runnable_blocks()
    script = "set -eo pipefail\n" + second_terminal + "\n"
    for name, body in blocks:
        script += f"echo '{MARK.format(name)}'\n{body}\n"
    script = script.replace("localhost:50051", f"127.0.0.1:{newcomer.grpc_port}")
    script = script.replace("localhost:8080", f"127.0.0.1:{newcomer.http_port}")

    done = subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=newcomer.home,
        env=newcomer_environment(newcomer.home),
    )

    reached = re.findall(r"<<<readme block ([\w-]+)>>>", done.stdout)
    assert done.returncode == 0, (
        f"block {reached[-1] if reached else '(the second terminal line)'} failed:\n{done.stderr}"
    )
    assert reached == [name for name, _ in blocks]
    outputs = dict(zip(reached, re.split(r"<<<readme block [\w-]+>>>\n", done.stdout)[1:]))
    for name, promised in PROMISES.items():
        for text in promised:
            assert text in outputs[name], (name, text, outputs[name][-2000:])
    assert newcomer.listing() == newcomer.files_before  # the walkthroughs wrote nothing into the checkout
