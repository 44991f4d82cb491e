"""Security groups (least privilege), secrets, log groups and IAM roles."""
from __future__ import annotations

from orchestrator.config import EnvConfig
from orchestrator.spec import Join, Node, Ref
from orchestrator.stack.common import spec_factory
from resources.iam_role import IamRole
from resources.log_group import LogGroup
from resources.secret import ApiKeySecret, GeneratedSecret
from resources.security_group import SecurityGroup

ALL_TRAFFIC = {"protocol": "-1", "from_port": -1, "to_port": -1}


def tcp(port: int, source, description: str) -> dict:
    """One rule: ``source`` is a CIDR or a Ref to a security group."""
    return {"protocol": "tcp", "from_port": port, "to_port": port, "source": source, "description": description}


def security_group_nodes(env: str, cfg: EnvConfig) -> list[Node]:
    spec = spec_factory(env, cfg)
    vpc_cidr = cfg.vpc_cidr

    def group(key: str, name: str, description: str, ingress: list, egress: list) -> Node:
        return Node(key, SecurityGroup, spec(name, vpc_id=Ref("vpc"), description=description, ingress=ingress, egress=egress))

    return [
        # NLB security groups filter what reaches the load balancer: only the VPC, only the API
        # port. API Gateway's VPC link arrives through PrivateLink, which the NLB handler exempts
        # from inbound rules (EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic=off).
        group("sg.nlb", f"nlb-sg-{env}", "Internal NLB in front of the metadata service",
              [tcp(cfg.api_port, vpc_cidr, "API Gateway VPC link and VPC clients")],
              [tcp(cfg.api_port, vpc_cidr, "to the metadata service tasks")]),
        # Tasks: nothing in but the load balancer on the API port; all egress (image pulls
        # through the NAT gateways, RDS, Redis, EFS, AWS APIs).
        group("sg.ecs", f"ecs-sg-{env}", "ECS Fargate tasks",
              [tcp(cfg.api_port, Ref("sg.nlb"), "metadata API from the load balancer")],
              [{**ALL_TRAFFIC, "source": "0.0.0.0/0", "description": "image pulls and AWS APIs"}]),
        # Data stores: one port, only from the tasks; no egress (security groups are stateful,
        # replies need no rule).
        group("sg.rds", f"rds-sg-{env}", "RDS PostgreSQL", [tcp(5432, Ref("sg.ecs"), "PostgreSQL from ECS tasks")], []),
        group("sg.redis", f"redis-sg-{env}", "ElastiCache Redis", [tcp(6379, Ref("sg.ecs"), "Redis from ECS tasks")], []),
        group("sg.efs", f"efs-sg-{env}", "EFS mount targets", [tcp(2049, Ref("sg.ecs"), "NFS from ECS tasks")], []),
    ]


def log_group_name(env: str, service: str) -> str:
    return f"/ecs/video-processing-{env}/{service}"


def log_group_nodes(env: str, cfg: EnvConfig) -> list[Node]:

    spec = spec_factory(env, cfg)
    return [
        Node(f"logs.{short}", LogGroup, spec(log_group_name(env, service), retention_days=cfg.log_retention_days))
        for short, service in (("api", "metadata-api"), ("worker", "video-worker"))
    ]


def secret_nodes(env: str, cfg: EnvConfig) -> list[Node]:

    spec = spec_factory(env, cfg)
    return [
        # B-EC-4: 16-128 printable ASCII, and of the specials only ! & # $ ^ < > - are allowed.
        Node("secret.redis_auth", GeneratedSecret, spec(
            f"redis-auth-{env}", description="AUTH token of the Redis replication group",
            json_key="auth_token", length=64, alphabet="alphanumeric",
        )),
        Node("secret.api_key", ApiKeySecret, spec(
            f"api-keys-{env}", description="The API key API Gateway enforces on the video metadata API",
            json_key="api_key", api_key_id=Ref("apigw.api_key"),
        )),
    ]


ECS_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def iam_nodes(env: str, cfg: EnvConfig) -> list[Node]:

    spec = spec_factory(env, cfg)
    log_streams = [Join(Ref(f"logs.{s}", "arn"), ":log-stream:*") for s in ("api", "worker")]
    execution_policy = {
        "Version": "2012-10-17",
        "Statement": [
            # GetAuthorizationToken has no resource-level permissions: AWS requires "*" for it.
            {"Sid": "EcrAuth", "Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"], "Resource": "*"},
            {"Sid": "EcrPull", "Effect": "Allow",
             "Action": ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
             "Resource": "arn:aws:ecr:*:*:repository/*"},
            {"Sid": "WriteOwnLogs", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
             "Resource": log_streams},
            {"Sid": "ReadOwnSecrets", "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"],
             "Resource": [Ref("rds.instance", "secret_arn"), Ref("secret.redis_auth", "arn")]},
        ],
    }
    task_policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "MountOwnFileSystem", "Effect": "Allow",
             "Action": ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"],
             "Resource": Ref("efs.file_system", "arn"),
             "Condition": {"StringEquals": {"elasticfilesystem:AccessPointArn": Ref("efs.access_point", "arn")}}},
        ],
    }
    return [
        Node("iam.execution_role", IamRole, spec(
            f"ecs-task-execution-role-{env}", description="ECS pulls images, writes logs and reads secrets for the tasks",
            assume_role_policy=ECS_TRUST, inline_policies={"execution": execution_policy}, managed_policy_arns=[],
        )),
        Node("iam.task_role", IamRole, spec(
            f"ecs-task-role-{env}", description="The video pipeline tasks: mount their EFS access point",
            assume_role_policy=ECS_TRUST, inline_policies={"tasks": task_policy}, managed_policy_arns=[],
        )),
    ]

