"""The video metadata REST API: private integration through a VPC link to the internal NLB."""
from __future__ import annotations

from orchestrator.config import EnvConfig
from orchestrator.spec import Join, Node, Ref
from orchestrator.stack.common import spec_factory
from resources.api.apigateway import ApiKey, RestApi, Stage, UsagePlan, VpcLink
from resources.shared.apigateway_account import PUSH_TO_CLOUDWATCH_POLICY, ROLE_PREFIX, ApiGatewayCloudWatchRole
from resources.api.logs import ApiExecutionLogGroup
from resources.security.log_group import LogGroup
from resources.api.waf import LOG_GROUP_PREFIX, SCOPE, WebAcl, WebAclAssociation, WebAclLogging

# The access log line, one JSON object per request (API Gateway developer guide, "CloudWatch log
# formats for API Gateway": the JSON example, with the API key id and the WAF verdict added).
ACCESS_LOG_FORMAT = (
    '{"requestId":"$context.requestId","extendedRequestId":"$context.extendedRequestId",'
    '"ip":"$context.identity.sourceIp","userAgent":"$context.identity.userAgent",'
    '"requestTime":"$context.requestTime","httpMethod":"$context.httpMethod",'
    '"resourcePath":"$context.resourcePath","path":"$context.path","status":"$context.status",'
    '"protocol":"$context.protocol","responseLength":"$context.responseLength",'
    '"responseLatency":"$context.responseLatency","integrationLatency":"$context.integrationLatency",'
    '"apiKeyId":"$context.identity.apiKeyId","wafResponseCode":"$context.wafResponseCode"}'
)
# FSBP APIGateway.4: the AWS managed groups docs/configuration.md names (baseline OWASP-style rules, and
# request patterns known to be malicious such as Log4j's JNDI lookups).
WAF_MANAGED_RULE_GROUPS = ["AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"]


def api_access_log_group_name(env: str) -> str:
    return f"/aws/apigateway/video-metadata-api-{env}/access"


def waf_log_group_name(env: str) -> str:
    # WAF logs only to a group of this prefix (resources/api/waf.py).
    return f"{LOG_GROUP_PREFIX}video-metadata-api-{env}"


def _method(path: str, verb: str, port: int, with_id: bool) -> dict:
    method = {
        "authorization_type": "NONE",
        "api_key_required": True,
        "request_parameters": {"method.request.path.id": True} if with_id else {},
        "integration": {
            "type": "HTTP_PROXY",
            "http_method": verb,
            "uri": Join("http://", Ref("elb.nlb", "dns_name"), f":{port}{path}"),
            "connection_type": "VPC_LINK",
            "connection_id": Ref("apigw.vpc_link"),
            "request_parameters": {"integration.request.path.id": "method.request.path.id"} if with_id else {},
        },
    }
    return method


def api_nodes(env: str, cfg: EnvConfig) -> list[Node]:

    spec = spec_factory(env, cfg)
    port = cfg.api_port
    routes = {
        "/videos": {"GET": _method("/videos", "GET", port, False), "POST": _method("/videos", "POST", port, False)},
        "/videos/{id}": {"GET": _method("/videos/{id}", "GET", port, True)},
    }
    return [
        Node("apigw.vpc_link", VpcLink, spec(
            f"vpc-link-{env}", description=f"API Gateway to the internal NLB of {env}", target_arns=[Ref("elb.nlb", "arn")],
        )),
        Node("apigw.rest_api", RestApi, spec(
            f"video-metadata-api-{env}", description="Video metadata API of the StreamTech video pipeline",
            endpoint_type="REGIONAL", api_key_source="HEADER", routes=routes,
        )),
        Node("apigw.stage", Stage, spec(
            f"api-stage-{env}", rest_api_id=Ref("apigw.rest_api"), stage_name=env,
            rest_api_name=f"video-metadata-api-{env}",  # for teardown without state
            # A new deployment whenever the routes the REST API serves change.
            deployed_config=Ref("apigw.rest_api", "config_hash"),
            # docs/configuration.md API Gateway row: FSBP APIGateway.1 (execution logging, metrics),
            # .3 (X-Ray), access logs to the encrypted log group.
            log_level=cfg.api_log_level, metrics_enabled=cfg.api_detailed_metrics, data_trace=False,
            tracing_enabled=cfg.api_tracing,
            access_log_destination=Ref("logs.api_access", "arn"), access_log_format=ACCESS_LOG_FORMAT,
        ),
            # UpdateStage refuses logging until the account names a CloudWatch role (C-APIGW-1);
            # the execution log group must exist before API Gateway makes its own, unencrypted.
            after=("iam.apigw_cloudwatch_role", "logs.api_execution")),
        Node("apigw.api_key", ApiKey, spec(f"api-key-{env}", description=f"Clients of the {env} video metadata API", enabled=True)),
        Node("apigw.usage_plan", UsagePlan, spec(
            f"usage-plan-{env}", description=f"Throttling for the {env} video metadata API",
            throttle={"rateLimit": cfg.api_throttle_rate, "burstLimit": cfg.api_throttle_burst},
            api_stages=[{"apiId": Ref("apigw.rest_api"), "stage": Ref("apigw.stage", "stage_name")}],
            # The key, and during a rotation its companions (resources/api/keys.py).
            api_key_ids=Ref("apigw.api_key", "ids"),
        )),
        *api_security_nodes(env, cfg),
    ]


