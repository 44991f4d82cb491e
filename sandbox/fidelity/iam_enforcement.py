"""IAM enforcement on the sandbox: a request signed by an IAM user or an assumed role is authorized
against that principal's identity policies as IAM does, and a refusal answers as the service does
on AWS (docs/aws-behaviours.md A-IAM-1 to A-IAM-4).

Interface (the test server, ``python -m sandbox.serve``; ``sandbox/fidelity/control.py``):

- ``POST /fidelity/iam`` with ``{"enforce": true}`` switches enforcement on for that server,
  ``{"enforce": false}`` off; answers ``{"enforce": ...}``. Off by default, and off again at the
  next reset (``POST /fidelity/reset`` or moto's ``POST /moto-api/reset``). In-process:
  ``with enforced(): ...``.
- On, a request signed with the access key of an IAM user (``iam.create_access_key``) or with
  credentials from ``sts.assume_role`` is checked against the policies of that user (inline,
  attached managed, and those of its groups) or of the assumed role (inline, attached). Requests
  signed with credentials IAM does not know (the account's root; the tests' default ``testing``
  key) are allowed everything, as the account root is on AWS. ``sts:GetCallerIdentity`` is never
  refused (AWS: no permission needed).
- Off, moto's own behaviour: its ``INITIAL_NO_AUTH_ACTION_COUNT`` setting decides, as before.

How IAM decides (IAM user guide, "Policy evaluation logic"): a statement applies when its Action
(or NotAction) matches the action, its Resource (or NotResource) the resource, and its Condition
holds (``iam_conditions.py``); an applying Deny refuses, whatever allows; else an applying Allow
admits; else the request is refused (implicit deny). A request that passes a role to a service
(``iam:PassRole``, "Granting a user permissions to pass a role to an AWS service") is also
checked for ``iam:PassRole`` on that role, with ``iam:PassedToService`` naming the service.
Action names and resource ARNs: ``iam_actions.py``. Resource-based policies (key policies, secret
policies, bucket policies), permission boundaries and SCPs are not evaluated.

The refusal, as each service answers it on AWS: EC2 ``UnauthorizedOperation`` (HTTP 403), the
query services (RDS, ElastiCache, ELBv2, IAM, STS, CloudWatch) ``AccessDenied`` (403), the JSON
services (ECS, Logs, KMS, Secrets Manager, WAFv2, tagging, Service Quotas)
``AccessDeniedException`` (400), EFS and API Gateway ``AccessDeniedException`` (403), S3
``AccessDenied`` (403). The message names the principal, the action and the resource: "User: ARN
is not authorized to perform: ACTION on resource: ARN because no identity-based policy allows the
ACTION action" (or "with an explicit deny in an identity-based policy").

moto 5.2.5 (``moto/iam/access_control.py``) authorizes every non-S3 action against ``*``, names
API Gateway's actions ``apigateway:GetRestApi``, denies when a condition of an Allow is not met,
knows almost no condition key, and answers every refusal in IAM's own format.
"""
from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.exceptions import JsonRESTError, _RESTError
from moto.iam.access_control import IAMPolicy, S3IAMRequest

from sandbox.fidelity import clock, iam_conditions
from sandbox.fidelity.iam_actions import NOT_FOUND, Request, action_name, resource_arn, s3_bucket_action
from sandbox.fidelity.patching import patch_once

SWITCH = "iam-enforced"
_PATCHED = "_video_pipeline_fidelity_iam"
JSON_SERVICES = ("ecs", "logs", "kms", "secretsmanager", "wafv2", "tagging", "servicequotas", "events")
REST_JSON_SERVICES = ("apigateway", "elasticfilesystem")
# (signing name, operation or API Gateway path) -> (parameters that pass a role, the service it is passed to).
PASSED_ROLES = {
    ("ecs", "RegisterTaskDefinition"): (("executionRoleArn", "taskRoleArn"), "ecs-tasks.amazonaws.com"),
    ("ecs", "CreateService"): (("role",), "ecs.amazonaws.com"),
    ("rds", "CreateDBInstance"): (("MonitoringRoleArn",), "monitoring.rds.amazonaws.com"),
    ("rds", "ModifyDBInstance"): (("MonitoringRoleArn",), "monitoring.rds.amazonaws.com"),
    ("ec2", "CreateFlowLogs"): (("DeliverLogsPermissionArn",), "vpc-flow-logs.amazonaws.com"),
    ("apigateway", "/account"): (("/cloudwatchRoleArn",), "apigateway.amazonaws.com"),
}


def on() -> bool:
    return clock.switched(SWITCH)


def enforced():
    """IAM enforced for the ``with`` block (in-process)."""
    return clock.switched_on(SWITCH)


