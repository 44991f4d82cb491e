"""AWS's request-rate limits, as token buckets the latency layer applies (bench.latency_proxy).

One table, ``LIMITS``: each bucket's capacity (burst) and refill rate (per second) with the page
that states it. Every figure is per account and Region, as the pages say. A call takes one token
from each bucket it belongs to; with any of them empty it is throttled, and AWS's throttling
answer for its protocol goes back instead (``throttled_answer``): EC2 ``RequestLimitExceeded``
(503), the query services ``Throttling`` (400), the JSON services ``ThrottlingException`` (400),
API Gateway ``TooManyRequestsException`` (429). botocore's standard retry mode (the orchestrator's)
treats each as throttling and retries it after a back-off.

What the pages say and how it is read here:

- EC2: a bucket per API action, sized by the action's category; the few "uncategorized" actions
  have their own sizes. A listing of DescribeSecurityGroups, DescribeNetworkInterfaces or
  DescribeInstances with neither a filter nor pagination draws from a smaller bucket (read here:
  no ``Filter.*``, ``MaxResults`` nor ``NextToken`` parameter).
- RDS: one bucket for every RDS API call of the account.
- ECS: one bucket per category of actions (every action of a category shares it).
- API Gateway (management API): a bucket for the account's every call (10 per second, burst 40)
  and, for a few actions, one of their own as well ("1 request every 5 seconds": capacity 1).
- Secrets Manager: per-second quotas on groups of actions, "combined"; read here as a bucket
  holding one second's worth.
- Not limited here, because no figure was found for the calls the stack makes: ElastiCache, EFS,
  Elastic Load Balancing, CloudWatch Logs, KMS (its page lists per-operation quotas, but the
  stored copy read did not show the values for the key reads), IAM, STS, WAF, the tagging API,
  Service Quotas, and the Secrets Manager listings (ListSecrets, ListSecretVersionIds).
"""
from __future__ import annotations

import re
import threading
import urllib.parse
from dataclasses import dataclass
from typing import Callable

# The fault-injection suites answer throttling the same way: one definition of each wire format.
from tests.support.fault_proxy import throttling_response

EC2_URL = "https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html"
RDS_URL = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-api-throttling.html"
ECS_URL = "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/request-throttling.html"
APIGATEWAY_URL = "https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html"
SECRETS_URL = "https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_limits.html"


@dataclass(frozen=True)
class Limit:
    capacity: float  # tokens the bucket holds: the burst
    rate: float  # tokens added per second: the sustained rate
    source: str  # the page that states it