def api_security_nodes(env: str, cfg: EnvConfig) -> list[Node]:
    """issue 15, the API Gateway row of docs/configuration.md: the log groups, the account's
    CloudWatch role, the WAF web ACL and its association with the stage."""
    spec = spec_factory(env, cfg)
    account = Ref("logs.api_access", "account_id")
    trust = {
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"}, "Action": "sts:AssumeRole",
            # Against the confused deputy (IAM.21 as docs/configuration.md applies it): this account's APIs only.
            "Condition": {"StringEquals": {"aws:SourceAccount": account}},
        }],
    }
    return [
        Node("logs.api_access", LogGroup, spec(
            api_access_log_group_name(env), retention_days=cfg.api_log_retention_days, kms_key_id=Ref("kms.key", "arn"),
        )),
        Node("logs.api_execution", ApiExecutionLogGroup, spec(
            f"api-execution-logs-{env}", retention_days=cfg.api_log_retention_days, kms_key_id=Ref("kms.key", "arn"),
            rest_api_id=Ref("apigw.rest_api"), stage_name=env, rest_api_name=f"video-metadata-api-{env}",
        )),
        # C-APIGW-1: set on the account only if unset or already ours (resources/shared/apigateway_account.py).
        Node("iam.apigw_cloudwatch_role", ApiGatewayCloudWatchRole, spec(
            f"{ROLE_PREFIX}{env}", description="API Gateway writes execution and access logs to CloudWatch Logs",
            assume_role_policy=trust, inline_policies={}, managed_policy_arns=[PUSH_TO_CLOUDWATCH_POLICY],
            account_role_set=True,
        )),
    ] + (waf_nodes(env, cfg) if cfg.api_waf else [])


def waf_nodes(env: str, cfg: EnvConfig) -> list[Node]:
    """FSBP APIGateway.4: a web ACL on the stage (api_waf); FSBP WAF.11: its logging."""
    spec = spec_factory(env, cfg)
    return [
        Node("waf.web_acl", WebAcl, spec(
            f"video-metadata-api-waf-{env}", scope=SCOPE, managed_rule_groups=WAF_MANAGED_RULE_GROUPS,
            rate_limit=cfg.api_waf_rate_limit, description=f"Guards the {env} video metadata API",
        )),
        # Not taggable: no tags of its own (resources/api/waf.py).
        Node("waf.association", WebAclAssociation, {
            "name": f"video-metadata-api-waf-{env}-stage", "tags": {},
            "web_acl_arn": Ref("waf.web_acl", "arn"), "resource_arn": Ref("apigw.stage", "arn"),
            "web_acl_name": f"video-metadata-api-waf-{env}", "rest_api_name": f"video-metadata-api-{env}", "stage_name": env,
        }),
        # FSBP WAF.11: the web ACL's traffic logs, encrypted and retained like the API's.
        Node("logs.waf", LogGroup, spec(
            waf_log_group_name(env), retention_days=cfg.api_log_retention_days, kms_key_id=Ref("kms.key", "arn"),
        )),
        # Not taggable either: ours through the web ACL it names (resources/api/waf.py).
        Node("waf.logging", WebAclLogging, {
            "name": f"video-metadata-api-waf-{env}-logging", "tags": {},
            "web_acl_arn": Ref("waf.web_acl", "arn"), "log_destination": Ref("logs.waf", "arn"),
            "web_acl_name": f"video-metadata-api-waf-{env}",
        }),
    ]
