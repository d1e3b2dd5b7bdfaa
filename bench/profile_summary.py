"""Summarise a py-spy `--format raw` profile (collapsed stacks) as text.

    python -m bench.profile_summary bench/out/profile/GetIssue.txt [--top 25] [--focus SUBSTRING]

Prints the functions with the most samples inclusive (anywhere on the stack)
and self (at the top of the stack), as a share of all samples. `bench.run
--profile` records with `--gil`, so a sample is a moment some thread held the
GIL: the shares say where the server's Python CPU goes.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^():]*?)(?::\d+)?\)$")


def _name(frame: str) -> str:
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    path = m["file"]
    for marker in ("site-packages/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{m['func']} ({path})"


def summarise(path: str, focus: str | None = None) -> tuple[int, Counter, Counter]:
    total = 0
    inclusive: Counter = Counter()
    own: Counter = Counter()
    with open(path) as f:
        for line in f:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not count.isdigit():
                continue
            n = int(count)
            frames = [_name(x) for x in stack.split(";") if x]
            if focus and not any(focus in fr for fr in frames):
                continue
            total += n
            for fr in set(frames):
                inclusive[fr] += n
            if frames:
                own[frames[-1]] += n
    return total, inclusive, own


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.profile_summary")
    p.add_argument("profile")
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--focus", help="only stacks with a frame containing this")
    args = p.parse_args(argv)
    total, inclusive, own = summarise(args.profile, args.focus)
    if not total:
        print("no samples")
        return 1
    print(f"{total} samples")
    for title, counts in (("inclusive", inclusive), ("self", own)):
        print(f"\n{title}:")
        for name, n in counts.most_common(args.top):
            print(f"  {100 * n / total:5.1f}%  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
