"""The Resource Groups Tagging API's GetResources, answering as AWS does (docs/aws-behaviours.md C-TAG-1, B-TAG-1).

AWS (API reference, GetResources) "Returns all the tagged or previously tagged resources that are
located in the specified Region for the account", every taggable type, and its index follows the
resources with a delay: changes "might not be immediately reflected". So, beside what the stack
tagged itself, the answer holds children that carry its tags and resources deleted a while ago
(C-TAG-1; AWS re:Post "Only get existing resources with ResourceGroupTaggingAPI get-resources":
deleted RDS clusters still listed).

What moto 5.2.5 lists, probed with the layer applied (tests/fidelity/test_tagging.py pins it):

- API Gateway stages (``arn:aws:apigateway:REGION::/restapis/ID/stages/NAME``): **never**. moto's
  API Gateway backend takes no part in the tagging API (nor do its REST APIs, A-33), although
  GetStage answers the stage's tags. Added here for a stage with tags of its own (the stage's
  inheritance of its REST API's tags, "Tag inheritance in the Amazon API Gateway V1 API", is not
  modelled: it would only add stages, never wrongly list one).
- ElastiCache member clusters (``arn:aws:elasticache:REGION:ACCOUNT:cluster:ID``): only when the
  clock is controlled, the one case where ``elasticache_modify`` copies the group's tags onto them
  (C-EC-2, ElastiCache user guide "Tagging your ElastiCache resources"). Added here: a member
  carries its group's tags.
- ECS tasks tagged through ``propagateTags`` (``arn:aws:ecs:REGION:ACCOUNT:task/CLUSTER/ID``):
  **already listed**: the stopped tasks of a failed deployment (``ecs_deployments``) carry the
  service's tags and moto's ECS backend lists every tagged task. Nothing to add (running tasks are
  not modelled, ``ecs_deployments``; ``propagateTags=TASK_DEFINITION`` is not modelled either).
- A deleted resource: **gone at once** from the answer. Here it stays listed, with the tags it had,
  for ``clock.duration("tagging.deleted_listed")`` on the layer's clock after its deletion. On
  the instant clock that time has always gone by: not listed, as before.

**On by default in the servers** (``python -m sandbox.serve``, the end-to-end tests' server, and
``--sandbox``'s embedded one, ``on_by_default``): the drift check recognises children and
ignores deleted resources (issue 14), so every drift test meets the answer a real account gives.
``clock.reset()``, and so moto's ``POST /moto-api/reset`` on such a server, goes back to on.
``POST /fidelity/tagging {"faithful": false}`` switches it off until the next reset. In-process
(``mock_aws``) it stays off unless a test switches it on, ``with tagging.faithful(): ...``.
Off, GetResources is moto's own, untouched.

How deletions are seen: while switched on, after every API call that is not a read (under
``serial``'s lock, as the call itself) the layer lists what the index would hold and remembers, per account and Region, what
it held the call before; whatever went missing was deleted by that call, at the clock's "now".
The memory lives on moto's tagging backend, so moto's reset forgets it with everything else.
"""
from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass, field
from typing import Iterator

from moto.apigateway.models import apigateway_backends
from moto.core.base_backend import BackendDict
from moto.core.resource_tagging import (TaggableResourcesMixin, TaggedResource, iter_taggable_backends, make_tag_matcher,
                                        match_resource_type)
from moto.core.responses import BaseResponse
from moto.elasticache.models import ElastiCacheBackend
from moto.resourcegroupstaggingapi.models import ResourceGroupsTaggingAPIBackend, resourcegroupstaggingapi_backends
from moto.utilities.utils import get_partition

from sandbox.fidelity import clock, serial
from sandbox.fidelity.patching import patch_once

