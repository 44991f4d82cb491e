"""A whole pass over the stack: build the graph, walk it, collect results. No I/O but AWS."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from orchestrator import graph as graphs
from orchestrator import identity, replacement
from orchestrator.azs import AZ_COUNT, AzChoice, choose_azs
from orchestrator.config import ConfigError, EnvConfig
from orchestrator.errors import UserError, one_line
from orchestrator.executor import Outcome, WalkObserver, walk
from orchestrator.phases import Redeploy, Rotation
from orchestrator.quotas import refuse_over_quota
from orchestrator.reconciler import NodeResult, Reconciler
from orchestrator.rotation import ApiKeyRotation, RotationPolicy, planned_rotations, rotate_keys, utc_now
from orchestrator.spec import UNKNOWN, Node, has_unknown, resolve
from orchestrator.stack import every_node, stack_nodes, stack_outputs
from resources.base import spec_problems
from resources.aws.clock import REAL_CLOCK, Clock
from resources.aws.inventory import tagged_resources
from resources.aws.shared_reads import SharedReads


class TeardownRefused(UserError):
    pass


@dataclass
class RunResult:
    results: list[NodeResult]
    failures: dict[str, Outcome]
    outputs: dict[str, Any] = field(default_factory=dict)
    # A plan's nodes read and found as asked, or found absent (Reconciler.settled): its apply
    # does not look for them again.
    settled: dict[str, tuple[str, NodeResult]] = field(default_factory=dict)
    # The stack's AZs and why they are these (a walk over the stack; None for a teardown).
    azs: AzChoice | None = None

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def refused(self) -> list[NodeResult]:
        """Changes no apply can make (impossible, a replacement, a failed resource kept)."""
        return [r for r in self.results if r.refusal]


def _failures(outcomes: dict[str, Outcome]) -> dict[str, Outcome]:
    return {k: o for k, o in sorted(outcomes.items()) if o.status != "ok"}


def _placeholder_azs(region: str) -> list[str]:
    # Names and tags do not depend on the AZs, nor does any rule a handler checks.
    return [f"{region}-az{i}" for i in range(1, AZ_COUNT + 1)]


def record_azs(doc, choice: AzChoice) -> bool:
    """The AZs by name (what the subnets are given) and by ID (C-AZ-1); whether that changed the
    state (a state that recorded names only gains the IDs, and nothing else moves)."""
    if (doc.azs, doc.az_ids) == (choice.names, choice.ids):
        return False
    doc.azs, doc.az_ids = choice.names, choice.ids
    return True


def check_specs(rec: Reconciler, nodes: list[Node]) -> None:
    """Every rule a handler applies to its spec, for every node, before the first AWS call: a
    value AWS or the handler would refuse stops the run here, not 40 resources into it. All
    problems at once, one line each."""
    problems = [p for node in nodes for p in spec_problems(rec.handler(node), resolve(node.spec, {}), has_unknown)]
    if problems:
        raise ConfigError(problems)


def reconcile_stack(
    aws, *, env: str, doc, save: Callable[[], Any], cfg: EnvConfig | None = None, plan: bool = False,
    clock: Clock = REAL_CLOCK, parallelism: int = 16, nodes: list[Node] | None = None,
    shared: SharedReads | None = None, observer: WalkObserver | None = None,
    retired_tags: frozenset[str] = frozenset(), redeploy: frozenset[str] = frozenset(),
    allow_replace: frozenset[str] = frozenset(), replace_ok: frozenset[str] = frozenset(),
    rotate: frozenset[str] = frozenset(), now: Callable[[], datetime] = utc_now, location: str | None = None,
    settled: dict[str, tuple[str, NodeResult]] | None = None, quotas: bool = False,
) -> RunResult:
    """One walk. A plan also judges its replacements (``allow_replace``: the nodes whose data
    the user consented to lose) and lists the nodes the configuration dropped; an apply makes
    only the replacements its plan found allowed (``replace_ok``).

    ``rotate``: secrets asked to rotate (--rotate); with ``now`` (wall time, injected by tests)
    and secret_rotation_days, what a plan shows as the change ``rotation``. An apply walk never
    rotates: apply_stack runs the rotation's steps around it.

    ``location``: the state location's name, which the environment's VPC carries (identity).

    ``settled``: an apply's plan's nodes read and found as asked (handed back without a read) or
    found absent (created without looking again).

    ``quotas``: a plan also refuses what would pass the account's quotas (orchestrator/quotas.py);
    the plan of a reconcile asks for it, a drift check does not."""
    cfg = cfg or EnvConfig()
    # A plan shows a rotation due; the apply walk leaves it to apply_stack's steps around the walk.
    rotation = (Rotation(RotationPolicy(cfg.secret_rotation_days, rotate, now)),) if plan else ()
    rec = Reconciler(
        aws, env=env, state=doc, save=save, clock=clock, plan=plan, shared=shared, retired_tags=retired_tags,
        phases=(Redeploy(redeploy), *rotation), replace_ok=replace_ok, settled_in_plan=settled,
    )
    check_specs(rec, nodes or stack_nodes(env, cfg, doc.azs or _placeholder_azs(aws.region)))
    choice = choose_azs(aws, doc=doc, cfg=cfg, env=env, region=aws.region)
    azs = choice.names
    by_key = {n.key: n for n in identity.anchor(nodes or stack_nodes(env, cfg, azs), location)}
    graph = {k: n.depends_on for k, n in by_key.items()}
    graphs.validate(graph)
    if not plan:
        record_azs(doc, choice)
        save()
    if plan and not rec.shared.tags_indexed:
        rec.shared.index_tags(lambda: tagged_resources(aws.client("resourcegroupstaggingapi"), env))
    # A plan's reads ahead all start together: most of them wait on a listing another one makes
    # (one per EC2 kind, the tag index), and with a pool of ``parallelism`` the waiting ones held
    # the workers the API Gateway and KMS reads needed (about 0.06 s of a drift check at 30 ms).
    readers = max(parallelism, len(by_key)) if plan else parallelism
    with ThreadPoolExecutor(max_workers=readers, thread_name_prefix="read-ahead") as pool:
        if plan:
            pool.submit(rec.shared.tagged)  # first: most reads wait for it
        rec.read_ahead(by_key.values(), pool)
        outcomes = _walk(rec, by_key, graph, parallelism=parallelism, observer=observer)
        pool.shutdown(wait=False, cancel_futures=True)  # reads the walk did not take (a failed dependency)
    results = [outcomes[k].value for k in by_key if outcomes[k].status == "ok"]  # stack order
    if plan:
        replacement.judge_replacements(results, graph, by_key, allow_replace, rec)
        if quotas:
            refuse_over_quota(aws, results, by_key)
        if nodes is None:
            results += _dropped_results(env, cfg, doc, azs)
    else:
        replacement.blast_radius(results, graph)
    outputs = _stack_outputs(rec, doc)
    failures = _failures(outcomes)
    if not plan and not failures:
        doc.outputs = outputs
        save()
    return RunResult(results, failures, outputs, rec.settled, choice)


def _walk(rec: Reconciler, by_key: dict[str, Node], graph: dict, *, parallelism: int,
          observer: WalkObserver | None) -> dict[str, Outcome]:
    """Every node reconciled once its dependencies are, the longest chain of expected durations
    first."""
    weights = graphs.critical_path_weights(graph, {k: n.handler.expected_seconds for k, n in by_key.items()})
    if observer is not None:
        observer.begin({k: n.name for k, n in by_key.items()})
    return walk(graph, lambda k: rec.reconcile(by_key[k]), max_workers=parallelism, priority=weights, on_event=observer)


def _dropped_results(env: str, cfg: EnvConfig, doc, azs: list[str]) -> list[NodeResult]:
    """A plan's deletions of what the configuration dropped."""
    return [NodeResult(n.key, n.handler.kind, n.name, "delete", id=(doc.resource(n.key) or {}).get("id"))
            for n in dropped_nodes(env, cfg, doc, azs)]


