"""What a kind says a create will give (Handler.planned_outputs) is what its create gave: a plan
compares a re-created resource's dependents with it, so one wrong character there is a change the
plan promises and the apply never makes."""
from __future__ import annotations

from orchestrator.config import EnvConfig
from orchestrator.reconciler import Reconciler
from orchestrator.spec import resolve
from orchestrator.stack import stack_nodes
from tests.support.memory_state import MemoryState
from tests.support.stack import converge


def test_every_planned_output_is_the_output_the_create_gave(aws, clock):
    state = MemoryState()
    converge(aws, state, clock=clock)
    recorded = {key: entry["outputs"] for key, entry in state.doc.resources.items()}
    rec = Reconciler(aws, env="dev", state=state.doc, save=state.save, clock=clock.as_clock(), plan=True)
    planned_kinds = set()
    for node in stack_nodes("dev", EnvConfig(), state.doc.azs):
        h = rec.handler(node)
        planned = h.planned_outputs(h.desired(resolve(node.spec, recorded)))
        if planned:
            planned_kinds.add(h.kind)
            assert planned == {k: recorded[node.key][k] for k in planned}, node.key
    assert planned_kinds == {"log_group", "apigateway_execution_log_group", "iam_role", "apigateway_cloudwatch_role",
                             "ecs_cluster", "db_subnet_group", "cache_subnet_group", "api_stage"}
