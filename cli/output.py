"""Writing to the terminal: colour and fitted tables on a TTY, plain aligned text when piped.

Rich is imported only for a terminal, so piped runs (scripts, the benchmark)
skip its start-up cost.
"""

from __future__ import annotations

import datetime
import json
import sys
from typing import Any, Sequence

from google.protobuf.message import Message

from common.jsonout import to_json

_MIN_SHRUNK = 16


class Output:
    def __init__(self, tty: bool | None = None) -> None:
        self.tty = sys.stdout.isatty() if tty is None else tty
        self._console: Any = None

    @property
    def console(self) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(highlight=False)
        return self._console

    def styled(self, text: str, style: str | None) -> str:
        """`text` in `style` on a terminal (as Rich markup), plain otherwise."""
        if not self.tty:
            return text
        from rich.markup import escape

        # Escaped even unstyled: a title like "[red]" is text, not markup.
        return f"[{style}]{escape(text)}[/]" if style else escape(text)

    def line(self, text: str = "") -> None:
        if self.tty:
            self.console.print(text, soft_wrap=True)
        else:
            sys.stdout.write(text + "\n")

    def json(self, value: Message | Any) -> None:
        """The HTTP contract's JSON for a message (or plain JSON-ready values)."""
        data = to_json(value) if isinstance(value, Message) else value
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")

    def json_line(self, value: Message | Any) -> None:
        """One compact JSON object on one line (for streams: JSON Lines)."""
        data = to_json(value) if isinstance(value, Message) else value
        sys.stdout.write(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n")
        sys.stdout.flush()

    def table(
        self,
        headers: Sequence[str],
        rows: Sequence[Sequence[str]],
        styles: Sequence[Sequence[str | None]] | None = None,
        shrink: int = 1,
        droppable: Sequence[int] = (),
    ) -> None:
        """Columns that fit the terminal, plain and whole when piped.

        On a terminal, column `shrink` is truncated to fit; when it would be
        left narrower than _MIN_SHRUNK, the `droppable` columns go first.
        """
        if self.tty:
            keep = [i for i in range(len(headers))]
            for drop in droppable:
                if self._spare(headers, rows, shrink, keep) >= _MIN_SHRUNK:
                    break
                keep.remove(drop)
            pick = lambda cells: [cells[i] for i in keep]  # noqa: E731
            self._rich_table(
                pick(headers),
                [pick(r) for r in rows],
                [pick(s) for s in styles] if styles else None,
                keep.index(shrink),
            )
            return
        widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
        for cells in (headers, *rows):
            sys.stdout.write("  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip() + "\n")

    def _spare(self, headers: Sequence[str], rows: Sequence[Sequence[str]], shrink: int, keep: list[int]) -> int:
        """The width left for column `shrink` once the other kept columns have theirs."""
        natural = {i: max([len(headers[i]), *(len(r[i]) for r in rows)]) for i in keep if i != shrink}
        return int(self.console.width) - sum(natural.values()) - 2 * (len(keep) - 1)

    def _rich_table(
        self,
        headers: Sequence[str],
        rows: Sequence[Sequence[str]],
        styles: Sequence[Sequence[str | None]] | None,
        shrink: int,
    ) -> None:
        from rich.table import Table
        from rich.text import Text

        # The shrinking column gets what the others leave of the terminal's width.
        natural = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
        spare = self._spare(headers, rows, shrink, list(range(len(headers))))
        table = Table(box=None, pad_edge=False, header_style="bold", padding=(0, 2, 0, 0), collapse_padding=True)
        for i, header in enumerate(headers):
            if i == shrink:
                table.add_column(header, no_wrap=True, overflow="ellipsis", max_width=max(spare, 8))
            else:
                table.add_column(header, no_wrap=True, min_width=natural[i])
        for r, cells in enumerate(rows):
            row_styles = styles[r] if styles else [None] * len(cells)
            table.add_row(*(Text(c, style=s or "") for c, s in zip(cells, row_styles)))
        self.console.print(table)


def when(ts: Message, tty: bool, now: datetime.datetime | None = None) -> str:
    """A timestamp as `5 min ago` on a terminal, as the contract's ISO form otherwise."""
    iso: str = to_json(ts)
    if not tty:
        return iso
    moment = datetime.datetime.fromtimestamp(ts.seconds, datetime.UTC)  # type: ignore[attr-defined]
    seconds = ((now or datetime.datetime.now(datetime.UTC)) - moment).total_seconds()
    if seconds < 60:
        return "just now"
    for unit, size in (("min", 60), ("h", 3600), ("d", 86400)):
        if seconds < size * {"min": 60, "h": 24, "d": 30}[unit]:
            return f"{int(seconds // size)} {unit} ago"
    return moment.strftime("%Y-%m-%d")