class _NotAnIamPrincipal(Exception):
    """Credentials IAM does not know: the account's root, or the sandbox's default key."""


class Denied(Exception):
    def __init__(self, principal: str, action: str, resource: str, explicit: bool):
        why = ("with an explicit deny in an identity-based policy" if explicit
               else f"because no identity-based policy allows the {action} action")
        super().__init__(f"User: {principal} is not authorized to perform: {action} on resource: {resource} {why}")


# -- The answer a refusal gets -------------------------------------------------------------------

class _XmlError(_RESTError):
    code = 403

    def __init__(self, root: str, code: str, message: str):
        super().__init__(code, message)
        from xmltodict import unparse

        error = {"Code": code, "Message": message}
        if root == "Response":  # EC2's shape: Response/Errors/Error, no Type
            self.description = unparse({"Response": {"Errors": {"Error": error}, "RequestID": "iam-enforced"}})
        else:
            self.description = unparse({"ErrorResponse": {"Error": {"Type": "Sender", **error}, "RequestId": "iam-enforced"}})


def _refusal(signing_name: str, message: str) -> Exception:
    if signing_name == "ec2":
        # AWS appends "Encoded authorization failure message: ..." (sts:DecodeAuthorizationMessage);
        # there is no such message to decode here, so the sentence stops at the reason.
        return _XmlError("Response", "UnauthorizedOperation", f"You are not authorized to perform this operation. {message}")
    if signing_name in JSON_SERVICES or signing_name in REST_JSON_SERVICES:
        error = JsonRESTError("AccessDeniedException", message)
        error.code = 403 if signing_name in REST_JSON_SERVICES else 400
        return error
    return _XmlError("ErrorResponse", "AccessDenied", message)


# -- What the request asks -----------------------------------------------------------------------

def _params(response: Any) -> dict[str, Any]:
    """The request's parameters: query ones by their flattened names (first value), merged with
    a JSON body's members."""
    params: dict[str, Any] = {k: v[0] if isinstance(v, list) and v else v
                              for k, v in (getattr(response, "querystring", None) or {}).items()}
    body = getattr(response, "body", None)
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str) and body.lstrip().startswith("{"):
        try:
            params.update(json.loads(body))
        except ValueError:
            pass
    return params


def _request(response: Any, signing_name: str, region: str) -> Request:
    operation = response._get_action()
    if signing_name == "s3":
        operation = response.data.get("Action", operation) if isinstance(response.data, dict) else operation
    return Request(signing_name, operation, _params(response), unquote(response.path or "/"), region,
                   response.current_account, response.method)


def _passed_roles(request: Request) -> tuple[list[str], str]:
    """The roles the request passes to a service, and that service."""
    key = request.path if request.signing_name == "apigateway" else request.operation
    names, service = PASSED_ROLES.get((request.signing_name, key), ((), ""))
    if request.signing_name == "apigateway":  # UpdateAccount: a patch operation on /cloudwatchRoleArn
        patches = request.params.get("patchOperations") or []
        return [str(p["value"]) for p in patches if p.get("path") in names and p.get("value")], service
    return [str(request.params[name]) for name in names if request.params.get(name)], service


# -- The decision --------------------------------------------------------------------------------

def _matches(patterns: Any, value: str, ignore_case: bool) -> bool:
    for pattern in patterns if isinstance(patterns, list) else [patterns]:
        if ignore_case and iam_conditions._like(pattern.lower(), value.lower()):
            return True
        if not ignore_case and iam_conditions._like(pattern, value):
            return True
    return False


def _applies(statement: dict, action: str, resource: str, context: iam_conditions.Context) -> bool:
    # Action names are case-insensitive in IAM; resource ARNs are not.
    if "NotAction" in statement and _matches(statement["NotAction"], action, True):
        return False
    if "Action" in statement and not _matches(statement["Action"], action, True):
        return False
    if "NotResource" in statement and _matches(statement["NotResource"], resource, False):
        return False
    if "Resource" in statement and not _matches(statement["Resource"], resource, False):
        return False
    return iam_conditions.met(statement.get("Condition"), context)


def decide(documents: list[dict], action: str, resource: str, context: iam_conditions.Context) -> str:
    """"deny" (explicit), "allow", or "implicit" (no statement allows)."""
    allowed = False
    for document in documents:
        statements = document.get("Statement", [])
        for statement in statements if isinstance(statements, list) else [statements]:
            if _applies(statement, action, resource, context):
                if statement.get("Effect") == "Deny":
                    return "deny"
                allowed = True
    return "allow" if allowed else "implicit"