def _stack_outputs(rec: Reconciler, doc) -> dict[str, Any]:
    """The stack's outputs as this run read them; one it could not read (its node failed, or a
    run over part of the stack in tests) is the last one known, else null."""
    resolved = {k: (resolve(ref, rec.outputs) if ref else None) for k, ref in stack_outputs().items()}
    return {k: (doc.outputs.get(k) if v is UNKNOWN else v) for k, v in resolved.items()}


def dropped_nodes(env: str, cfg: EnvConfig, doc, azs: list[str]) -> list[Node]:
    """Nodes an earlier configuration made and this one does not want (an optional part switched
    off, stack.OPTIONAL_NODES), still recorded in the state: deleted by the next apply. What
    holds data is kept until teardown (an export log group of a log type no longer exported)."""
    wanted = {n.key for n in stack_nodes(env, cfg, azs)}
    return [n for n in every_node(env, cfg, azs)
            if n.key not in wanted and doc.resource(n.key) and not n.handler.stateful]


def redeploy_keys(names: list[str], env: str, cfg: EnvConfig) -> frozenset[str]:
    """The ECS service nodes ``--redeploy`` names (node key or service name); one that names
    none is bad input, refused in one line before any call."""
    services = {n.key: n.name for n in stack_nodes(env, cfg, _placeholder_azs("region")) if n.key.startswith("ecs.service.")}
    by_name = {name: key for key, name in services.items()}
    unknown = [n for n in names if n not in services and n not in by_name]
    if unknown:
        known = ", ".join(f"{k} ({v})" for k, v in sorted(services.items()))
        raise UserError(f"--redeploy {unknown[0]}: not an ECS service of this stack; one of {known}")
    return frozenset(n if n in services else by_name[n] for n in names)


