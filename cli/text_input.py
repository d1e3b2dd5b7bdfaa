"""Where a comment's text comes from, as with `gh issue comment`.

TEXT as an argument; `-` for standard input; `--body-file FILE` (`-` again
for standard input); with none of them on a terminal, $VISUAL or $EDITOR
(else `vi`) opens on a temporary file. Without a terminal and without text
it is a usage error: a script never waits on an editor nobody sees.
"""

from __future__ import annotations

import os
import pathlib
import shlex
import subprocess
import sys
import tempfile

import click

from .errors import CliError

_EDITOR_HINT = "\n# Write the comment above. Lines starting with '#' are dropped; an empty comment cancels.\n"


def body_text(text: str | None, body_file: str | None, initial: str = "") -> str:
    """The text to send; `initial` is what the editor starts with (the comment being edited)."""
    if text is not None and body_file is not None:
        raise click.UsageError("give the text or --body-file, not both")
    if body_file is not None:
        text = sys.stdin.read() if body_file == "-" else _read_file(body_file)
    elif text == "-":
        text = sys.stdin.read()
    elif text is None:
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            raise click.UsageError("no text: give TEXT, `-` to read standard input, or --body-file FILE")
        text = edit(initial)
    if not text.strip():
        raise CliError("the text is empty: nothing was sent")
    return text.rstrip("\n")


def _read_file(path: str) -> str:
    try:
        return pathlib.Path(path).read_text()
    except OSError as exc:
        raise click.BadParameter(f"cannot read {path}: {exc.strerror}", param_hint="--body-file") from None


def edit(initial: str) -> str:
    """Open the user's editor on `initial`; what they saved, without the '#' lines."""
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    with tempfile.TemporaryDirectory(prefix="issuectl-") as directory:
        path = pathlib.Path(directory) / "COMMENT.md"
        path.write_text(initial + _EDITOR_HINT)
        try:
            status = subprocess.call([*shlex.split(editor), str(path)])
        except OSError as exc:
            raise CliError(f"cannot run the editor {editor!r} ($EDITOR): {exc.strerror}") from None
        if status != 0:
            raise CliError(f"the editor {editor!r} exited with status {status}: nothing was sent")
        written = path.read_text()
    return "\n".join(line for line in written.splitlines() if not line.startswith("#")).strip("\n")