def _context(request: Request, principal: str, resource: str) -> iam_conditions.Context:
    context: iam_conditions.Context = {
        "aws:requestedregion": [request.region],
        "aws:principalarn": [principal],
        "aws:principalaccount": [request.account],
    }
    for key, value in iam_conditions.resource_tags(resource, request.account, request.region).items():
        context[f"aws:resourcetag/{key.lower()}"] = [value]
    sent = iam_conditions.request_tags(request.params)
    for key, value in sent.items():
        context[f"aws:requesttag/{key.lower()}"] = [value]
    if sent:
        context["aws:tagkeys"] = list(sent)
    for key, parameter in iam_conditions.PARAMETER_KEYS.items():
        if request.get(parameter):
            context[key] = [request.get(parameter)]
    return context


def _check(documents: list[dict], principal: str, action: str, resource: str, context: iam_conditions.Context) -> None:
    verdict = decide(documents, action, resource, context)
    if verdict != "allow":
        raise Denied(principal, action, resource, explicit=verdict == "deny")


def authorize(response: Any, moto_request: Any, s3_resource: str) -> None:
    """Raise the service's refusal unless the principal's policies allow the request."""
    signing_name = moto_request._service
    request = _request(response, signing_name, moto_request._region)
    action = action_name(signing_name, request.operation, request.method)
    if signing_name == "s3" and "/" not in s3_resource.split(":::", 1)[-1]:
        action = s3_bucket_action(request.method, request.params) or action
    if action == "sts:GetCallerIdentity":
        return
    resource = s3_resource if signing_name == "s3" else resource_arn(request)
    if resource == NOT_FOUND:
        return  # the service answers that the target does not exist
    principal = moto_request._access_key.arn
    documents = [IAMPolicy(policy)._policy_json for policy in moto_request._access_key.collect_policies()]
    try:
        _check(documents, principal, action, resource, _context(request, principal, resource))
        roles, service = _passed_roles(request)
        for role in roles:
            context = {**_context(request, principal, role), "iam:passedtoservice": [service]}
            _check(documents, principal, "iam:PassRole", role, context)
    except Denied as denied:
        if signing_name == "s3":
            moto_request._raise_access_denied()
        raise _refusal(signing_name, str(denied)) from None


# -- The hook into moto ----------------------------------------------------------------------------

def _enforcing(original):
    def _authenticate_and_authorize_action(self, iam_request_cls: type, resource: str = "*") -> None:
        if not on():
            return original(self, iam_request_cls, resource)
        if "Authorization" not in self.headers:
            # Unsigned: no principal to hold to a policy (moto's own check would fail on the
            # missing header); the SDKs always sign, so only a hand-made request gets here.
            return None
        try:
            moto_request = _known_principal(iam_request_cls)(
                account_id=self.current_account, method=self.method, path=_signed_path(self),
                data=_signed_data(self, iam_request_cls), body=self.raw_body, headers=self.headers, action=self._get_action())
        except _NotAnIamPrincipal:
            return None  # the account's root: allowed everything
        moto_request.check_signature()
        authorize(self, moto_request, resource)
        return None

    return _authenticate_and_authorize_action


def _signed_path(response: Any) -> str:
    # As moto builds it: the raw path and the query string, which the signature covers.
    from urllib.parse import urlparse

    query = urlparse(response.uri).query
    return response.raw_path + ("?" + query if query else "")


def _signed_data(response: Any, iam_request_cls: type) -> Any:
    # moto signs ``body or data`` again to compare. A query request's form is in ``data`` (its
    # raw body already read); but for a REST request without a body (API Gateway's and EFS's
    # GETs and DELETEs) ``data`` holds the headers, which would make every signature wrong. S3
    # hashes no body (its payload hash is a header) and reads the bucket from ``data``.
    bodiless = response.method in ("GET", "HEAD", "DELETE") and not response.raw_body
    if bodiless and not issubclass(iam_request_cls, S3IAMRequest):
        return {}
    return response.data


_CLASSES: dict[type, type] = {}


def _known_principal(iam_request_cls: type) -> type:
    """moto's request class, but credentials IAM does not know are the root's, not an error."""
    if iam_request_cls not in _CLASSES:
        def _raise_invalid_access_key(self, reason: str) -> None:
            if reason == "InvalidId":
                raise _NotAnIamPrincipal()
            iam_request_cls._raise_invalid_access_key(self, reason)

        _CLASSES[iam_request_cls] = type(f"Enforced{iam_request_cls.__name__}", (iam_request_cls,),
                                         {"_raise_invalid_access_key": _raise_invalid_access_key})
    return _CLASSES[iam_request_cls]


def apply() -> None:
    patch_once(ActionAuthenticatorMixin, "_authenticate_and_authorize_action", _enforcing, _PATCHED)
