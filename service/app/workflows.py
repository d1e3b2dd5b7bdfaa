"""Reading and replacing a workspace's workflow."""

from __future__ import annotations

from ..domain import workflow
from ..domain.roles import Principal
from .changes import Change
from .runner import Runner
from .unit_of_work import UnitOfWork


def get_workflow(runner: Runner, principal: Principal) -> workflow.Transitions:
    stored = runner.run(principal, lambda uow: uow.workspace.workflow())
    return workflow.normalized(stored) if stored is not None else workflow.default_transitions()


def update_workflow(runner: Runner, principal: Principal, transitions: workflow.Transitions) -> workflow.Transitions:
    wanted = workflow.normalized(transitions)

    def work(uow: UnitOfWork) -> workflow.Transitions:
        stored = uow.workspace.workflow()
        before = workflow.normalized(stored) if stored is not None else workflow.default_transitions()
        uow.workspace.set_workflow(wanted)
        if before != wanted:  # replacing it with itself changes nothing, and emits nothing
            uow.record(
                Change("workflow", "updated", None, None, {"transitions": before}, {"transitions": wanted}, view=wanted)
            )
        return wanted

    return runner.run(principal, work, write=True)