# (SigV4 signing name, bucket) -> its limit. EC2's buckets are per action: the category entries
# give the size of each action's own bucket (see ec2_bucket).
LIMITS: dict[tuple[str, str], Limit] = {
    ("ec2", "non-mutating"): Limit(100, 20, EC2_URL),
    ("ec2", "unfiltered and unpaginated non-mutating"): Limit(50, 10, EC2_URL),
    ("ec2", "mutating"): Limit(50, 5, EC2_URL),
    ("ec2", "resource-intensive"): Limit(50, 5, EC2_URL),
    # The uncategorized actions the stack calls (the page's table lists many more).
    ("ec2", "CreateNatGateway"): Limit(10, 1, EC2_URL),
    ("ec2", "DeleteNatGateway"): Limit(10, 1, EC2_URL),
    ("ec2", "CreateTags"): Limit(100, 10, EC2_URL),
    ("ec2", "DeleteTags"): Limit(100, 10, EC2_URL),
    ("ec2", "CreateNetworkInterface"): Limit(100, 5, EC2_URL),
    ("ec2", "DeleteNetworkInterface"): Limit(100, 5, EC2_URL),
    ("ec2", "ModifyNetworkInterfaceAttribute"): Limit(100, 5, EC2_URL),
    ("rds", "all"): Limit(300, 12, RDS_URL),
    ("ecs", "cluster modify"): Limit(20, 1, ECS_URL),
    ("ecs", "cluster read"): Limit(50, 20, ECS_URL),
    ("ecs", "task definition modify"): Limit(20, 1, ECS_URL),
    ("ecs", "task definition read"): Limit(50, 20, ECS_URL),
    ("ecs", "task definition deletion"): Limit(5, 1, ECS_URL),
    ("ecs", "capacity provider modify"): Limit(10, 1, ECS_URL),
    ("ecs", "capacity provider read"): Limit(50, 20, ECS_URL),
    ("ecs", "tag modify"): Limit(20, 10, ECS_URL),
    ("ecs", "tag read"): Limit(50, 20, ECS_URL),
    ("ecs", "setting modify"): Limit(10, 1, ECS_URL),
    ("ecs", "setting read"): Limit(50, 20, ECS_URL),
    ("ecs", "cluster resource modify"): Limit(100, 40, ECS_URL),
    ("ecs", "cluster resource read"): Limit(100, 20, ECS_URL),
    ("ecs", "service modify"): Limit(50, 5, ECS_URL),
    ("ecs", "service read"): Limit(100, 20, ECS_URL),
    ("ecs", "service deployment"): Limit(50, 20, ECS_URL),
    ("ecs", "service revision"): Limit(50, 20, ECS_URL),
    ("ecs", "cluster service resource read"): Limit(10, 1, ECS_URL),
    ("apigateway", "total"): Limit(40, 10, APIGATEWAY_URL),
    ("apigateway", "CreateApiKey"): Limit(5, 5, APIGATEWAY_URL),
    ("apigateway", "DeleteApiKey"): Limit(5, 5, APIGATEWAY_URL),
    ("apigateway", "CreateResource"): Limit(5, 5, APIGATEWAY_URL),
    ("apigateway", "DeleteResource"): Limit(5, 5, APIGATEWAY_URL),
    ("apigateway", "GetResources"): Limit(5, 2.5, APIGATEWAY_URL),  # 5 requests every 2 seconds
    ("apigateway", "CreateDeployment"): Limit(1, 1 / 5, APIGATEWAY_URL),
    ("apigateway", "CreateRestApi"): Limit(1, 1 / 3, APIGATEWAY_URL),  # a Regional API
    ("apigateway", "DeleteRestApi"): Limit(1, 1 / 30, APIGATEWAY_URL),
    ("apigateway", "PutRestApi"): Limit(1, 1, APIGATEWAY_URL),
    ("apigateway", "UpdateAccount"): Limit(1, 1 / 20, APIGATEWAY_URL),
    ("apigateway", "UpdateUsagePlan"): Limit(1, 1 / 20, APIGATEWAY_URL),
    ("secretsmanager", "resource policy"): Limit(50, 50, SECRETS_URL),
    ("secretsmanager", "describe and get value"): Limit(10_000, 10_000, SECRETS_URL),
    ("secretsmanager", "update"): Limit(50, 50, SECRETS_URL),
    ("secretsmanager", "restore"): Limit(50, 50, SECRETS_URL),
    ("secretsmanager", "rotate"): Limit(50, 50, SECRETS_URL),
    ("secretsmanager", "tag"): Limit(50, 50, SECRETS_URL),
    ("secretsmanager", "batch get value"): Limit(100, 100, SECRETS_URL),
}

EC2_UNFILTERED = {"DescribeInstances", "DescribeInstanceStatus", "DescribeNetworkInterfaces", "DescribeSecurityGroups",
                  "DescribeSnapshots", "DescribeSpotInstanceRequests", "DescribeVolumes"}
EC2_RESOURCE_INTENSIVE = {"AcceptVpcPeeringConnection", "AuthorizeSecurityGroupIngress", "CancelSpotInstanceRequests",
                          "CreateKeyPair", "CreateVpcPeeringConnection", "DeleteVpcPeeringConnection",
                          "RejectVpcPeeringConnection", "RevokeSecurityGroupIngress", "RequestSpotInstances"}
