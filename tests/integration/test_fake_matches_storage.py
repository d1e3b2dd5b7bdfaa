"""The fake unit of work (tests/unit/fake_unit_of_work.py) answers as the
real repositories do: one scenario of writes, lists, counts and webhooks
runs on the fake and on each database, and every answer must be the same.
When this fails, the fake (or the storage) drifted, and the fast use-case
tests in tests/unit no longer prove what they claim."""

from __future__ import annotations

import datetime
from typing import Any, Iterator

import pytest

from service.api.messages import JsonRenderer
from service.app import issues, webhooks
from service.app.peewee_storage import PeeweeStorage
from service.app.runner import Runner
from service.domain.identifiers import IssueRef, default_prefix
from service.domain.issue_filters import ORDERS, IssueFilter
from service.domain.roles import Principal, Role
from service.storage import database, migrate, workspaces

from ..unit.fake_unit_of_work import NOW, FakeWorld
from ..unit.test_issue_list_use_cases import Titles
from ..unit.test_issue_use_cases import VALUES

URL = "https://93.184.216.34/hook"  # an IP literal: vetted without a resolver


class Tick:
    """The fake world's clock: a second on at each reading, so both runs stamp the same times."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime.datetime:
        self.now += datetime.timedelta(seconds=1)
        return self.now


def scenario(runner: Runner, caller: Principal, other: Principal) -> dict[str, Any]:
    """Writes, then every answer the use cases give, without the ids (random in each run)."""
    made: dict[str, Any] = {}

    def create(title: str, principal: Principal = caller, parent: str | None = None, **values: Any) -> None:
        ref = IssueRef(uuid=made[parent]) if parent else None
        view = issues.create_issue(runner, principal, None, {**VALUES, "title": title, **values}, parent=ref)  # type: ignore[arg-type]
        made[title] = view.row.uuid

    def update(title: str, **values: Any) -> None:
        issues.update_issue(runner, caller, None, IssueRef(uuid=made[title]), values)  # type: ignore[arg-type]

    hooks = {
        name: webhooks.create_webhook(runner, caller, URL, types, name, active).row.id
        for name, types, active in (("all", [], True), ("created", ["issue.created"], True), ("off", [], False))
    }
    text = [{"type": "text", "text": "Valve stuck"}]
    create("Pump failure", priority="high", owner="ann", tags=["x", "y"], refs={"order": "1"}, description=text)
    create("Pumping station", owner="bob", tags=["x"], refs={"order": "2"}, resolution_summary="replaced the VALVE")
    create("child", parent="Pump failure", priority="medium", tags=["y"])
    create("gone", priority="high")
    create("elsewhere", principal=other, tags=["x"])
    update("Pumping station", status="resolved")
    update("child", tags=["z"], refs={"order": "3"})
    issues.delete_issue(runner, caller, IssueRef(uuid=made["gone"]))
    pinged = webhooks.ping(runner, caller, hooks["created"])
    webhooks.redeliver(runner, caller, hooks["created"], pinged.id)
    webhooks.rotate_secret(runner, caller, hooks["all"])
    webhooks.update_webhook(runner, caller, hooks["off"], {"active": True, "events": ["comment.created"]})
    create("late")
    create("latest", owner="ann")
    at = issues.get_issue(runner, caller, IssueRef(uuid=made["late"])).row.created_at  # bounds are strict
    filters = [
        IssueFilter(),
        IssueFilter(statuses=("open", "resolved")),
        IssueFilter(statuses=("open",), priorities=("high", "medium")),
        IssueFilter(owners=("ann",), created_by=(caller.email,)),
        IssueFilter(tags=("x", "y")),
        IssueFilter(tags=("z",), refs=(("order", "3"),)),
        IssueFilter(refs=(("order", "1"),)),
        IssueFilter(parent=IssueRef(uuid=made["Pump failure"])),
        IssueFilter(created_after=at),
        IssueFilter(created_before=at),
        IssueFilter(updated_after=at),
        IssueFilter(words=("valve",)),
        IssueFilter(words=("pump", "stuck")),
        IssueFilter(words=("pumping",), statuses=("resolved",)),
    ]
    answers: dict[str, Any] = {}
    for n, f in enumerate(filters):
        for order in ORDERS:
            for limit, offset in ((50, 0), (2, 1), (1, 9)):
                page = issues.list_issues(runner, caller, Titles(), f, order, limit=limit, offset=offset)
                answers[f"{n} {order} {limit}/{offset}"] = (
                    page.items,
                    page.total,
                    page.more,
                    [p[:-1] for p in page.positions],
                )
                if page.positions:
                    after = tuple(page.positions[0])
                    rest = issues.list_issues(runner, caller, Titles(), f, order, limit=50, offset=0, after=after)
                    answers[f"{n} {order} after the first"] = (rest.items, rest.total, rest.more)
    counts = issues.issue_counts(runner, caller, NOW.date())
    answers["counts"] = (counts.by_status_priority, counts.opened_per_day, counts.resolved_per_day)
    answers["webhooks"] = [
        (v.row.description, v.row.events, v.row.active, v.secret, v.row.previous_secret is not None)
        for v in webhooks.list_webhooks(runner, caller, 10, None)
    ]
    for name, webhook_id in hooks.items():
        answers[f"deliveries of {name}"] = [
            (d.event_type, d.event_sequence, d.status, d.attempts, d.next_attempt_at is not None)
            for d in webhooks.list_deliveries(runner, caller, webhook_id, (), 50, None)
        ]
    return answers


@pytest.fixture
def db(fresh_database_url: str) -> Iterator[Any]:
    handle = database.open_database(fresh_database_url, pool_size=4)
    database.bind(handle)
    migrate.migrate(handle)
    yield handle
    handle.close_all()


def admin(slug: str) -> Principal:
    workspace_id = database.transaction(lambda: workspaces.ensure(slug, default_prefix(slug)).id, write=True)
    return Principal(workspace_id, slug, f"m@{slug}.co", Role.ADMIN)


def test_the_fake_answers_every_list_count_and_webhook_read_as_the_database_does(db):
    real = scenario(Runner(PeeweeStorage(), JsonRenderer(), clock=Tick()), admin("acme"), admin("other"))
    world = FakeWorld()
    fake = scenario(world.runner, world.member("acme", Role.ADMIN), world.member("other", Role.ADMIN))
    assert real.keys() == fake.keys()
    differing = {key: (real[key], fake[key]) for key in real if real[key] != fake[key]}
    assert differing == {}
    # It did something: five issues listed, a ping and the creates delivered.
    assert real["0 created_at 50/0"][1] == 5 and "ping" in [d[0] for d in real["deliveries of created"]]
