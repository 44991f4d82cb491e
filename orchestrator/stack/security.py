"""Security groups (least privilege), secrets, log groups and IAM roles."""
from __future__ import annotations

import re

from orchestrator.config import EnvConfig
from orchestrator.spec import Join, Node, Ref
from orchestrator.stack.common import spec_factory
from resources.network.flow_log import FlowLog
from resources.security.iam_role import IamRole
from resources.security.kms_key import ACCOUNT, REGION, KmsKey
from resources.security.log_group import LogGroup
from resources.security.secret import ApiKeySecret, GeneratedSecret
from resources.security.secret_policy import SecretPolicy
from resources.network.security_group import SecurityGroup

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
        Node(f"logs.{short}", LogGroup, spec(
            log_group_name(env, service), retention_days=cfg.log_retention_days, kms_key_id=Ref("kms.key", "arn"),
        ))
        for short, service in (("api", "metadata-api"), ("worker", "video-worker"))
    ]


def secret_nodes(env: str, cfg: EnvConfig) -> list[Node]:

    spec = spec_factory(env, cfg)
    return [
        # B-EC-4: 16-128 printable ASCII, and of the specials only ! & # $ ^ < > - are allowed.
        Node("secret.redis_auth", GeneratedSecret, spec(
            f"redis-auth-{env}", description="AUTH token of the Redis replication group",
            json_key="auth_token", length=64, alphabet="alphanumeric", kms_key_id=Ref("kms.key", "arn"),
        )),
        Node("secret.api_key", ApiKeySecret, spec(
            f"api-keys-{env}", description="The API key API Gateway enforces on the video metadata API",
            json_key="api_key", api_key_id=Ref("apigw.api_key"), kms_key_id=Ref("kms.key", "arn"),
        )),
    ]


def ecs_trust(source_arn: bool) -> dict:
    """The trust policy of a role ECS tasks assume, against the confused deputy (docs/configuration.md IAM
    row, FSBP IAM.21 as the spec maps it): only ECS acting for this account. The ECS developer
    guide ("Amazon ECS task IAM role") recommends aws:SourceAccount and aws:SourceArn
    ``arn:aws:ecs:REGION:ACCOUNT:*`` for task roles, where ECS passes the task's ARN; for the task
    execution role the guide shows no aws:SourceArn, so that role carries aws:SourceAccount only,
    which ECS passes for both. ${AWS::…} are filled in by the role's handler (resources/security/iam_role.py)
    as for the KMS key policy."""
    condition = {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    if source_arn:
        condition["ArnLike"] = {"aws:SourceArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:*"}
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole",
                       "Condition": condition}],
    }


ECS_TRUST = ecs_trust(source_arn=False)
ECS_TASK_TRUST = ecs_trust(source_arn=True)


# A private ECR image: ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPOSITORY[:TAG|@DIGEST].
PRIVATE_ECR_IMAGE = re.compile(r"(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/([^:@]+)")


def ecr_pull_statements(images: list[str]) -> list[dict]:
    """What the execution role needs to pull the tasks' images: for private ECR images, a token
    (GetAuthorizationToken takes no resource: AWS requires "*") and the layers of those
    repositories only; for public ones (Amazon ECR Public, Docker Hub), nothing, as Fargate
    pulls them without credentials."""
    repositories = sorted({f"arn:aws:ecr:{m[2]}:{m[1]}:repository/{m[3]}"
                           for m in (PRIVATE_ECR_IMAGE.match(image) for image in images) if m})
    if not repositories:
        return []
    return [
        {"Sid": "EcrAuth", "Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"], "Resource": "*"},
        {"Sid": "EcrPull", "Effect": "Allow",
         "Action": ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
         "Resource": repositories},
    ]


