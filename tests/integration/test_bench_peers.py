"""`bench.run --peers` runs compare.sh from a copy of a read-only peers folder
and reads its tables into product/peer ratios.

The real compare.sh installs an environment and seeds 100,000 issues (minutes);
here a stand-in with its interface and its output's shape runs in its place,
as a real subprocess, from a folder nobody may write to.
"""

from __future__ import annotations

import os
import pathlib
import stat
from types import SimpleNamespace

import pytest

from bench import peers

STAND_IN = r"""#!/usr/bin/env bash
set -eu
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# What the real one does first: make its environment where PEERS_VENV says, write beside itself.
mkdir -p "$PEERS_VENV" && touch "$HERE/written-beside-me"
echo "args: $*"
echo "here: $HERE"
for peer in fastapi drf; do
  echo
  echo "## $peer peer: 2 load processes x 24 in flight, <= 60,000 requests or 12s per row; load average 0.5 before, 0.6 after"
  echo
  echo "| operation | product's row | RPS | p50 ms | p99 ms | server CPU µs/req | PostgreSQL CPU µs/req | loadgen CPU µs/req | errors |"
  echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  if [ $peer = fastapi ]; then rps=(1,000 400 100); else rps=(300 200 50); fi
  echo "| GET one issue | GetIssue HTTP | ${rps[0]} | 1.10 | 3.00 | 900 | 200 | 100 | 0 |"
  echo "| POST create | CreateIssue HTTP | ${rps[1]} | 2.20 | 5.00 | 1,500 | 400 | 100 | 0 |"
  echo "| GET list page | ListIssues HTTP | ${rps[2]} | 9.00 | 20.00 | 8,000 | 9,000 | 100 | 2 |"
done
"""


@pytest.fixture
def read_only_peers(tmp_path: pathlib.Path):
    folder = tmp_path / "shared" / "peers"
    folder.mkdir(parents=True)
    (folder / "compare.sh").write_text(STAND_IN)
    (folder / "README.md").write_text("peers\n")
    for path in (folder / "compare.sh", folder / "README.md", folder):
        path.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    before = sorted(p.name for p in folder.iterdir())
    yield folder
    assert sorted(p.name for p in folder.iterdir()) == before  # nothing written into it, even by root
    folder.chmod(0o755)


def test_compare_runs_from_a_copy_and_its_tables_become_ratios(read_only_peers, tmp_path):
    root = tmp_path / "checkout"
    lines: list[str] = []
    run = peers.run(root, read_only_peers, ["--peer", "both", "--seconds", "6"], timeout=60, log=lines.append)

    assert run.problem == ""
    log = (root / "bench" / "out" / "peers.log").read_text()
    assert f"args: {root} --peer both --seconds 6" in log
    assert f"here: {read_only_peers}" not in log
    assert (root / "bench" / "out" / "peers-venv").is_dir()  # kept for the next run
    assert run.rows["fastapi"]["GetIssue HTTP"].rps == 1000.0
    assert run.rows["drf"]["ListIssues HTTP"].errors == 2
    assert run.rows["fastapi"]["CreateIssue HTTP"].server_cpu_us == 1500.0

    product = {
        "GetIssue HTTP": SimpleNamespace(rps=1600.0, p50=0.001),
        "CreateIssue HTTP": SimpleNamespace(rps=500.0, p50=0.002),
    }
    table = "\n".join(peers.ratio_lines(run, product.get))
    assert (
        "| GET one issue | 1,600 RPS, 1.00 ms | 1,000 RPS, 1.10 ms | 1.60x (≥ 1.5x: PASS) | 300 RPS, 1.10 ms | 5.33x (≥ 3x: PASS) |"
        in table
    )
    assert "| POST create | 500 RPS, 2.00 ms | 400 RPS, 2.20 ms | 1.25x (≥ 1.5x: MISS) |" in table
    assert "| GET a page of 100 | not measured | 100 RPS, 9.00 ms, 2 errors | — (≥ 2x) |" in table


def test_a_failed_compare_is_reported_not_raised(tmp_path):
    folder = tmp_path / "peers"
    folder.mkdir()
    (folder / "compare.sh").write_text("echo 'no PostgreSQL here' >&2; exit 3\n")
    run = peers.run(tmp_path / "checkout", folder, [], timeout=60, log=lambda _: None)
    assert run.rows == {}
    assert "exited with 3" in run.problem and "no PostgreSQL here" in run.problem
    assert "compare.sh exited with 3" in "\n".join(peers.ratio_lines(run, lambda _: None))

    missing = peers.run(tmp_path / "checkout", tmp_path / "nowhere", [], timeout=60, log=lambda _: None)
    assert "no " in missing.problem and missing.rows == {}


@pytest.mark.skipif(not peers.DEFAULT_DIR.is_dir(), reason="no ../shared/peers beside this checkout")
def test_the_default_folder_is_the_shared_peers():
    assert (peers.DEFAULT_DIR / "compare.sh").is_file()
    assert os.path.basename(peers.DEFAULT_DIR.parent) == "shared"
