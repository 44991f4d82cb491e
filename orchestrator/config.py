"""Per-environment settings: the seed's values as defaults, overridable from a TOML file.

    [defaults]                 # every environment
    db_instance_class = "db.t3.medium"
    [defaults.tags]            # added to every resource's tags
    CostCenter = "video"

    [environments.prod]        # one environment
    deletion_protection = true

    [[environments.prod.drift.ignore]]   # drift a check reports as ignored (orchestrator.drift_rules)
    resource = "ecs.service.worker"
    attribute = "desired_count"
    reason = "autoscaling owns the count"

Every value is checked against AWS's own rules (docs/aws-behaviours.md table B) before any AWS call; a bad
one is reported as one line naming the key and what is allowed.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import ipaddress
import json
import re
import tomllib
from dataclasses import dataclass, field
from typing import Any, Iterable

from orchestrator.drift_rules import drift_problems
from orchestrator.errors import UserError, unknown_key
from resources.compute.ecs import FARGATE_MEMORY, fargate_memory_choices
from resources.data.elasticache import snapshot_window_ok
from resources.data.rds import MONITORING_INTERVALS

RESERVED_TAG_KEYS = ("Name", "Environment", "ManagedBy")
# The tool's own records on resources (orchestrator.identity: where the state lives).
RESERVED_TAG_PREFIX = "video-pipeline:"
TAG_KEY = re.compile(r"[\w .:/=+\-@]{1,128}", re.UNICODE)
TAG_VALUE = re.compile(r"[\w .:/=+\-@]{0,256}", re.UNICODE)
# Environments whose data must survive a mistaken teardown unless the config says otherwise.
PRODUCTION_LIKE = re.compile(r"(prod|production|prd)(-.*)?")

# B-LOG-1: CloudWatch Logs accepts only these retention values.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)
# API Gateway execution logging levels the stack allows (OFF fails FSBP APIGateway.1).
API_LOG_LEVELS = ("ERROR", "INFO")
# An IAM role ARN: partition, account, an optional path and the name (IAM RoleName: 1-64 of [\w+=,.@-]).
ROLE_ARN = r"arn:aws[-a-z]*:iam::\d{12}:role/([\w+=,.@-]+/)*[\w+=,.@-]{1,64}"
# The shortest grace period of an API key rotation: one UTC day, GetUsage's unit.
MIN_API_KEY_GRACE_HOURS = 24


@dataclass(frozen=True)
class EnvConfig:
    vpc_cidr: str = "10.0.0.0/16"
    """The environment's VPC network, carved into 16 slices, six used as subnets.

    Allowed: an IPv4 network, /16 to /24

    Fixed once created: a new CIDR is a new VPC and everything in it (the database, Redis, the
    execution log group among them), refused by the plan with the data it would lose unless
    `--allow-replace vpc` consents; then everything in the VPC is deleted first and made anew."""
    tags: dict[str, str] = field(default_factory=dict)
    """Tags added to every resource (the keys of `tags` are the ones the tool sets).

    Allowed: AWS tag keys (1-128 characters) and values (0-256 characters) of letters, digits,
    spaces and `_ . : / = + - @`; `Name`, `Environment`, `ManagedBy`, `video-pipeline:*` and `aws:*`
    are reserved

    Per environment: yes, `[environments.NAME.tags]` adds to `[defaults.tags]` key by key"""
    deletion_protection: bool = False
    """RDS deletion protection, and teardown refuses the environment; on by default for an
    environment named `prod`, `production` or `prd`, alone or followed by `-` and a suffix
    (`prod-eu`)."""
    db_instance_class: str = "db.t3.medium"
    """The RDS instance class, `db.<family>.<size>`."""
    db_engine_version: str = "17"
    """The PostgreSQL version, major (or major.minor) 11 and later: a major alone (`17`) runs the
    minor RDS picks and stays in sync with the newer minors it moves to.

    A change is checked at plan time against the upgrade targets RDS offers for the running version
    (`DescribeDBEngineVersions` `ValidUpgradeTarget`, read only when the version differs): a newer
    minor is in place; a major upgrade (`18`) is **downtime** (primary and standby upgraded together,
    RDS snapshots before and after) and is sent with `AllowMajorVersionUpgrade`, the default
    parameter group moving to the new family's. **Refused** before any call: an older version
    (including a minor older than the one running), a target RDS does not offer (the refusal names
    the valid ones), and a major upgrade of an instance on a custom parameter group (the stack does
    not manage them)."""
    db_allocated_storage: int = 20
    """The database's storage, in GiB."""
    db_backup_retention_days: int = 7
    """Days RDS keeps the automated backups (0, which would turn them off, is not allowed)."""
    db_final_snapshot: bool = False
    """Take a final snapshot of the database on teardown."""
    # FSBP RDS.6 (AWS Config rds-enhanced-monitoring-enabled: NON_COMPLIANT when the interval
    # is 0): on by default at the cheapest interval; 0 turns it off.
    db_monitoring_interval: int = 60
    """The RDS Enhanced Monitoring interval in seconds; on by default for FSBP RDS.6, through the
    role `rds-monitoring-role-ENV` (always made)."""
    redis_node_type: str = "cache.t3.micro"
    """The ElastiCache node type, `cache.<family>.<size>`."""
    redis_engine_version: str = "7.1"
    """The Redis OSS version, 5.0.6 or later (in-transit encryption): `<major>.<minor>` from 6
    (`6.x`: any 6).

    A change must be a version ElastiCache offers (`DescribeCacheEngineVersions`, read only when the
    version differs); an upgrade is **downtime**: nodes are upgraded one by one, the primary by a
    failover (seconds of write errors). Across parameter group families (6.2 → 7.0) the new family's
    default group is named in the same call. **Refused** before any call: an older version (7.1 is
    the last Redis OSS: a running 7.1 has nothing to upgrade to), a version not offered, and a change
    of family on a custom parameter group."""
    redis_num_nodes: int = 2
    """Nodes of the Redis replication group (automatic failover needs 2)."""
    log_retention_days: int = 30
    """Days the ECS services' log groups keep their logs (a CloudWatch Logs retention value)."""
    api_image: str = "public.ecr.aws/docker/library/nginx:stable-alpine"
    """The container image of the API service (`metadata-api`)."""
    api_port: int = 80
    """The port the API containers listen on, and the load balancer's.

    The target group's port cannot change in place: a new target group is made beside the old one
    (`api-tg-ENV-b`, then back to `api-tg-ENV` the next time), the listener and the service are
    pointed at it, then the old one is deleted — no consent needed, it holds no data."""
    api_cpu: int = 256
    """CPU units of an API task (a Fargate CPU/memory pair with `api_memory`)."""
    api_memory: int = 512
    """Memory of an API task, in MiB (a Fargate CPU/memory pair with `api_cpu`).

    Allowed: what Fargate pairs with `api_cpu`: 512, 1024 or 2048 for 256; from 1024 to 4096 for
    512, 2048 to 8192 for 1024, 4096 to 16384 for 2048 and 8192 to 30720 for 4096, in steps of 1024;
    from 16384 to 61440 for 8192 in steps of 4096; from 32768 to 122880 for 16384 in steps of 8192"""
    api_desired_count: int = 2
    """Tasks the API service runs."""
    worker_image: str = "public.ecr.aws/docker/library/busybox:stable"
    """The container image of the worker service (`video-worker`)."""
    worker_cpu: int = 1024
    """CPU units of a worker task (a Fargate CPU/memory pair with `worker_memory`)."""
    worker_memory: int = 2048
    """Memory of a worker task, in MiB (a Fargate CPU/memory pair with `worker_cpu`).

    Allowed: what Fargate pairs with `worker_cpu`, as for `api_memory`"""
    worker_desired_count: int = 1
    """Tasks the worker service runs."""
    # The default image is a placeholder consumer that keeps the EFS volume mounted.
    worker_command: list[str] = field(default_factory=lambda: ["sh", "-c", "while true; do sleep 3600; done"])
    """The worker container's command; the default is a placeholder loop that keeps the EFS volume
    mounted."""
    api_throttle_rate: float = 100.0
    """Usage plan throttling: the steady rate, in requests per second."""
    api_throttle_burst: int = 200
    """Usage plan throttling: the burst, in requests."""
    # What bin/drift reports as ignored rather than drifted: {"ignore": [rule, ...]}
    # (orchestrator.drift_rules). Only the report reads it; no resource depends on it.
    drift: dict[str, Any] = field(default_factory=dict)
    """What `bin/drift` reports as `ignored` rather than drifted (see [Drift checks](drift.md)).

    Allowed: `ignore`: `[[defaults.drift.ignore]]` / `[[environments.NAME.drift.ignore]]` tables:
    `reason` (required) and `resource` (+ `attribute`) or `unmanaged` (+ `kind`)

    Per environment: yes, `[[environments.NAME.drift.ignore]]` rules are added to the defaults'"""
    # -- issue 15, data services and load balancer (docs/configuration.md rows RDS, ElastiCache, EFS,
    # load balancer): each costs money or changes behaviour, so each is a key; defaults secure.
    # FSBP RDS.9: the PostgreSQL logs exported to CloudWatch Logs (ingestion and storage cost).
    db_log_exports: list[str] = field(default_factory=lambda: ["postgresql", "upgrade"])
    """The RDS for PostgreSQL logs exported to CloudWatch Logs (FSBP RDS.9); `[]` exports none.

    Each exported type has its log group made by the stack first
    (`/aws/rds/instance/rds-postgresql-ENV/TYPE`, see "RDS export log groups" below); a type removed
    later stops being exported but its group and the logs in it stay until teardown."""
    # How long the export log groups (/aws/rds/instance/rds-postgresql-ENV/<type>) keep them:
    # database logs are audit material (connections, errors, upgrades), so the 365 days FSBP
    # CloudWatch.16 asks of a log group, like the flow and API logs, not the tasks' 30.
    db_log_retention_days: int = 365
    """Days the RDS export log groups keep the database logs (a CloudWatch Logs retention value, as
    `log_retention_days`; database logs are audit material: 365 is FSBP CloudWatch.16's minimum, like
    the flow and API logs)."""
    # FSBP RDS.13: RDS moves the engine to newer minors in the maintenance window (C-RDS-3).
    db_auto_minor_version_upgrade: bool = True
    """RDS applies newer minors of the engine in the maintenance window (FSBP RDS.13)."""
    # FSBP ElastiCache.1: daily snapshots kept this many days (backup storage cost).
    redis_snapshot_retention_days: int = 7
    """Days the daily Redis snapshots are kept (FSBP ElastiCache.1)."""
    # The daily snapshot window, UTC (16:00-17:00 UTC is 01:00-02:00 in Tokyo).
    redis_snapshot_window: str = "16:00-17:00"
    """The daily Redis snapshot window, in UTC (the default is 01:00-02:00 in Tokyo)."""
    # FSBP ElastiCache.2: minor engine upgrades applied in the maintenance window.
    redis_auto_minor_version_upgrade: bool = True
    """ElastiCache minor engine upgrades in the maintenance window (FSBP ElastiCache.2)."""
    # FSBP EFS.2: the file system in AWS Backup's default daily plan (backup storage cost).
    efs_backup: bool = True
    """The file system in AWS Backup's default daily plan (FSBP EFS.2)."""
    # Cross-zone load balancing on the NLB (inter-AZ data transfer is charged for an NLB).
    lb_cross_zone: bool = True
    """Cross-zone load balancing on the NLB (inter-AZ traffic is charged)."""
    # -- issue 15, VPC / keys / logs (docs/configuration.md) --
    # VPC flow logs (FSBP EC2.6): how long their log group keeps them; 365 days is the minimum
    # FSBP CloudWatch.16 asks of a log group.
    flow_log_retention_days: int = 365
    """Days the VPC flow logs' log group keeps them (a CloudWatch Logs retention value, as
    `log_retention_days`; FSBP EC2.6; 365 is FSBP CloudWatch.16's minimum)."""
    # The environment's KMS key (FSBP KMS.4) is deleted this many days after a teardown
    # (ScheduleKeyDeletion's waiting period, 7-30): until then a mistaken teardown can be undone.
    kms_deletion_window_days: int = 30
    """Days between teardown and the deletion of the environment's KMS key (ScheduleKeyDeletion)."""
    # -- issue 15, API Gateway (docs/configuration.md API Gateway row; FSBP APIGateway.1, .3, .4) --
    # Execution logging of every method (FSBP APIGateway.1 passes with ERROR or INFO; INFO logs
    # every request: more CloudWatch Logs ingestion).
    api_log_level: str = "ERROR"
    """Execution logging of every API method (FSBP APIGateway.1; `INFO` logs every request)."""
    # How long the execution and access log groups keep their logs; 365 days is the minimum
    # FSBP CloudWatch.16 asks of a log group.
    api_log_retention_days: int = 365
    """Days the API's execution and access log groups keep their logs (a CloudWatch Logs retention
    value)."""
    # Detailed (per-method) CloudWatch metrics on the stage (charged as custom metrics).
    api_detailed_metrics: bool = True
    """Per-method CloudWatch metrics on the API stage (charged as custom metrics)."""
    # X-Ray tracing of the stage (FSBP APIGateway.3; traces are charged beyond the free tier).
    api_tracing: bool = True
    """X-Ray tracing of the API stage (FSBP APIGateway.3)."""
    # The WAFv2 web ACL on the stage (FSBP APIGateway.4). Off: a reconcile deletes the web ACL
    # and its association (nodes the configuration drops are deleted), and APIGateway.4 fails.
    api_waf: bool = True
    """The WAFv2 web ACL on the API stage (FSBP APIGateway.4) and its logging (FSBP WAF.11); `false`
    deletes the web ACL, its association and its logging on the next reconcile (APIGateway.4 then
    fails; the log group keeps its logs until teardown) and `true` makes them again."""
    # Its rate-based rule: requests per client IP in 5 minutes before it is blocked.
    api_waf_rate_limit: int = 2000
    """Requests per client IP in 5 minutes before the web ACL's rate rule blocks it."""
    # -- issue 15, IAM / secrets / ECS (docs/configuration.md rows IAM, secrets, secret rotation, ECS) --
    # FSBP ECS.5: containers run with a read-only root file system; the paths an image writes to
    # are task volumes (nginx: its cache and pid directories). Off for an image that cannot.
    ecs_readonly_root_filesystem: bool = True
    """Containers run with a read-only root file system (FSBP ECS.5); `false` for an image that
    must write outside its scratch paths."""
    api_scratch_paths: list[str] = field(default_factory=lambda: ["/var/cache/nginx", "/var/run"])
    """Writable task volumes of the API containers (Fargate task storage, emptied with the task),
    mounted at these paths while the root is read-only."""
    worker_scratch_paths: list[str] = field(default_factory=lambda: ["/tmp"])
    """Writable task volumes of the worker containers (Fargate task storage, emptied with the task),
    mounted at these paths while the root is read-only."""
    # awslogs in non-blocking mode: log lines wait in a buffer of this size (Docker's size syntax)
    # while CloudWatch Logs is slow, instead of blocking the application; the oldest are dropped
    # when it is full.
    ecs_log_max_buffer_size: str = "25m"
    """The awslogs buffer of `non-blocking` mode (a size in `k`/`m`/`g`); lines beyond it are
    dropped rather than blocking the application."""
    # Who besides the roles that read them may read the stack's secrets (their resource policies
    # deny everyone else): IAM role or user ARNs (aws:PrincipalArn) of the people and pipelines
    # that run bin/reconcile and bin/drift. Never derived from whoever runs the tool: a drift run
    # as another role would otherwise report both secret policies as drifted.
    secret_admin_principals: list[str] = field(default_factory=list)
    """IAM role or user ARNs that may read the stack's secrets besides the roles that use them (the
    tool reads the Redis AUTH token and the API key as these principals).

    No wildcards: a `*` would let whoever can create a role of a matching name read the secrets.

    Empty: the environment's `role_arn` when it has one (the role every run assumes); else the
    account root, `arn:aws:iam::ACCOUNT:root`, which leaves the decision to IAM policies (any
    principal of the account allowed `secretsmanager:GetSecretValue` may read, no principal of
    another account may). Required, or `role_arn`, when the state is shared (`s3://`): a team's
    runs are made by several principals, and the policy must not depend on which one ran last."""
    # Secret rotation (FSBP SecretsManager.4, whose Config rule's maxDaysSinceRotation defaults to
    # 90): a reconcile rotates the Redis AUTH token when the value in use (AWSCURRENT) is older
    # than this many days (orchestrator/rotation.py); 0 never rotates on a schedule.
    secret_rotation_days: int = 90
    """A reconcile rotates the Redis AUTH token and the API key once the value in use is older than
    this many days, and drift reports it overdue (90: the default of the AWS Config rule behind FSBP
    SecretsManager.4); 0 never rotates on a schedule (`--rotate` still does)."""
    # An API key cannot change its value: a rotation makes a second key, and the old one stays in
    # the usage plan this many hours so that clients can switch. At least 24: GetUsage counts a
    # key's requests by UTC day, so only a whole day after the rotation's own tells use after the
    # switch from use before it (orchestrator/rotation.py ApiKeyRotation.finish).
    api_key_rotation_grace_hours: int = 24
    """After an API key rotation the old key keeps working this many hours (clients switch to the
    secret's new value); from 24 to 720.

    The first reconcile after that deletes it, unless API Gateway counted requests with it in the
    last `api_key_rotation_grace_hours` (whole UTC days after the rotation's own day: its usage is
    counted by day): then the key is kept, the run logs `rotation_previous_key_kept` with the
    days it was used, and a later reconcile looks again. Less than 24 hours is refused, as that
    count could not tell use after the switch from use before it."""
    # The AWS account the environment belongs to (12 digits; empty: not checked): every command
    # for it refuses credentials of another account before any call but STS's (orchestrator.cli).
    account_id: str = ""
    """The AWS account the environment belongs to; empty: not checked.

    Per environment: yes, and usually set there (`[environments.prod]`)

    With it, `bin/reconcile` (and `--plan`), `bin/drift --env` and `bin/teardown` given this file ask
    STS who the credentials are and, for another account, change nothing and exit 1 with one line
    naming both accounts, before any other AWS call (not with `--sandbox`: its emulator has an
    account of its own). A run without `--config` is guarded by the state, which records its
    account."""
    # The role every call for the environment is made as (STS AssumeRole from the standard
    # credential chain's identity, orchestrator.cli); empty: the credentials as they are.
    role_arn: str = ""
    """An IAM role every command for the environment assumes before its first call (STS
    AssumeRole, from the credentials of the standard chain); empty: the credentials are used as
    they are.

    Per environment: yes, and usually set there, one role per account (`[environments.prod]`)

    The session is named after the run (`video-pipeline-reconcile-prod`, shown in CloudTrail) and
    its credentials are renewed before they expire. `account_id` is then checked against the
    role's account. A run without `--config` assumes the role recorded in the environment's state;
    `bin/drift --all` checks each environment as its own role, in its own region. The state
    location itself (an `s3://` bucket) is read and written with the credentials as they are, not
    as the role. A role that cannot be assumed: one line naming it and AWS's answer, nothing
    changed."""