def iam_nodes(env: str, cfg: EnvConfig) -> list[Node]:

    spec = spec_factory(env, cfg)
    log_streams = [Join(Ref(f"logs.{s}", "arn"), ":log-stream:*") for s in ("api", "worker")]
    execution_policy = {
        "Version": "2012-10-17",
        "Statement": [
            *ecr_pull_statements([cfg.api_image, cfg.worker_image]),
            {"Sid": "WriteOwnLogs", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
             "Resource": log_streams},
            {"Sid": "ReadOwnSecrets", "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"],
             "Resource": [Ref("rds.instance", "secret_arn"), Ref("secret.redis_auth", "arn")]},
            # The secrets are encrypted with the environment's key: reading one through Secrets
            # Manager decrypts with it (the key policy delegates to IAM, docs/configuration.md "keys").
            {"Sid": "DecryptOwnSecrets", "Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": Ref("kms.key", "arn"),
             "Condition": {"StringEquals": {"kms:ViaService": Join("secretsmanager.", Ref("logs.api", "region"), ".amazonaws.com")}}},
        ],
    }
    task_policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "MountOwnFileSystem", "Effect": "Allow",
             "Action": ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"],
             "Resource": Ref("efs.file_system", "arn"),
             # An ARN-typed key: the ARN operator (docs/configuration.md IAM row; the EFS policy does the same).
             "Condition": {"ArnEquals": {"elasticfilesystem:AccessPointArn": Ref("efs.access_point", "arn")}}},
        ],
    }
    return [
        Node("iam.execution_role", IamRole, spec(
            f"ecs-task-execution-role-{env}", description="ECS pulls images, writes logs and reads secrets for the tasks",
            assume_role_policy=ECS_TRUST, inline_policies={"execution": execution_policy}, managed_policy_arns=[],
        )),
        Node("iam.task_role", IamRole, spec(
            f"ecs-task-role-{env}", description="The video pipeline tasks: mount their EFS access point",
            assume_role_policy=ECS_TASK_TRUST, inline_policies={"tasks": task_policy}, managed_policy_arns=[],
        )),
    ]



# -- issue 15, VPC / keys / logs (docs/configuration.md) ---------------------------------------------

def kms_alias(env: str) -> str:
    return f"alias/video-pipeline-{env}"


def environment_log_groups(env: str) -> list[str]:
    """ARN patterns of every log group the environment encrypts with its key: the ECS services',
    RDS's exports, the API's access and execution logs (API Gateway names the latter after the
    API's id, unknown before it exists, and the stage, the environment's name), the flow logs and
    the web ACL's logs."""
    from orchestrator.stack.api import api_access_log_group_name, waf_log_group_name
    from orchestrator.stack.data import rds_log_group_name

    names = [log_group_name(env, "*"), rds_log_group_name(env, "*"), api_access_log_group_name(env).rsplit("/", 1)[0] + "/*",
             f"API-Gateway-Execution-Logs_*/{env}", flow_log_group_name(env), waf_log_group_name(env)]
    return [f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}" for name in names]