def allow_replace_keys(names: list[str], env: str, cfg: EnvConfig) -> frozenset[str]:
    """The nodes ``--allow-replace`` names (node key or resource name); one that names none is
    bad input, refused in one line before any call."""
    nodes = {n.key: n.name for n in stack_nodes(env, cfg, _placeholder_azs("region"))}
    by_name = {name: key for key, name in nodes.items()}
    unknown = [n for n in names if n not in nodes and n not in by_name]
    if unknown:
        raise UserError(f"--allow-replace {unknown[0]}: not a resource of this stack; a node key such as vpc, "
                        "rds.instance or elb.target_group, or its name")
    return frozenset(n if n in nodes else by_name[n] for n in names)


def rotate_names(names: list[str], env: str, cfg: EnvConfig) -> frozenset[str]:
    """The secret nodes ``--rotate`` names (node key or secret name); one that names none is bad
    input, refused in one line before any call."""
    return rotate_keys(names, {n.key: n.name for n in stack_nodes(env, cfg, _placeholder_azs("region"))})


def apply_stack(
    aws, *, env: str, doc, save: Callable[[], Any], cfg: EnvConfig | None = None, clock: Clock = REAL_CLOCK,
    parallelism: int = 16, nodes: list[Node] | None = None, observer: WalkObserver | None = None,
    retired_tags: frozenset[str] = frozenset(), redeploy: frozenset[str] = frozenset(),
    allow_replace: frozenset[str] = frozenset(), rotate: frozenset[str] = frozenset(),
    now: Callable[[], datetime] = utc_now, location: str | None = None, shared: SharedReads | None = None,
    before_changes: Callable[[], Any] = lambda: None, check_plan: Callable[[RunResult], Any] = lambda preview: None,
) -> RunResult:
    """A reconcile that changes AWS: the plan first (reads only), then the apply.

    ``before_changes`` runs once the plan allows the apply, before its first mutating call: the
    configuration the run was asked for is recorded there, so that a run interrupted anywhere
    after it (Ctrl-C, SIGTERM, SIGKILL) is finished by the next plain run. ``shared``: the plan's
    reads, already holding what the run read before it (the environment's VPC listing).

    A plan with a change AWS would refuse (impossible, a replacement not consented to, a failed
    resource kept for a person, a create past the account's quota) ends the run before any
    mutating call: the apply never stops half way through an environment on a change the plan
    could have named (docs/architecture.md). A plan
    with nothing to do, nothing pending and nothing left by an earlier run ends it too, with no
    second read.

    ``check_plan`` is handed the plan before anything else happens: an apply of a saved plan
    raises there when its own plan read something other than the saved one (nothing changed yet).

    The apply: what the configuration dropped and what is replaced by deleting first are deleted
    (one teardown walk, dependents first); then the walk creates and changes; once it succeeded,
    the old copies of replacements made beside them are deleted. A run killed anywhere in this
    finds the rest in its next plan: the deleted ones as creates, the old copies in the state.

    A secret the plan shows with the change ``rotation`` is rotated around the apply walk
    (orchestrator/rotation.py): its steps (a)-(c) before, the walk redeploys the services that
    read it (d), and (e)-(f) follow only when the walk succeeded.
    """
    common = dict(env=env, doc=doc, cfg=cfg, clock=clock, parallelism=parallelism, nodes=nodes, retired_tags=retired_tags,
                  location=location)
    preview = reconcile_stack(aws, save=lambda: None, plan=True, observer=observer, redeploy=redeploy, rotate=rotate,
                              now=now, allow_replace=allow_replace, shared=shared, quotas=True, **common)
    check_plan(preview)
    if _plan_ends_the_run(preview, doc):
        if preview.ok and not preview.refused and record_azs(doc, preview.azs):
            save()
        return preview
    before_changes()
    record_azs(doc, preview.azs)  # the AZs the plan showed; the walk saves them before its first change
    removed = _delete_first(aws, preview, env=env, doc=doc, save=save, clock=clock, cfg=cfg, nodes=nodes,
                            parallelism=parallelism, observer=observer)
    if removed.failures:
        return removed
    rotations, refused = _begin_rotations(aws, preview, env=env, doc=doc, clock=clock, cfg=cfg or EnvConfig(),
                                          nodes=nodes, now=now)
    if refused is not None:
        return refused
    for rotation in rotations.values():
        redeploy = redeploy | rotation.readers
    replaced = {r.key for r in preview.results if r.replacement}
    run = reconcile_stack(aws, save=save, observer=observer, redeploy=redeploy, replace_ok=frozenset(replaced),
                          settled=preview.settled, **common)
    for r in run.results:
        if r.key in replaced:
            r.action = "replace"
    _finish_rotations(run, preview, rotations)
    if run.ok:
        _delete_deposed(aws, env=env, doc=doc, save=save, clock=clock, nodes=nodes, cfg=cfg)
    run.results += [r for r in removed.results if r.key not in replaced]
    return run


