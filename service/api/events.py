"""issues.v1.IssueService: the workspace's events (SPEC 8.12).

ListEvents reads a page after a cursor (catching up, the JSON mode of
`GET /api/v1/events`); WatchEvents replays and then follows live through the
process's EventHub, on the event loop (an async generator: no thread held).
"""

from __future__ import annotations

from typing import AsyncIterator

from issues.v1 import issue_service_pb2 as pb

from ..app import event_reads, page_tokens, stream_tickets
from ..domain import event_types
from ..domain.errors import InvalidArgument, Violations
from . import messages, paging
from .event_hub import EventHub
from .pipeline import Call, bearer_token

EVENTS_PAGE_DEFAULT = 100


def _types(request: pb.ListEventsRequest | pb.WatchEventsRequest) -> list[str]:
    return event_types.check_types(list(request.types))


class EventsServicer:
    def __init__(self, hub: EventHub) -> None:
        self._hub = hub

    def ListEvents(self, request: pb.ListEventsRequest, call: Call) -> pb.ListEventsResponse:
        # A token takes the place of `after` (the first request's may come again).
        walk = paging.Walk.resume(request, page_tokens.scope("events", call.principal.workspace_id))
        types = _types(walk.request)
        at = walk.page(Violations(), (int,), default_limit=EVENTS_PAGE_DEFAULT)
        after = at.after[0] if at.after else _after(walk.request)
        page = event_reads.read(call.principal.workspace_id, after, at.limit + 1, types)
        event_reads.check_cursor(after, page)
        shown = page.events[: at.limit]
        items, token = walk.respond(
            [messages.event(e) for e in shown], [(e.sequence,) for e in shown], len(page.events) > at.limit
        )
        return pb.ListEventsResponse(items=items, next_page_token=token)

    def CreateEventsTicket(self, request: pb.CreateEventsTicketRequest, call: Call) -> pb.CreateEventsTicketResponse:
        """A short-lived, read-only stream ticket standing for the caller's token."""
        ticket, expires_at = stream_tickets.mint(bearer_token(call.context))
        return pb.CreateEventsTicketResponse(ticket=ticket, expires_at=messages.timestamp(expires_at))

    async def WatchEvents(self, request: pb.WatchEventsRequest, call: Call) -> AsyncIterator[bytes]:
        """Each event as a serialized issues.v1.Event (encoded once for all of its watchers)."""
        types = _types(request)
        after = _after(request) if request.HasField("after_sequence") else None

        async def accepted() -> None:
            await call.context.send_initial_metadata(())

        async for event in self._hub.watch(call.principal.workspace_id, after, types, accepted, call.recheck):
            yield event


def _after(request: pb.ListEventsRequest | pb.WatchEventsRequest) -> int:
    if request.after_sequence < 0:
        raise InvalidArgument.field("after_sequence", "must be 0 or more")
    return request.after_sequence