def key_policy(env: str) -> dict:
    """${AWS::AccountId} and ${AWS::Region} are filled in by the key's handler (resources/security/kms_key.py)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            # The account administers the key and IAM policies grant its use (AWS's default key
            # policy): without it the key could become unmanageable, and KMS refuses such a policy.
            # It is also what lets Secrets Manager use the key for the stack's secrets and RDS's
            # master secret: on behalf of the caller, whose IAM policy grants that use. A second
            # statement for the account narrowed by kms:ViaService would grant nothing more (allows
            # add up) while reading like a limit, so there is none.
            {"Sid": "AccountAdministers", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
             "Action": "kms:*", "Resource": "*"},
            # CloudWatch Logs encrypts this environment's log groups only (CloudWatch Logs user
            # guide, "Encrypt log data using AWS KMS": the aws:logs:arn encryption context; any
            # of the listed patterns admits a group): never another environment's, nor a group
            # someone else makes in the account (docs/aws-behaviours.md D-LOG-1).
            {"Sid": "CloudWatchLogsEncrypts", "Effect": "Allow", "Principal": {"Service": f"logs.{REGION}.amazonaws.com"},
             "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
             "Resource": "*",
             "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": environment_log_groups(env)}}},
        ],
    }


def key_nodes(env: str, cfg: EnvConfig) -> list[Node]:
    spec = spec_factory(env, cfg)
    return [
        # FSBP KMS.4: one customer-managed key per environment, rotated yearly.
        Node("kms.key", KmsKey, spec(
            f"kms-key-{env}", description=f"Log groups and secrets of the {env} video pipeline",
            alias=kms_alias(env), rotation=True, enabled=True, policy=key_policy(env),
            deletion_window_days=cfg.kms_deletion_window_days,
        )),
    ]


def flow_log_group_name(env: str) -> str:
    return f"/vpc/video-pipeline-{env}/flow-logs"


def flow_log_nodes(env: str, cfg: EnvConfig) -> list[Node]:
    spec = spec_factory(env, cfg)
    group_arn = Ref("logs.flow", "arn")
    account, region = Ref("logs.flow", "account_id"), Ref("logs.flow", "region")
    trust = {
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "vpc-flow-logs.amazonaws.com"}, "Action": "sts:AssumeRole",
            # Against the confused deputy: only flow logs of this account (VPC user guide,
            # "IAM role for publishing flow logs to CloudWatch Logs").
            "Condition": {
                "StringEquals": {"aws:SourceAccount": account},
                "ArnLike": {"aws:SourceArn": Join("arn:aws:ec2:", region, ":", account, ":vpc-flow-log/*")},
            },
        }],
    }
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "WriteFlowLogs", "Effect": "Allow",
             "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
             "Resource": [group_arn, Join(group_arn, ":log-stream:*")]},
            {"Sid": "FindFlowLogGroup", "Effect": "Allow", "Action": ["logs:DescribeLogGroups"],
             "Resource": Join("arn:aws:logs:", region, ":", account, ":log-group:*")},
        ],
    }
    return [
        Node("logs.flow", LogGroup, spec(
            flow_log_group_name(env), retention_days=cfg.flow_log_retention_days, kms_key_id=Ref("kms.key", "arn"),
        )),
        Node("iam.flow_logs_role", IamRole, spec(
            f"vpc-flow-logs-role-{env}", description=f"VPC flow logs of {env} write to their log group",
            assume_role_policy=trust, inline_policies={"flow-logs": policy}, managed_policy_arns=[],
        )),
        # FSBP EC2.6: all traffic of the VPC.
        Node("vpc.flow_log", FlowLog, spec(
            f"vpc-flow-log-{env}", vpc_id=Ref("vpc"), traffic_type="ALL", log_group_name=Ref("logs.flow", "name"),
            role_arn=Ref("iam.flow_logs_role", "arn"), max_aggregation_interval=600,
        )),
    ]


# -- issue 15, IAM / secrets / ECS (docs/configuration.md "secrets") ------------------------------------

# An account's root principal (the account itself in a policy); the account may be a placeholder.
ACCOUNT_ROOT = re.compile(r"arn:aws[\w-]*:iam::(.+):root")


def secret_policy(readers: list, admins: list) -> dict:
    """Only ``readers`` (the roles that read the secret) and ``admins`` (who runs the tool: it reads
    the AUTH token to create the replication group and to rotate it, and the API key secret on
    every reconcile and drift to compare it) may GetSecretValue. The Deny names every other
    principal, of this account or any other: an identity policy granting secretsmanager:* to
    someone in the account no longer reaches these values. An account root among ``admins``
    (``arn:aws:iam::ACCOUNT:root``) stands for the account, as in a Principal element: its
    principals are exempt from the Deny and IAM policies decide for them (aws:PrincipalArn is the
    root user's own ARN only, so naming root there would lock the tool out). Everything else
    (DescribeSecret, Put/DeleteResourcePolicy) is left to IAM, so an administrator can never be
    locked out of the policy itself."""
    accounts = [m[1] for m in map(ACCOUNT_ROOT.fullmatch, admins) if m]
    named = [*readers, *(a for a in admins if not ACCOUNT_ROOT.fullmatch(a))]
    statements = []
    if readers:
        statements.append({"Sid": "ReadersRead", "Effect": "Allow", "Principal": {"AWS": readers},
                           "Action": "secretsmanager:GetSecretValue", "Resource": "*"})
    # aws:PrincipalArn is ARN-typed: the ARN operator (docs/configuration.md IAM row). Conditions
    # are ANDed: denied when neither named nor of an admin account.
    condition = {"ArnNotLike": {"aws:PrincipalArn": named}} if named else {}
    if accounts:
        condition["StringNotEquals"] = {"aws:PrincipalAccount": accounts}
    statements.append({
        "Sid": "NobodyElseReads", "Effect": "Deny", "Principal": {"AWS": "*"},
        "Action": "secretsmanager:GetSecretValue", "Resource": "*", "Condition": condition,
    })
    return {"Version": "2012-10-17", "Statement": statements}


def secret_admins(cfg: EnvConfig) -> list:
    """Who administers the secrets: as configured; else the environment's role (every run assumes
    it); else the account. Never the principal that happens to run the tool: a drift run as
    another role would then see both policies drifted."""
    if cfg.secret_admin_principals:
        return list(cfg.secret_admin_principals)
    if cfg.role_arn:
        return [cfg.role_arn]
    return [f"arn:aws:iam::{ACCOUNT}:root"]


def secret_policy_nodes(env: str, cfg: EnvConfig) -> list[Node]:
    spec = spec_factory(env, cfg)
    admins = secret_admins(cfg)
    return [
        # The node's name is the secret's: the lookup after a state loss, and its ownership tags.
        # ECS reads the AUTH token for the tasks with the execution role (REDIS_AUTH_TOKEN).
        Node("secret.redis_auth.policy", SecretPolicy, spec(
            f"redis-auth-{env}", secret_arn=Ref("secret.redis_auth", "arn"),
            policy=secret_policy([Ref("iam.execution_role", "arn")], admins),
        )),
        # No role of the stack reads the API key: its clients get it from an administrator.
        Node("secret.api_key.policy", SecretPolicy, spec(
            f"api-keys-{env}", secret_arn=Ref("secret.api_key", "arn"), policy=secret_policy([], admins),
        )),
    ]
