"""Token roles, and the rules about who may do what beyond a method's role.

A higher role can do everything a lower one can. The numbers are the
contract's `issues.v1.Role` values, so a method's `required_role` option
compares directly.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Role(enum.IntEnum):
    VIEWER = 1
    MEMBER = 2
    ADMIN = 3

    @classmethod
    def parse(cls, name: str) -> Role:
        try:
            return cls[name.upper()]
        except KeyError:
            raise ValueError(f"role must be one of viewer, member, admin; got {name!r}") from None

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Principal:
    """Who is calling, resolved from the bearer token."""

    workspace_id: int
    workspace_slug: str
    email: str
    role: Role


def may_change_comment(principal: Principal, author: str) -> bool:
    """A comment is edited or deleted by its author, or by an admin."""
    return principal.email == author or principal.role >= Role.ADMIN