def _deleting(preview: RunResult) -> list[str]:
    """What the apply deletes before its walk: nodes the configuration dropped, and replacements
    made by deleting first."""
    return [r.key for r in preview.results if r.action == "delete" or r.replacement == "delete_first"]


def _plan_ends_the_run(preview: RunResult, doc) -> bool:
    """True when no apply follows the plan: a change AWS would refuse (nothing was changed: the
    outputs are the last known ones, the plan's reads may show a resource that is not ours),
    nothing to do, or deletions on a plan that could not read everything (what it missed may be
    what they would take with them)."""
    if preview.refused:
        preview.outputs = dict(doc.outputs) or preview.outputs
        return True
    if preview.ok:
        return not _needs_apply(preview, doc)
    return bool(_deleting(preview))


def _delete_first(aws, preview: RunResult, *, env: str, doc, save, clock: Clock, cfg: EnvConfig | None,
                  nodes: list[Node] | None, parallelism: int, observer: WalkObserver | None) -> RunResult:
    """One teardown walk over what ``_deleting`` names, dependents first."""
    deleting = _deleting(preview)
    if not deleting:
        return RunResult([], {})
    every = _every_node(aws, env, doc, cfg, nodes)
    rec = Reconciler(aws, env=env, state=doc, save=save, clock=clock)
    return Teardown(rec, {k: every[k] for k in every if k in deleting}, doc, save).run(
        parallelism=parallelism, observer=observer, whole=False)


