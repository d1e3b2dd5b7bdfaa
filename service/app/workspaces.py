"""Workspaces and their identifier prefixes: `python -m service workspace ...`."""

from __future__ import annotations

import difflib

from ..domain.identifiers import PREFIX, SLUG, default_prefix
from ..storage import workspaces as store
from ..storage.database import transaction
from ..storage.models import Workspace


def _check_prefix(prefix: str) -> str:
    if not PREFIX.match(prefix):
        raise ValueError(f"prefix {prefix!r} must be 2 to 10 upper-case letters or digits, starting with a letter")
    return prefix


def create_workspace(slug: str, prefix: str | None = None) -> Workspace:
    if not SLUG.match(slug):
        raise ValueError("slug must be lower-case letters, digits and dashes (1-64)")
    wanted = _check_prefix(prefix) if prefix is not None else default_prefix(slug)

    def work() -> Workspace:
        if store.by_slug(slug) is not None:
            raise ValueError(f"workspace {slug!r} exists already; use `workspace update`")
        return store.ensure(slug, wanted)

    return transaction(work, write=True)


def update_workspace(slug: str, prefix: str) -> Workspace:
    """A new prefix: identifiers show it from now on; the old ones still resolve."""
    _check_prefix(prefix)

    def work() -> Workspace:
        workspace = store.by_slug(slug)
        if workspace is None:
            raise unknown_workspace(slug)
        store.set_prefix(workspace, prefix)
        return store.by_slug(slug)

    return transaction(work, write=True)


def list_workspaces() -> list[Workspace]:
    return transaction(store.all_workspaces)


def unknown_workspace(slug: str) -> LookupError:
    """`no workspace 'acmee'`, and as its second argument a hint: the closest slug, or how to create it.

    Call it inside a transaction: it reads the slugs there are.
    """
    close = difflib.get_close_matches(slug, store.all_slugs(), n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"create it with `workspace create --slug {slug}`"
    return LookupError(f"no workspace {slug!r}", hint)