SWITCH = "aws_tagging"
_PATCHED = "_video_pipeline_fidelity_tagging"
# Global services are kept under their partition's name, not a Region (moto's BackendDict).
_PARTITIONS = {"aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "global"}


def on() -> bool:
    return clock.switched(SWITCH)


def switch(faithful: bool) -> None:
    """Switch the faithful GetResources on (remembering what the index holds now) or off."""
    with serial._LOCK:
        clock.switch(SWITCH, faithful)
        for account, region in _places():
            index = _index(account, region)
            index.present, index.deleted = _listed(account, region), {}


def on_by_default(faithful: bool = True) -> None:
    """For a server: the faithful answer from now on, and after every reset (or no longer)."""
    clock.set_default_switches({SWITCH} if faithful else set())
    switch(faithful)


@contextlib.contextmanager
def faithful() -> Iterator[None]:
    """GetResources as AWS answers it for the ``with`` block, then moto's own answer again."""
    switch(True)
    try:
        yield
    finally:
        switch(False)


@dataclass
class _Index:
    present: dict[str, TaggedResource] = field(default_factory=dict)
    deleted: dict[str, tuple[TaggedResource, float]] = field(default_factory=dict)  # arn -> (as it was, when)


def _index(account: str, region: str) -> _Index:
    backend = resourcegroupstaggingapi_backends[account][region]
    if not hasattr(backend, "_fidelity_index"):  # a backend moto has just reset: nothing known yet
        backend._fidelity_index = _Index(present=_listed(account, region))
    return backend._fidelity_index


def _places() -> set[tuple[str, str]]:
    """Every (account, Region) where a taggable backend holds something."""
    places = set()
    for backends in list(BackendDict._instances):  # type: ignore[attr-defined]
        if backends is not apigateway_backends and not (
                isinstance(backends.backend, type) and issubclass(backends.backend, TaggableResourcesMixin)):
            continue
        for account in list(backends.keys()):
            places |= {(account, region) for region in list(backends[account].keys()) if region not in _PARTITIONS}
    return places


def _stages(account: str, region: str) -> Iterator[TaggedResource]:
    # Only read a backend that exists: indexing a BackendDict creates one.
    if account not in apigateway_backends.keys() or region not in apigateway_backends[account].keys():
        return
    for api in apigateway_backends[account][region].apis.values():
        for stage in api.stages.values():
            if stage.tags:
                # "apigateway" filters it; AWS documents no finer type name for stages.
                yield TaggedResource(arn=f"arn:{get_partition(region)}:apigateway:{region}::/restapis/{api.id}/stages/{stage.name}",
                                     tags=dict(stage.tags), resource_type="apigateway:restapis/stages")


def _with_group_tags(backend: ElastiCacheBackend, resource: TaggedResource) -> TaggedResource:
    """A member cluster carries its replication group's tags (C-EC-2)."""
    cluster = next((c for c in backend.cache_clusters.values() if c.arn == resource.arn), None)
    group = backend.replication_groups.get(getattr(cluster, "replication_group_id", None) or "")
    if group is None:
        return resource
    tags = {**backend.tagging_service.get_tag_dict_for_resource(group.arn), **resource.tags}
    return TaggedResource(arn=resource.arn, tags=tags, resource_type=resource.resource_type, extra=resource.extra)


def _listed(account: str, region: str) -> dict[str, TaggedResource]:
    """What AWS's index holds for the account and Region now, before any filter: moto's
    resources, member clusters with their group's tags, and tagged API Gateway stages."""
    found: dict[str, TaggedResource] = {}
    for backend in iter_taggable_backends(account, region):
        for resource in backend.iter_tagged_resources():
            if isinstance(backend, ElastiCacheBackend) and resource.resource_type == "elasticache:cache_clusters":
                resource = _with_group_tags(backend, resource)
            found[resource.arn] = resource
    found.update((stage.arn, stage) for stage in _stages(account, region))
    return found


def _observe() -> None:
    """After a call: what the index held and no longer holds was deleted now; what is back is
    no longer a deleted one."""
    for account, region in _places():
        index = _index(account, region)
        now = _listed(account, region)
        for arn, resource in index.present.items():
            # "previously tagged": a resource that never had a tag is never in AWS's answer.
            if arn not in now and resource.tags:
                index.deleted[arn] = (resource, clock.now())
        for arn in now:
            index.deleted.pop(arn, None)
        index.present = now


def _still_listed(index: _Index) -> list[TaggedResource]:
    lag = clock.duration("tagging.deleted_listed")
    for arn, (_, when) in list(index.deleted.items()):
        if clock.elapsed(when) >= lag:  # always so on the instant clock
            del index.deleted[arn]
    return [resource for resource, _ in index.deleted.values()]


def _get_resources_generator(original):
    @functools.wraps(original)
    def generator(self: ResourceGroupsTaggingAPIBackend, tag_filters=None, resource_type_filters=None, resource_arn_list=None):
        if not on():
            return original(self, tag_filters=tag_filters, resource_type_filters=resource_type_filters,
                            resource_arn_list=resource_arn_list)
        index = _index(self.account_id, self.region_name)
        # The same filters as moto's own generator, over the faithful list.
        matches = make_tag_matcher(tag_filters)
        listed = [*_listed(self.account_id, self.region_name).values(), *_still_listed(index)]
        # A list, not a lazy generator: a later page must answer what this call saw.
        return iter([
            r for r in listed
            if (r.tags or r.extra.get("include_untagged")) and match_resource_type(r.resource_type, resource_type_filters)
            and matches(r.tags) and (not resource_arn_list or r.arn in resource_arn_list)
        ])

    return generator


_READS = ("Describe", "Get", "List")


def _reads_only(response: BaseResponse) -> bool:
    """A read deletes nothing: no need to look for what went missing (listing every tagged
    resource of the account after each call made a drift check of ten environments, ~600 reads,
    spend most of its time in this server)."""
    if getattr(response, "method", "") in ("GET", "HEAD"):
        return True
    try:
        action = response._get_action()
    except Exception:  # noqa: BLE001 - a protocol moto resolves otherwise: observe, to be safe
        return False
    return bool(action) and str(action).startswith(_READS)


def _dispatch(original):
    @functools.wraps(original)
    def dispatch(self, *args, **kwargs):
        if not on():
            return original(self, *args, **kwargs)
        with serial._LOCK:
            try:
                return original(self, *args, **kwargs)
            finally:
                if not _reads_only(self):
                    _observe()

    return dispatch


def _patch(cls, name: str, build) -> None:
    patch_once(cls, name, build, _PATCHED)


def apply() -> None:
    _patch(ResourceGroupsTaggingAPIBackend, "_get_resources_generator", _get_resources_generator)
    _patch(BaseResponse, "_dispatch", _dispatch)