def _begin_rotations(aws, preview: RunResult, *, env: str, doc, clock: Clock, cfg: EnvConfig,
                     nodes: list[Node] | None, now: Callable[[], datetime]) -> tuple[dict, RunResult | None]:
    """The rotations the plan shows, their steps before the walk made; and the run's result when
    one of them could not begin (the walk has not started: nothing else was changed). A rotation
    starts only from a plan that read everything: a failing walk would stop it at (d) anyway."""
    if not preview.ok:
        return {}, None
    stack = nodes or stack_nodes(env, cfg, doc.azs or _placeholder_azs(aws.region))
    rotations = planned_rotations(aws, preview.results, stack, env=env, clock=clock,
                                  grace_hours=cfg.api_key_rotation_grace_hours, now=now)
    for key, rotation in rotations.items():
        try:
            rotation.begin()
        except Exception as exc:
            return rotations, RunResult([], {key: Outcome("failed", f"rotation of {rotation.secret_arn}: {one_line(exc)}")},
                                        dict(doc.outputs))
    return rotations, None


def _finish_rotations(run: RunResult, preview: RunResult, rotations: dict) -> None:
    """The rotations' steps after the walk, only when it succeeded: the services that read the
    secret were redeployed with the new value (d)."""
    for key, rotation in rotations.items():
        if not run.ok and isinstance(rotation, ApiKeyRotation):
            continue  # both keys are accepted; the next run points the secret at the new one
        if not run.ok:
            # (d) did not succeed: the old token is still accepted, nothing is broken; the next
            # run redeploys and finishes (AWSPENDING is on AWSCURRENT).
            # Said after the walk's own failures (the root cause comes first).
            run.failures[key] = Outcome("failed", (
                f"rotation of {rotation.secret_arn} stopped before SET (step e): the services that read the token "
                "were not all redeployed; the old token is still accepted; the next reconcile finishes it"))
            continue
        try:
            rotation.finish()
        except Exception as exc:
            run.failures[key] = Outcome("failed", f"rotation of {rotation.secret_arn}: {one_line(exc)}")
            continue
        if getattr(rotation, "kept", None):
            continue  # the previous key is still in use: kept (logged), nothing changed
        rotated = next((r for r in run.results if r.key == key), None)
        planned = next(d for r in preview.results if r.key == key for d in r.changes if d.field == "rotation")
        if rotated is not None:
            rotated.action = "update"
            rotated.changes = [*rotated.changes, planned]


def _every_node(aws, env: str, doc, cfg: EnvConfig | None, nodes: list[Node] | None) -> dict[str, Node]:
    """Every node an earlier configuration may have made, by key, in stack order (``nodes``:
    a run over part of the stack in tests)."""
    return {n.key: n for n in (nodes or every_node(env, cfg or EnvConfig(), doc.azs or _placeholder_azs(aws.region)))}


def _delete_deposed(aws, *, env, doc, save, clock, nodes, cfg) -> None:
    """The old copies replacements made beside them left, dependents' first (reverse stack
    order): nothing refers to them any more once the walk succeeded."""
    by_key = _every_node(aws, env, doc, cfg, nodes)
    rec = Reconciler(aws, env=env, state=doc, save=save, clock=clock)
    for key in reversed(list(by_key)):
        if (doc.resource(key) or {}).get("deposed"):
            rec.delete_deposed(by_key[key])