EC2_READ_PREFIXES = ("Describe", "List", "Search", "Get")
# Parameters that make an EC2 listing filtered or paginated (query protocol names).
EC2_NARROWING = re.compile(r"^(Filter\.|MaxResults$|NextToken$)")

ECS_CATEGORIES = {
    "cluster modify": ("CreateCluster", "DeleteCluster", "PutClusterCapacityProviders", "UpdateCluster",
                       "UpdateClusterSettings"),
    "cluster read": ("DescribeClusters", "ListClusters"),
    "task definition modify": ("DeregisterTaskDefinition", "RegisterTaskDefinition"),
    "task definition read": ("DescribeTaskDefinition", "ListTaskDefinitions", "ListTaskDefinitionFamilies"),
    "task definition deletion": ("DeleteTaskDefinitions",),
    "capacity provider modify": ("CreateCapacityProvider", "DeleteCapacityProvider", "UpdateCapacityProvider"),
    "capacity provider read": ("DescribeCapacityProviders",),
    "tag modify": ("TagResource", "UntagResource"),
    "tag read": ("ListTagsForResource",),
    "setting modify": ("DeleteAccountSetting", "PutAccountSetting", "PutAccountSettingDefault"),
    "setting read": ("ListAccountSettings",),
    "cluster resource modify": ("DeleteAttributes", "DeregisterContainerInstance", "ExecuteCommand", "PutAttributes",
                                "RunTask", "StartTask", "StopTask", "UpdateContainerAgent",
                                "UpdateContainerInstancesStates"),
    "cluster resource read": ("DescribeContainerInstances", "DescribeTasks", "ListAttributes", "ListContainerInstances",
                              "ListTasks"),
    "service modify": ("CreateService", "DeleteService", "UpdateService"),
    "service read": ("DescribeServices", "ListServices"),
    "service deployment": ("DescribeServiceDeployments", "ListServiceDeployments"),
    "service revision": ("DescribeServiceRevisions",),
    "cluster service resource read": ("ListServicesByNamespace",),
}
ECS_BUCKET = {operation: category for category, operations in ECS_CATEGORIES.items() for operation in operations}

SECRETS_GROUPS = {
    "resource policy": ("DeleteResourcePolicy", "GetResourcePolicy", "PutResourcePolicy", "ValidateResourcePolicy"),
    "describe and get value": ("DescribeSecret", "GetSecretValue"),
    "update": ("PutSecretValue", "RemoveRegionsFromReplication", "ReplicateSecretToRegion", "StopReplicationToReplica",
               "UpdateSecret", "UpdateSecretVersionStage"),
    "restore": ("RestoreSecret",),
    "rotate": ("RotateSecret", "CancelRotateSecret"),
    "tag": ("TagResource", "UntagResource"),
    "batch get value": ("BatchGetSecretValue",),
}
SECRETS_BUCKET = {operation: group for group, operations in SECRETS_GROUPS.items() for operation in operations}

# API Gateway's management API is REST: its actions with a limit of their own, by method and path
# (botocore's apigateway service-2.json "requestUri").
APIGATEWAY_ACTIONS = [
    (method, re.compile(pattern), action)
    for method, pattern, action in (
        ("POST", r"^/apikeys$", "CreateApiKey"),
        ("DELETE", r"^/apikeys/[^/]+$", "DeleteApiKey"),
        ("GET", r"^/restapis/[^/]+/resources$", "GetResources"),
        ("POST", r"^/restapis/[^/]+/resources/[^/]+$", "CreateResource"),
        ("DELETE", r"^/restapis/[^/]+/resources/[^/]+$", "DeleteResource"),
        ("POST", r"^/restapis/[^/]+/deployments$", "CreateDeployment"),
        ("POST", r"^/restapis$", "CreateRestApi"),
        ("DELETE", r"^/restapis/[^/]+$", "DeleteRestApi"),
        ("PUT", r"^/restapis/[^/]+$", "PutRestApi"),
        ("PATCH", r"^/account$", "UpdateAccount"),
        ("PATCH", r"^/usageplans/[^/]+$", "UpdateUsagePlan"),
    )
]


