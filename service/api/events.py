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
from ..domain.errors import InvalidArgument
from ..domain.limits import PAGE_MAX
from .event_hub import EventHub
from . import messages
from .pipeline import Call, bearer_token

EVENTS_PAGE_DEFAULT = 100


# -- page tokens (signed: page_tokens.py), scoped to the workspace and the filter


def page_token(workspace_id: int, after: int, types: list[str], origin: int) -> str:
    """The token of the page after sequence `after`, for a list of `types`
    whose first request asked for the events after `origin`."""
    return page_tokens.encode(page_tokens.scope("events", workspace_id, sorted(types)), [after], origin)


def parse_page_token(token: str, workspace_id: int, types: list[str]) -> tuple[int, int]:
    """(the sequence a token continues after, its walk's first `after`);
    INVALID_ARGUMENT naming `page_token` if it is not one of this list's."""
    found, origin = page_tokens.decode(token, page_tokens.scope("events", workspace_id, sorted(types)))
    (after,) = page_tokens.values(found, int)
    return after, origin


def _types(request: pb.ListEventsRequest | pb.WatchEventsRequest) -> list[str]:
    return event_types.check_types(list(request.types))


class EventsServicer:
    def __init__(self, hub: EventHub) -> None:
        self._hub = hub

    def ListEvents(self, request: pb.ListEventsRequest, call: Call) -> pb.ListEventsResponse:
        types = _types(request)
        if request.HasField("limit") and not 1 <= request.limit <= PAGE_MAX:
            raise InvalidArgument.field("limit", f"must be between 1 and {PAGE_MAX}")
        limit = request.limit if request.HasField("limit") else EVENTS_PAGE_DEFAULT
        if request.page_token:
            # The first request's `after` may come again (AIP-158); another one is refused.
            after, origin = parse_page_token(request.page_token, call.principal.workspace_id, types)
            page_tokens.check_origin(origin, _after(request) if request.HasField("after_sequence") else None, "after")
        else:
            after = origin = _after(request)
        page = event_reads.read(call.principal.workspace_id, after, limit + 1, types)
        event_reads.check_cursor(after, page)
        items = messages.fit([messages.event(e) for e in page.events[:limit]])
        more = len(page.events) > len(items)
        return pb.ListEventsResponse(
            items=items, next_page_token=page_token(call.principal.workspace_id, items[-1].sequence, types, origin) if more else "",
        )

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
