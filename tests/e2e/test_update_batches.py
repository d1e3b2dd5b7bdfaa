"""Concurrent UpdateIssue calls share commits (service/app/write_batches.py),
and each call keeps its own outcome: threads against a real server, on SQLite
and PostgreSQL. A refused update (a stale etag, an issue not found) fails
alone and commits nothing; the others commit."""

from __future__ import annotations

import concurrent.futures
import threading
import uuid

import grpc

from issues.v1 import issue_pb2
from service.domain.etags import issue_etag

from .. import harness

Issue = issue_pb2.Issue
ROUNDS = 5  # until one round's updates shared a commit (they nearly always do in the first)


def _history(api: harness.Api, issue_id: str) -> list:
    return [e for e in api.ListIssueHistory(issue_id=issue_id).items if e.action == "owner_changed"]


def test_concurrent_updates_each_keep_their_own_outcome(channel, make_token):
    token, _ = make_token("member")
    api = harness.Api(channel, token)
    threads = 24
    shared_a_commit = False
    for round_ in range(ROUNDS):
        made = [api.CreateIssue(title=f"r{round_} i{k}") for k in range(threads)]
        start = threading.Barrier(threads)

        def update(k: int) -> object:
            issue = made[k]
            # Every third with an etag no call made (version 9), every
            # eighth naming an issue that does not exist; the rest change their issue.
            stale = issue_etag(uuid.UUID(issue.uuid), 9, issue.identifier.split("-")[0]) if k % 3 == 1 else ""
            issue_id = str(uuid.uuid4()) if k % 8 == 5 else issue.uuid
            start.wait()
            try:
                return api.UpdateIssue(issue_id=issue_id, owner=f"o{round_}-{k}", etag=stale)
            except grpc.RpcError as error:
                return error.code()

        with concurrent.futures.ThreadPoolExecutor(threads) as pool:
            outcomes = list(pool.map(update, range(threads)))
        stamps = set()
        for k, (issue, outcome) in enumerate(zip(made, outcomes)):
            now = api.GetIssue(issue_id=issue.uuid)
            changed = _history(api, issue.uuid)
            if k % 8 == 5:
                assert outcome == grpc.StatusCode.NOT_FOUND, (k, outcome)
            elif k % 3 == 1:
                assert outcome == grpc.StatusCode.FAILED_PRECONDITION, (k, outcome)
            else:
                assert isinstance(outcome, Issue) and outcome.owner == f"o{round_}-{k}", (k, outcome)
                assert now == outcome  # the answer is what committed
                [entry] = changed
                stamps.add(entry.timestamp.ToNanoseconds())
                continue
            # Reported failed: nothing of it committed.
            assert (now.owner, now.etag, changed) == (issue.owner, issue.etag, []), k
        succeeded = sum(isinstance(o, Issue) for o in outcomes)
        assert succeeded == len([k for k in range(threads) if k % 8 != 5 and k % 3 != 1])
        # One history timestamp per commit: fewer than the updates means some shared one.
        if len(stamps) < succeeded:
            shared_a_commit = True
            break
    assert shared_a_commit, f"no two of {threads} concurrent updates shared a commit in {ROUNDS} rounds"


def test_racing_updates_with_one_etag_one_wins_and_the_rest_commit_nothing(channel, make_token):
    token, _ = make_token("member")
    api = harness.Api(channel, token)
    issue = api.CreateIssue(title="raced with etags")
    racers = 8
    for round_ in range(3):
        etag = api.GetIssue(issue_id=issue.uuid).etag
        start = threading.Barrier(racers)

        def update(k: int) -> object:
            start.wait()
            try:
                return api.UpdateIssue(issue_id=issue.uuid, owner=f"r{round_}-{k}", etag=etag)
            except grpc.RpcError as error:
                return error.code()

        with concurrent.futures.ThreadPoolExecutor(racers) as pool:
            outcomes = list(pool.map(update, range(racers)))
        [winner] = [o for o in outcomes if isinstance(o, Issue)]
        assert outcomes.count(grpc.StatusCode.FAILED_PRECONDITION) == racers - 1, outcomes
        assert api.GetIssue(issue_id=issue.uuid) == winner
    # One change per round, each starting where the last ended.
    entries = _history(api, issue.uuid)
    assert len(entries) == 3
    chain = ["Unassigned"] + [e.new_value.string_value for e in entries]
    assert [e.old_value.string_value for e in entries] == chain[:-1]


def test_updates_chained_on_their_predecessors_etags_apply_in_order_or_fail(channel, make_token):
    """Updates of one issue racing, each with the etag the one before it will
    leave (the version it makes): the first always applies, and the ones that
    apply are a run from it, in order; none applies out of it."""
    token, _ = make_token("member")
    api = harness.Api(channel, token)
    issue = api.CreateIssue(title="chained")
    uid = uuid.UUID(issue.uuid)
    prefix = issue.identifier.split("-")[0]
    assert issue.etag == issue_etag(uid, 1, prefix)
    chain = 6
    start = threading.Barrier(chain)

    def update(k: int) -> object:
        start.wait()
        try:
            return api.UpdateIssue(issue_id=issue.uuid, owner=f"c{k}", etag=issue_etag(uid, k + 1, prefix))
        except grpc.RpcError as error:
            return error.code()

    with concurrent.futures.ThreadPoolExecutor(chain) as pool:
        outcomes = list(pool.map(update, range(chain)))
    won = [o.owner for o in outcomes if isinstance(o, Issue)]
    assert won == [f"c{k}" for k in range(len(won))] and won, outcomes
    assert outcomes[len(won) :] == [grpc.StatusCode.FAILED_PRECONDITION] * (chain - len(won))
    assert [e.new_value.string_value for e in _history(api, issue.uuid)] == won
    assert api.GetIssue(issue_id=issue.uuid).etag == issue_etag(uid, len(won) + 1, prefix)