def defaults_for(env: str) -> dict[str, Any]:
    return {"deletion_protection": bool(PRODUCTION_LIKE.fullmatch(env))}


def load_config(path: str | None, env: str, node_keys: Iterable[str] | None = None) -> EnvConfig:
    """``node_keys``: the stack's (orchestrator.stack.node_keys), which a drift rule's resource
    must name; given by the caller, for the stack is built from an EnvConfig."""
    merged: dict = defaults_for(env)
    if path is None:
        return validate_config(merged, node_keys=node_keys)
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except OSError as exc:
        raise UserError(f"cannot read config {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"config {path} is not valid TOML: {exc}") from None
    unknown = set(doc) - {"defaults", "environments"}
    if unknown:
        hint = "; drift rules go under [defaults.drift] or [environments.NAME.drift]" if "drift" in unknown else ""
        raise UserError(f"config {path}: unknown table '{sorted(unknown)[0]}' (allowed: defaults, environments){hint}")
    tables = (("defaults", doc.get("defaults", {})), (f"environments.{env}", doc.get("environments", {}).get(env, {})))
    for source, table in tables:
        if not isinstance(table, dict):
            raise UserError(f"config {path}: [{source}] must be a table")
        for key, value in table.items():
            if key == "tags" and isinstance(value, dict):
                merged["tags"] = {**merged.get("tags", {}), **value}
            elif key == "drift" and isinstance(value, dict) and isinstance(merged.get("drift"), dict):
                merged["drift"] = _merge_drift(merged["drift"], value)
            else:
                merged[key] = value
    return validate_config(merged, where=path, node_keys=node_keys)


def _merge_drift(earlier: dict, later: dict) -> dict:
    # The environment's rules add to the defaults' (rules are numbered in that order); anything
    # else is merged as given, for validate_config to judge.
    merged = {**earlier, **later}
    if isinstance(earlier.get("ignore"), list) and isinstance(later.get("ignore"), list):
        merged["ignore"] = earlier["ignore"] + later["ignore"]
    return merged


def validate_config(values: dict, where: str = "config", node_keys: Iterable[str] | None = None) -> EnvConfig:
    """Every problem at once, one line each (ConfigError.lines), before any AWS call. ``node_keys``:
    as for load_config; needed only when a drift rule names a resource."""
    problems: list[str] = []
    fields = {f.name: f for f in dataclasses.fields(EnvConfig)}
    known = {}
    for key, value in values.items():
        if key not in fields:
            problems.append(unknown_key(where, key, fields, KEYS_DOCUMENTED))
        elif _type_ok(value, type(getattr(EnvConfig(), key))):
            known[key] = value
        else:
            problems.append(f"{where}: {key} must be {_TYPE_NAMES[type(getattr(EnvConfig(), key))]}, got {value!r}")
    cfg = EnvConfig(**known)
    mistyped = {k for k in values if k not in known}
    for check in (_check_cidr, _check_tags, _check_values):
        problems += check(cfg, where, mistyped)
    problems += _check_drift(cfg, where, mistyped, node_keys)
    if problems:
        raise ConfigError(problems)
    return cfg


# Where every key is described: the list itself is dozens of keys, too long for an error line.
KEYS_DOCUMENTED = "the keys are listed in docs/configuration.md"


class ConfigError(UserError):
    """All the configuration's problems, one line each."""

    def __init__(self, lines: list[str]):
        super().__init__("; ".join(lines))
        self.lines = lines


def _type_ok(value, expected: type) -> bool:
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return True
    return isinstance(value, expected) and not (expected is int and isinstance(value, bool))


_TYPE_NAMES = {str: "a string", int: "an integer", bool: "true or false", float: "a number", dict: "a table",
               list: "a list of strings"}


def _check_values(cfg: EnvConfig, where: str, mistyped: set[str], rules: dict[str, str] | None = None) -> list[str]:
    """``rules``, when given, receives each key's allowed values in the words of its error line:
    the configuration reference (orchestrator.config_reference) shows exactly what is checked."""
    problems: list[str] = []

    def check(key: str, ok: bool, allowed: str, value=None) -> None:
        if rules is not None:
            rules.setdefault(key, allowed)
        # A key of the wrong type has its line already; its default is what is checked here.
        if not ok and key not in mistyped:
            shown = getattr(cfg, key) if value is None else value
            problems.append(f"{where}: {key} = {shown!r} is not allowed ({allowed})")

    def one_of(key: str, allowed, note: str = "") -> None:
        check(key, getattr(cfg, key) in allowed, "allowed: " + ", ".join(map(str, allowed)) + note)

    def matches(key: str, pattern: str, what: str) -> None:
        check(key, bool(re.fullmatch(pattern, getattr(cfg, key))), what)

    def between(key: str, low, high) -> None:
        check(key, low <= getattr(cfg, key) <= high, f"from {low} to {high}")

    matches("db_instance_class", r"db\.[a-z0-9]+\.[a-z0-9]+", "an RDS class such as db.t3.medium")
    matches("db_engine_version", r"1[1-9](\.\d+)?", "a PostgreSQL major version such as 17, or 17.4")
    between("db_allocated_storage", 20, 65536)
    # Multi-AZ with backups retained: 0 would turn automated backups off.
    between("db_backup_retention_days", 1, 35)
    one_of("db_monitoring_interval", MONITORING_INTERVALS, " seconds; 0 turns Enhanced Monitoring off")
    matches("redis_node_type", r"cache\.[a-z0-9]+\.[a-z0-9]+", "an ElastiCache node type such as cache.t3.micro")
    # B-EC-5: in-transit encryption needs Redis OSS 4.0.10 or later; 5, 6 and 7 are current.
    matches("redis_engine_version", r"[5-7](\.\d+){0,2}|6\.x", "Redis OSS 5.0.6 or later, e.g. 7.1")
    # B-EC-2: automatic failover needs 2 to 6 nodes.
    between("redis_num_nodes", 2, 6)
    one_of("log_retention_days", LOG_RETENTION_DAYS)
    for role in ("api", "worker"):
        matches(f"{role}_image", r"[a-z0-9][\w.\-/:@]{0,254}", "a container image reference")
        cpu = getattr(cfg, f"{role}_cpu")
        one_of(f"{role}_cpu", tuple(FARGATE_MEMORY))
        if cpu in FARGATE_MEMORY:
            one_of(f"{role}_memory", fargate_memory_choices(cpu))
        between(f"{role}_desired_count", 0, 100)
    check("worker_command", all(isinstance(part, str) for part in cfg.worker_command), "a list of strings")
    between("api_port", 1, 65535)
    between("api_throttle_rate", 0.001, 10000.0)
    between("api_throttle_burst", 1, 5000)
    # -- issue 15, data services and load balancer
    check("db_log_exports", all(isinstance(t, str) for t in cfg.db_log_exports)
          and set(cfg.db_log_exports) <= set(DB_LOG_TYPES) and len(set(cfg.db_log_exports)) == len(cfg.db_log_exports),
          "distinct RDS for PostgreSQL log types: " + ", ".join(DB_LOG_TYPES))
    one_of("db_log_retention_days", LOG_RETENTION_DAYS)
    # CreateReplicationGroup API reference: SnapshotRetentionLimit 0 turns backups off (FSBP
    # ElastiCache.1 fails); ElastiCache keeps automatic backups 35 days at most.
    between("redis_snapshot_retention_days", 1, 35)
    check("redis_snapshot_window", snapshot_window_ok(cfg.redis_snapshot_window),
          "hh24:mi-hh24:mi in UTC, at least 60 minutes, e.g. 16:00-17:00")
    # -- issue 15, VPC / keys / logs --
    one_of("flow_log_retention_days", LOG_RETENTION_DAYS)
    between("kms_deletion_window_days", 7, 30)
    # -- issue 15, API Gateway --
    one_of("api_log_level", API_LOG_LEVELS, " (FSBP APIGateway.1: OFF is not allowed)")
    one_of("api_log_retention_days", LOG_RETENTION_DAYS)
    # WAF API reference, RateBasedStatement.Limit: 10 to 2,000,000,000.
    between("api_waf_rate_limit", 10, 2_000_000_000)
    # -- issue 15, IAM / secrets / ECS --
    for key in ("api_scratch_paths", "worker_scratch_paths"):
        paths = getattr(cfg, key)
        check(key, all(isinstance(p, str) and re.fullmatch(r"/[\w.\-/]{1,200}", p) and p.rstrip("/") not in ("", "/")
                       for p in paths) and len(set(paths)) == len(paths) and len(paths) <= 10,
              "distinct absolute paths other than /, at most 10")
    # 0 is "never"; ten years is far beyond any rotation policy, so a larger number is a typo.
    between("secret_rotation_days", 0, 3650)
    # Up to 30 days: a key left longer is a second credential nobody rotates. At least a day: the
    # old key's use is counted by UTC day (GetUsage), see the field.
    between("api_key_rotation_grace_hours", MIN_API_KEY_GRACE_HOURS, 720)
    # Docker's max-buffer-size: a number and a unit; ECS takes up to the task's memory, 1m is
    # Docker's default, 4g a sane ceiling here.
    check("secret_admin_principals", all(
        isinstance(p, str) and re.fullmatch(r"arn:aws[\w-]*:iam::\d{12}:(root|(role|user)/[\w+=,.@/-]{1,512})", p)
        for p in cfg.secret_admin_principals) and len(cfg.secret_admin_principals) <= 20,
        "IAM role or user ARNs such as arn:aws:iam::123456789012:role/deploy, without wildcards, at most 20")
    check("ecs_log_max_buffer_size", _buffer_bytes(cfg.ecs_log_max_buffer_size) is not None
          and 1 << 20 <= _buffer_bytes(cfg.ecs_log_max_buffer_size) <= 4 << 30,
          "a size from 1m to 4g, such as 25m")
    check("account_id", cfg.account_id == "" or bool(re.fullmatch(r"[0-9]{12}", cfg.account_id)),
          "an AWS account ID: 12 digits, as a string such as \"123456789012\"")
    check("role_arn", cfg.role_arn == "" or bool(re.fullmatch(ROLE_ARN, cfg.role_arn)),
          "an IAM role ARN such as arn:aws:iam::123456789012:role/deploy")
    return problems


def _buffer_bytes(text: str) -> int | None:
    found = re.fullmatch(r"([1-9]\d{0,9})([kmg])", text) if isinstance(text, str) else None
    return int(found[1]) << {"k": 10, "m": 20, "g": 30}[found[2]] if found else None


def _check_drift(cfg: EnvConfig, where: str, mistyped: set[str], node_keys: Iterable[str] | None) -> list[str]:
    return [] if "drift" in mistyped else drift_problems(cfg.drift, where, node_keys)
# The RDS for PostgreSQL log types CloudWatch Logs export takes (RDS user guide, "Publishing
# PostgreSQL logs to Amazon CloudWatch Logs").
DB_LOG_TYPES = ("postgresql", "upgrade")


def _check_cidr(cfg: EnvConfig, where: str, mistyped: set[str]) -> list[str]:
    value = cfg.vpc_cidr
    if "vpc_cidr" in mistyped:
        return []
    try:
        net = ipaddress.IPv4Network(value, strict=True)
    except ValueError:
        return [f"{where}: vpc_cidr {value!r} is not an IPv4 network such as 10.0.0.0/16"]
    # AWS allows /16 to /28 for a VPC; six subnets of prefix+4 must still be at least /28.
    if not 16 <= net.prefixlen <= 24:
        return [f"{where}: vpc_cidr {value!r} must have a prefix length from /16 to /24"]
    return []


def _check_tags(cfg: EnvConfig, where: str, mistyped: set[str]) -> list[str]:
    problems = []
    for key, value in cfg.tags.items():
        if key in RESERVED_TAG_KEYS or key.startswith(RESERVED_TAG_PREFIX):
            problems.append(f"{where}: tags.{key} is set by the tool and cannot be overridden")
        elif key.lower().startswith("aws:"):
            problems.append(f"{where}: tags.{key}: the aws: prefix is reserved by AWS")
        elif not TAG_KEY.fullmatch(key):
            problems.append(f"{where}: tags.{key}: keys are 1-128 letters, digits, spaces and _ . : / = + - @")
        elif not isinstance(value, str) or not TAG_VALUE.fullmatch(value):
            problems.append(f"{where}: tags.{key}: values are strings of 0-256 letters, digits, spaces and _ . : / = + - @")
    return problems


# -- the configuration an environment remembers (docs/usage.md) ---------------------------------

@dataclass(frozen=True)
class ChosenConfig:
    """The configuration a run uses, and where it came from."""

    cfg: EnvConfig
    # "file": --config; "recorded": the last successful reconcile's; "pending": the one a failed
    # reconcile was applying; "defaults": nothing given, nothing recorded.
    origin: str
    # The file the values were first read from, or "defaults".
    source: str
    # Pending only: the replacements the failed run was allowed to make (--allow-replace). A run
    # killed half way through a consented replacement has deleted part of it; the next plain run
    # finishes it rather than stopping to ask again with the environment half gone.
    consented: frozenset[str] = frozenset()

    @property
    def values(self) -> dict[str, Any]:
        values = dataclasses.asdict(self.cfg)
        if not values["drift"].get("ignore"):
            # Without rules, the values (and so the hash every earlier state records) are what
            # they were before drift rules existed: upgrading records nothing new.
            del values["drift"]
        for key in ("account_id", "role_arn"):
            if not values[key]:
                # Likewise: an environment that names no account or role records what it did before the key.
                del values[key]
        return values

    @functools.cached_property
    def hash(self) -> str:
        # Asked by every document a run writes; the values are frozen, so it is made once
        # (dataclasses.asdict of the configuration costs a few milliseconds each time).
        return config_hash(self.values)

    def record(self) -> dict[str, Any]:
        """What the state keeps: values only (EnvConfig holds no secret), their hash, the source."""
        return {"values": self.values, "hash": self.hash, "source": self.source}

    def entry(self) -> dict[str, str]:
        """What the JSON documents say of it."""
        return {"origin": self.origin, "source": self.source, "hash": self.hash}


def config_hash(values: dict[str, Any]) -> str:
    canonical = json.dumps(values, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def choose_config(given: ChosenConfig | None, doc, env: str, node_keys: Iterable[str] | None = None) -> ChosenConfig:
    """--config when given; else what the environment was being moved to by a reconcile that
    failed (so a forgotten flag does not revert what it already changed); else the last
    successful reconcile's; else the defaults. ``node_keys``: as for load_config."""
    if given is not None:
        return given
    for origin, record in (("pending", doc.pending_config), ("recorded", doc.config)):
        if record:
            cfg = validate_config(record["values"], where=f"the configuration recorded in the state of {env}",
                                  node_keys=node_keys)
            return ChosenConfig(cfg, origin, record.get("source", "unknown"), frozenset(record.get("allow_replace", ())))
    return ChosenConfig(load_config(None, env), "defaults", "defaults")


def retired_tag_keys(doc, cfg: EnvConfig) -> frozenset[str]:
    """Tag keys the tool set with an earlier configuration and no longer wants."""
    earlier = set()
    for record in (doc.config, doc.pending_config):
        if record:
            earlier |= set(record["values"].get("tags") or {})
    return frozenset(earlier - set(cfg.tags))


def remember_config(doc, chosen: ChosenConfig, *, succeeded: bool, consented: frozenset[str] = frozenset()) -> None:
    """After a reconcile (not a plan): a success records its configuration, a failure keeps the
    one it was applying as pending, so that no later run without --config reverts what the
    failed run already changed; with the replacements it was allowed to make (``consented``), so
    that no later plain run stops half way through one. Unchanged records are left as they are
    (no state write)."""
    record = chosen.record()
    applied = (doc.config or {}).get("hash") == record["hash"]
    if succeeded:
        if not applied:
            doc.config = record
        doc.pending_config = None
    elif not applied:
        doc.pending_config = {**record, "allow_replace": sorted(consented)} if consented else record
