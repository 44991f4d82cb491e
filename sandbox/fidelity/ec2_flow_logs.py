"""EC2 CreateFlowLogs honours its ClientToken (docs/aws-behaviours.md B-EC2-2).

AWS (EC2 idempotency): a request repeated with the same client token and the same parameters
succeeds and makes nothing new: the answer names the flow logs the first request made; the same
token with other parameters answers IdempotentParameterMismatch. CreateFlowLogs answers its
ClientToken. moto 5.2.5 ignores the token: a repeat makes a second flow log, or, for the same
resource and log group, answers FlowLogAlreadyExists, which is what a create whose first answer
was lost would meet when botocore sends it again.

Compared: every parameter of the request but the token itself (the tags included). Remembered
per account and region for the life of the backend. AWS does not say what a token answers once
its flow log is deleted; here, a token whose flow logs are all gone is forgotten and the request
makes new ones.
"""
from __future__ import annotations

from moto.core.responses import ActionResult
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.responses.flow_logs import FlowLogs

from sandbox.fidelity.patching import patch_once

_PATCHED = "_video_pipeline_fidelity_flow_logs"


class IdempotentParameterMismatch(EC2ClientError):
    def __init__(self, token: str) -> None:
        super().__init__("IdempotentParameterMismatch",
                         f"The client token {token} was already used with different parameters.")


def _tokens(backend) -> dict[str, tuple[dict, list[str]]]:
    """The backend's tokens: token -> (the request's parameters, the flow log ids it made)."""
    if not hasattr(backend, "_fidelity_flow_log_tokens"):
        backend._fidelity_flow_log_tokens = {}
    return backend._fidelity_flow_log_tokens


def _honouring_the_token(original):
    def create_flow_logs(self: FlowLogs) -> ActionResult:
        token = self._get_param("ClientToken")
        if not token:
            return original(self)
        params = {k: v for k, v in self.querystring.items() if k != "ClientToken"}
        tokens = _tokens(self.ec2_backend)
        seen = tokens.get(token)
        if seen is not None and any(i in self.ec2_backend.flow_logs for i in seen[1]):
            if seen[0] != params:
                raise IdempotentParameterMismatch(token)
            return ActionResult({"FlowLogIds": list(seen[1]), "Unsuccessful": [], "ClientToken": token})
        answer = original(self)
        made = list(answer.result.get("FlowLogIds") or [])
        if made:
            tokens[token] = (params, made)
        answer.result["ClientToken"] = token
        return answer

    return create_flow_logs


def apply() -> None:
    patch_once(FlowLogs, "create_flow_logs", _honouring_the_token, _PATCHED)
