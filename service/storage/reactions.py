"""Reactions to the comments of one workspace."""

from __future__ import annotations

import datetime
import uuid

from .models import Comment, Issue, Reaction


class ReactionRepository:
    def __init__(self, workspace_id: int) -> None:
        self.workspace_id = workspace_id

    def add(self, comment_id: uuid.UUID, emoji: str, user: str, at: datetime.datetime) -> bool:
        """True if the reaction is new; reacting twice changes nothing.

        The comment is one the caller has found in this workspace.
        """
        mine = (Reaction.comment == comment_id) & (Reaction.emoji == emoji) & (Reaction.user_email == user)
        if Reaction.select().where(mine).exists():
            return False
        Reaction.insert(comment=comment_id, emoji=emoji, user_email=user, created_at=at).on_conflict_ignore().execute()
        return True

    def remove(self, comment_id: uuid.UUID, emoji: str, user: str) -> bool:
        mine = (Reaction.comment == comment_id) & (Reaction.emoji == emoji) & (Reaction.user_email == user)
        return Reaction.delete().where(mine).execute() > 0

    def for_comments(self, comment_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[tuple[str, str]]]:
        """(emoji, user) per comment of this workspace, in the order they reacted."""
        found: dict[uuid.UUID, list[tuple[str, str]]] = {c: [] for c in comment_ids}
        if comment_ids:
            rows = (
                Reaction.select(Reaction.comment, Reaction.emoji, Reaction.user_email)
                .join(Comment)
                .join(Issue)
                .where(Reaction.comment.in_(comment_ids) & (Issue.workspace == self.workspace_id))
                .order_by(Reaction.created_at, Reaction.emoji, Reaction.user_email)
                .tuples()
            )
            for comment_id, emoji, user in rows:
                found[comment_id].append((emoji, user))
        return found
