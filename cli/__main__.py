"""`issuectl` / `python -m cli`: run a command; errors are one line on stderr, never a traceback.

Exit status: 0 done, 1 refused or failed (`error: title: is required`),
2 usage error (Click's), 130 interrupted.
"""

from __future__ import annotations

import os
import sys

# Before grpc loads: its C core would otherwise write its own log lines (a
# failed TLS handshake, say) to the terminal beside issuectl's one-line error.
os.environ.setdefault("GRPC_VERBOSITY", "NONE")

import click

from .errors import CliError
from .main import cli


def _fail(message: str, status: int = 1) -> int:
    sys.stderr.write(f"error: {message}\n")
    return status


def run(argv: list[str] | None = None) -> int:
    try:
        result = cli.main(args=argv, prog_name="issuectl", standalone_mode=False)
        return result if isinstance(result, int) else 0
    except click.ClickException as exc:  # usage errors exit 2, as Click has them
        exc.show()
        return exc.exit_code
    except CliError as exc:
        return _fail(str(exc))
    except (click.Abort, KeyboardInterrupt):
        return _fail("interrupted", 130)
    except BrokenPipeError:
        # The reader went away (`issuectl list | head`): nothing left to say to it.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # noqa: BLE001 - a traceback is never the answer
        if os.environ.get("ISSUECTL_DEBUG"):
            raise
        return _fail(f"unexpected {type(exc).__name__}: {exc} (ISSUECTL_DEBUG=1 shows where)")


def main() -> None:
    sys.exit(run())


if __name__ == "__main__":
    main()
