"""The IAM permissions a handler's calls need, declared next to the calls (``Handler.iam``).

``bin/policy`` (orchestrator/policy.py) gathers them over the stack's nodes into a least-privilege
policy document. Each ``Grant`` is one group of actions on one set of resources:

    reads(*actions)                    describes and lists drift makes too ("*" unless ``arns``)
    writes(*actions, arns=..., tag=..) the deployer's only: creates, updates, tags, deletes, and the
                                       reads drift never makes (a secret's value, the AZ choice)

ARN patterns name the environment's resources; their placeholders are filled in by the
generator: ``{partition}``, ``{region}``, ``{account}``, ``{env}`` (``*`` for every environment of
a state location). Where AWS names a resource by an id it assigns (a VPC, a file system, a key),
``tag`` scopes it by the ownership tag instead: "resource" asks the resource's tag
(``aws:ResourceTag``), "request" the tag a create call sets (``aws:RequestTag``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

# The environment's own ARN prefix pieces, for the patterns below.
REGIONAL = "arn:{partition}:{service}:{region}:{account}:"


@dataclass(frozen=True)
class Grant:
    actions: tuple[str, ...]
    arns: tuple[str, ...] = ("*",)
    # "", "resource" or "request": the ownership tag condition (module docstring).
    tag: str = ""
    # Drift (read-only, reads no secret value) needs it as well as the deployer.
    read: bool = False
    # Extra condition operators, e.g. {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}.
    condition: dict = field(default_factory=dict, hash=False, compare=False)
    # Why AWS checks it though the tool makes no call of that name (iam:PassRole, a key's use
    # through Secrets Manager); "" for an action the tool calls itself.
    implied_by: str = ""


def reads(*actions: str, arns: tuple[str, ...] = ("*",), tag: str = "", condition: dict | None = None,
          implied_by: str = "") -> Grant:
    return Grant(tuple(actions), tuple(arns), tag, read=True, condition=condition or {}, implied_by=implied_by)


def writes(*actions: str, arns: tuple[str, ...] = ("*",), tag: str = "", condition: dict | None = None,
           implied_by: str = "") -> Grant:
    return Grant(tuple(actions), tuple(arns), tag, read=False, condition=condition or {}, implied_by=implied_by)


def arn(service: str, rest: str) -> str:
    """A regional ARN pattern of this account: ``arn("logs", "log-group:/ecs/x-{env}/*")``."""
    return REGIONAL.replace("{service}", service) + rest


def pass_role(role: str, service: str, by: str) -> Grant:
    """iam:PassRole of the environment's ``role`` to ``service`` only: what ``by`` needs to hand the
    role over (AWS checks it on that call; there is no PassRole call)."""
    return writes("iam:PassRole", arns=(f"arn:{{partition}}:iam::{{account}}:role/{role}",),
                  condition={"StringEquals": {"iam:PassedToService": service}}, implied_by=by)


def key_use_through_secrets_manager(by: str) -> Grant:
    """The environment's KMS key encrypts its secrets: Secrets Manager uses it with the caller's
    permissions when ``by`` writes or reads a value (the key's policy admits it only that way)."""
    return writes("kms:GenerateDataKey", "kms:Decrypt", arns=(arn("kms", "key/*"),), tag="resource",
                  condition={"StringEquals": {"kms:ViaService": "secretsmanager.{region}.amazonaws.com"}}, implied_by=by)


def service_linked_role(service: str, by: str) -> Grant:
    """iam:CreateServiceLinkedRole for ``service`` only: a fresh account has no such role until
    ``by`` (or the tool itself) creates it."""
    return writes("iam:CreateServiceLinkedRole", arns=("arn:{partition}:iam::{account}:role/aws-service-role/*",),
                  condition={"StringEquals": {"iam:AWSServiceName": service}}, implied_by=by)


def api_paths(*paths: str) -> tuple[str, ...]:
    """API Gateway authorizes its calls as the HTTP verb on the ARN of the resource path."""
    return tuple(f"arn:{{partition}}:apigateway:{{region}}::{p}" for p in paths)
