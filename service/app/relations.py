"""Parents of issues: resolving the one a caller names, refusing cycles."""

from __future__ import annotations

import uuid

from ..domain.errors import InvalidArgument
from ..domain.identifiers import IssueRef
from ..domain.relations import check_parent
from .unit_of_work import UnitOfWork


def resolve_parent(uow: UnitOfWork, ref: IssueRef, issue_id: uuid.UUID | None) -> uuid.UUID:
    """The uuid of the parent `ref` names, for the issue `issue_id` (None when creating it).

    The parent and its ancestors are locked as they are read (PostgreSQL), so
    two moves that would close a cycle together cannot both pass: the second
    waits, then sees the first. SQLite writers are serialised anyway.
    """
    parent = uow.issues.find(ref, for_update=True)
    if parent is None:
        raise InvalidArgument.field("parent_id", f"issue {ref} does not exist in this workspace")
    if issue_id is not None:
        check_parent(issue_id, parent.uuid, uow.issues.ancestors(parent.uuid, lock=True))
    return parent.uuid