def _needs_apply(preview: RunResult, doc) -> bool:
    """Anything the apply walk would do: a change, a resource still pending (it waits, C-ECS-4),
    or an entry an earlier run left unfinished (an intent to resume, a failure to clear)."""
    if any(r.action != "unchanged" or r.pending for r in preview.results):
        return True
    entries = [doc.resource(r.key) or {} for r in preview.results]
    return any(e.get("intent") or e.get("failure") or e.get("deposed") or e.get("id") != r.id
               for e, r in zip(entries, preview.results))


@dataclass
class Teardown:
    """A teardown nothing refuses: every live deletion protection has been read and found off."""

    rec: Reconciler
    by_key: dict[str, Node]
    doc: Any
    save: Callable[[], Any]

    def run(self, *, parallelism: int = 16, observer: WalkObserver | None = None, whole: bool = True) -> RunResult:
        """``whole``: the environment is gone afterwards (its AZs and outputs forgotten); a part
        of it (nodes a reconcile deletes first) leaves them."""
        by_key = self.by_key
        # Only the nodes of this run: a partial node list (tests) names dependencies outside it.
        reverse = graphs.reverse({k: n.depends_on & by_key.keys() for k, n in by_key.items()})
        if observer is not None:
            observer.begin({k: n.name for k, n in by_key.items()})
        weights = graphs.critical_path_weights(reverse, {k: n.handler.expected_delete_seconds for k, n in by_key.items()})
        outcomes = walk(
            reverse, lambda k: self.rec.teardown(by_key[k]), max_workers=parallelism, priority=weights, on_event=observer
        )
        results = [outcomes[k].value for k in reversed(list(by_key)) if outcomes[k].status == "ok"]
        failures = _failures(outcomes)
        if whole and not failures:
            self.doc.azs = []
            self.doc.az_ids = []
            self.doc.outputs = {}
            self.save()
        return RunResult(results, failures)


def refuse_protected_config(env: str, cfg: EnvConfig) -> None:
    """A configuration with deletion protection on refuses a teardown before any AWS call."""
    if cfg.deletion_protection:
        raise TeardownRefused(
            f"refusing to tear down {env}: deletion_protection is on in its configuration "
            "(set deletion_protection = false, run bin/reconcile, then tear down); nothing was deleted"
        )


def prepare_teardown(
    aws, *, env: str, doc, save: Callable[[], Any], cfg: EnvConfig | None = None, clock: Clock = REAL_CLOCK,
    nodes: list[Node] | None = None,
) -> Teardown:
    """Refuses a protected environment before anything is deleted. ``cfg`` carries the
    delete-time choices (the final snapshot) and the configured deletion protection."""
    cfg = cfg or EnvConfig()
    refuse_protected_config(env, cfg)
    # Names and tags do not depend on the AZs, so teardown finds everything without them.
    by_key = _every_node(aws, env, doc, cfg, nodes)
    rec = Reconciler(aws, env=env, state=doc, save=save, clock=clock)
    # Protection as AWS has it now, whatever the configuration says: one protected resource
    # refuses the whole teardown before anything is deleted (B-RDS-6).
    protected = [reason for node in by_key.values() for reason in rec.protections(node)]
    if protected:
        raise TeardownRefused(
            f"refusing to tear down {env}: {'; '.join(protected)} (turn it off with deletion_protection = false "
            "and bin/reconcile, then tear down); nothing was deleted"
        )
    return Teardown(rec, by_key, doc, save)


def teardown_stack(
    aws, *, env: str, doc, save: Callable[[], Any], cfg: EnvConfig | None = None, clock: Clock = REAL_CLOCK,
    parallelism: int = 16, nodes: list[Node] | None = None, observer: WalkObserver | None = None,
) -> RunResult:
    prepared = prepare_teardown(aws, env=env, doc=doc, save=save, cfg=cfg, clock=clock, nodes=nodes)
    return prepared.run(parallelism=parallelism, observer=observer)
