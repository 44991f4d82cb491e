"""One running environment for the day-2 suite: the whole stack (orchestrator.stack.stack_nodes,
every node) built once on in-process moto, with the fidelity layer's day-2 states on a clock the
suite drives (sandbox/fidelity/clock.py), and the runs made as bin/reconcile and bin/drift make
them (orchestrator/cli.py): the configuration remembered after an apply, retired tag keys from
the recorded one, a refused apply remembering nothing.

Every run's AWS calls are counted by the orchestrator's own CallLog (resources/aws/__init__.py), per
(service, operation), so a scenario can say exactly which mutating calls its apply made.
"""
from __future__ import annotations

import collections
import contextlib
import logging
from dataclasses import dataclass, field

import pytest
import structlog
from moto import mock_aws

from orchestrator.config import ChosenConfig, EnvConfig, choose_config, remember_config, retired_tag_keys
from orchestrator.drift import DriftReport, drift_stack
from orchestrator.run import RunResult, apply_stack, reconcile_stack
from resources.aws import Aws, is_mutating
from resources.aws.clock import FakeClock
from sandbox.fidelity import clock as layer_clock
from tests.conftest import REGION
from tests.support.memory_state import MemoryState

ENV = "dev"


def mutating(before: collections.Counter, after: collections.Counter) -> dict[str, int]:
    """The mutating calls made between two snapshots of a CallLog, as "service Operation": n."""
    return {f"{s} {op}": n - before[(s, op)] for (s, op), n in sorted(after.items())
            if n != before[(s, op)] and is_mutating(op)}


def changes(run: RunResult) -> dict[str, dict[str, str]]:
    """What a plan says: node -> {field: change class}, for every node that is not unchanged."""
    return {r.key: {d.field: d.change.name for d in r.changes} for r in run.results if r.action != "unchanged"}


@dataclass
class Day2Env:
    aws: Aws
    state: MemoryState
    clock: FakeClock
    # The configuration the environment was last reconciled with (what the state records).
    cfg: EnvConfig = field(default_factory=EnvConfig)
    # The mutating calls of the last apply (set by ``apply``).
    last_calls: dict[str, int] = field(default_factory=dict)

    @property
    def doc(self):
        return self.state.doc

    def snapshot(self) -> collections.Counter:
        return collections.Counter(self.aws.calls.counts)

    def plan(self, cfg: EnvConfig | None = None, **kw) -> RunResult:
        """bin/reconcile --plan: one walk, reads only (asserted: a plan that wrote would be a bug)."""
        cfg = cfg or self.cfg
        before = self.snapshot()
        run = reconcile_stack(self.aws, env=ENV, doc=self.doc, save=lambda: None, cfg=cfg, plan=True,
                              clock=self.clock.as_clock(), retired_tags=retired_tag_keys(self.doc, cfg), **kw)
        assert mutating(before, self.snapshot()) == {}, "a plan made a mutating call"
        return run

    def apply(self, cfg: EnvConfig | None = None, *, chosen: ChosenConfig | None = None,
              allow_replace: frozenset[str] = frozenset(), parallelism: int = 16) -> RunResult:
        """bin/reconcile [--config]: plan, refuse or apply; the configuration remembered as the
        CLI does (recorded on success, pending on failure, nothing when refused)."""
        chosen = chosen or ChosenConfig(cfg or self.cfg, "file", "day2.toml")
        before = self.snapshot()
        run = apply_stack(self.aws, env=ENV, doc=self.doc, save=self.state.save, cfg=chosen.cfg,
                          clock=self.clock.as_clock(), retired_tags=retired_tag_keys(self.doc, chosen.cfg),
                          allow_replace=allow_replace or chosen.consented, parallelism=parallelism)
        self.last_calls = mutating(before, self.snapshot())
        if not run.refused:
            remember_config(self.doc, chosen, succeeded=run.ok, consented=allow_replace)
            self.state.save()
        if run.ok and not run.refused:
            self.cfg = chosen.cfg
        return run

    def apply_remembered(self) -> RunResult:
        """bin/reconcile without --config: the pending configuration of a failed run, else the
        recorded one (orchestrator.config.choose_config)."""
        return self.apply(chosen=choose_config(None, self.doc, ENV))

    def drift(self, cfg: EnvConfig | None = None) -> DriftReport:
        cfg = cfg or self.cfg
        before = self.snapshot()
        report = drift_stack(self.aws, env=ENV, doc=self.doc, cfg=cfg, retired_tags=retired_tag_keys(self.doc, cfg))
        assert mutating(before, self.snapshot()) == {}, "a drift check made a mutating call"
        return report


@contextlib.contextmanager
def running_environment(tmp_path_factory, cfg: EnvConfig | None = None) -> Day2Env:
    """The whole stack, created once (with ``cfg``, else the defaults), on a controlled layer clock that the orchestrator's own
    injected clock drives (every poll it sleeps moves AWS's states on; no wall time passes).

    Module-scoped fixtures start before the function-scoped ``_no_real_aws`` of tests/conftest.py,
    so the same environment is set here for the life of the module."""
    with pytest.MonkeyPatch.context() as mp:
        for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
            mp.delenv(key, raising=False)
        no_files = tmp_path_factory.mktemp("aws")
        for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": REGION,
                           "AWS_DEFAULT_REGION": REGION, "AWS_CONFIG_FILE": str(no_files / "config"),
                           "AWS_SHARED_CREDENTIALS_FILE": str(no_files / "credentials"),
                           "MOTO_IAM_LOAD_MANAGED_POLICIES": "false", "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
                           "AWS_EC2_METADATA_DISABLED": "true"}.items():
            mp.setenv(key, value)
        # A line per resource per walk, six walks a scenario: only warnings and errors are kept
        # (tests/conftest.py puts the previous configuration back after each test, this one).
        logged = structlog.get_config()
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
        try:
            with mock_aws(), layer_clock.use(FakeClock()) as fake:
                env = Day2Env(Aws(REGION), MemoryState(ENV, REGION), fake)
                created = env.apply(cfg or EnvConfig())
                assert created.ok and not created.refused, created.failures
                yield env
        finally:
            structlog.configure(**logged)


class Killed(BaseException):
    """The process dying at a call (not an Exception: nothing in the run may catch it)."""


@contextlib.contextmanager
def killed_after(env: Day2Env, k: int | str | None, services: tuple[str, ...]):
    """The run dies right after its k-th mutating call through these services' clients (a
    SIGKILL as the caller sees it: the call happened, its answer is lost); ``k`` "service
    Operation": after the first such call. None: no kill."""
    hooks = []
    if k is not None:
        seen = collections.Counter()

        def die(model, **_):
            if not model.name.startswith(("Describe", "Get", "List")):
                seen["n"] += 1
                call = f"{model.service_model.service_name} {model.name}"
                if seen["n"] == k or call == k:
                    raise Killed(call)

        for service in services:
            client = env.aws.client(service)
            client.meta.events.register("after-call", die)
            hooks.append((client, die))
    try:
        yield
    finally:
        for client, hook in hooks:
            client.meta.events.unregister("after-call", hook)