@dataclass(frozen=True)
class Request:
    """What the buckets need of one HTTP request: its service and operation (bench.classify),
    its method and path (API Gateway's actions), and its query parameters (EC2's narrowing)."""
    service: str
    operation: str
    method: str = "POST"
    path: str = "/"
    params: tuple[str, ...] = ()

    @classmethod
    def of(cls, service: str, operation: str, method: str, url: str, body: bytes | str | None) -> "Request":
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else (body or "")
        parsed = urllib.parse.urlsplit(url)
        params = tuple(urllib.parse.parse_qs(text)) if service == "ec2" else ()
        return cls(service, operation, method.upper(), urllib.parse.unquote(parsed.path), params)


def ec2_bucket(request: Request) -> tuple[str, str]:
    """The EC2 action's own bucket (its name) and the category that sizes it."""
    op = request.operation
    if ("ec2", op) in LIMITS:  # an uncategorized action: a size of its own
        return op, op
    if op.startswith(EC2_READ_PREFIXES):
        if op in EC2_UNFILTERED and not any(EC2_NARROWING.match(p) for p in request.params):
            return f"{op} unfiltered", "unfiltered and unpaginated non-mutating"
        return op, "non-mutating"
    return op, "resource-intensive" if op in EC2_RESOURCE_INTENSIVE else "mutating"


def buckets(request: Request) -> list[tuple[str, Limit]]:
    """Every bucket the request takes a token from, named, with its limit; [] when unlimited."""
    service, op = request.service, request.operation
    if service == "ec2":
        name, category = ec2_bucket(request)
        return [(f"ec2 {name}", LIMITS[("ec2", category)])]
    if service == "rds":
        return [("rds", LIMITS[("rds", "all")])]
    if service == "ecs" and op in ECS_BUCKET:
        return [(f"ecs {ECS_BUCKET[op]}", LIMITS[("ecs", ECS_BUCKET[op])])]
    if service == "secretsmanager" and op in SECRETS_BUCKET:
        return [(f"secretsmanager {SECRETS_BUCKET[op]}", LIMITS[("secretsmanager", SECRETS_BUCKET[op])])]
    if service == "apigateway":
        found = [("apigateway total", LIMITS[("apigateway", "total")])]
        for method, pattern, action in APIGATEWAY_ACTIONS:
            if request.method == method and pattern.match(request.path):
                found.append((f"apigateway {action}", LIMITS[("apigateway", action)]))
                break
        return found
    return []


class TokenBucket:
    """Starts full; ``capacity`` tokens at most; ``rate`` tokens a second added back."""

    def __init__(self, limit: Limit, now: float):
        self.limit = limit
        self.tokens = float(limit.capacity)
        self._last = now

    def refill(self, now: float) -> None:
        if now > self._last:
            self.tokens = min(self.limit.capacity, self.tokens + (now - self._last) * self.limit.rate)
            self._last = now


class RateLimiter:
    """The account's buckets, created full on first use. A throttled request takes no token (AWS
    refuses it before any work)."""

    def __init__(self, clock: Callable[[], float]):
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, TokenBucket] = {}

    def take(self, request: Request) -> str | None:
        """None when the request goes through (a token taken from each of its buckets), else the
        name of the empty bucket that throttles it."""
        wanted = buckets(request)
        with self._lock:
            now = self._clock()
            held = [(name, self._buckets.setdefault(name, TokenBucket(limit, now))) for name, limit in wanted]
            for _, bucket in held:
                bucket.refill(now)
            for name, bucket in held:
                if bucket.tokens < 1 - 1e-9:  # 1e-9: 5 s at 0.2 a second is a whole token
                    return name
            for _, bucket in held:
                bucket.tokens -= 1
            return None


def throttled_answer(service: str) -> tuple[int, dict[str, str], bytes]:
    """AWS's answer to a throttled call of ``service``, in its protocol's wire format."""
    return throttling_response(service)
