"""WAFv2, as AWS documents it where moto 5.2.5 differs (the web ACL on the REST API's stage).

1. DeleteWebACL refuses a web ACL that is still associated with a resource:
   WAFAssociatedItemException (WAF API reference, DeleteWebACL: "Before deleting any web ACL,
   first disassociate it from all resources"). moto deletes it and leaves the stage pointing at
   a web ACL that no longer exists. An association whose API Gateway stage is gone does not
   count: deleting a stage removes its association.
2. AssociateWebACL on a resource that already has a web ACL replaces it: a resource has one web
   ACL (API reference, AssociateWebACL; GetWebACLForResource answers one). moto appends the
   resource to the new web ACL and leaves it on the old one too, so GetWebACLForResource keeps
   answering the old one.
3. AssociateWebACL right after the web ACL was created answers **WAFUnavailableEntityException**
   for a while (docs/aws-behaviours.md D-WAF-1; API reference AssociateWebACL, "Temporary
   inconsistencies during updates": "After you create a web ACL, if you try to associate it with
   a resource, you might get an exception indicating that the web ACL is unavailable", for "a few
   seconds to a number of minutes"; hashicorp/terraform-provider-aws #17527, #29080). moto 5.2.5
   associates at once. Off by default, also with a controlled clock:
   ``clock.switch(NEW_ENTITY_LAG, True)`` turns it on. Then a web ACL created at the layer's "now"
   cannot be associated until ``clock.duration("wafv2.new_entity")`` has gone by on the layer's
   clock. A stage just created can be refused the same way: not modelled (the handler's retry is
   the same for both).
4. PutLoggingConfiguration to a CloudWatch Logs log group whose name does not start with
   ``aws-waf-logs-`` is refused: WAFInvalidParameterException "The ARN isn't valid ..., field:
   LOG_DESTINATION" (docs/aws-behaviours.md B-WAF-1; WAF developer guide, "Sending web ACL
   traffic logs to an Amazon CloudWatch Logs log group", naming requirements). moto stores any
   destination.
"""
from __future__ import annotations

from moto.wafv2 import exceptions, models

from sandbox.fidelity import clock
from sandbox.fidelity.patching import patch_once

_PATCHED = "_video_pipeline_fidelity"
_PATCHED_NEW = "_video_pipeline_fidelity_new_entity"
NEW_ENTITY_LAG = "waf-new-entity-lag"


class WAFAssociatedItemException(exceptions.WAFv2ClientError):
    def __init__(self) -> None:
        super().__init__(
            "WAFAssociatedItemException",
            "AWS WAF couldn’t perform the operation because your resource is being used by another resource or it’s associated with another resource.",
        )


class WAFUnavailableEntityException(exceptions.WAFv2ClientError):
    def __init__(self) -> None:
        # AWS's own words (WAF API reference, WAFUnavailableEntityException).
        super().__init__(
            "WAFUnavailableEntityException",
            "WAF couldn’t retrieve a resource that you specified for this operation. If you’ve just created a resource "
            "that you’re using in this operation, you might just need to wait a few minutes. It can take from a few "
            "seconds to a number of minutes for changes to propagate. Verify the resource specifications in your "
            "request parameters and then retry the operation.",
        )


class WAFInvalidParameterException(exceptions.WAFv2ClientError):
    def __init__(self, field: str, parameter: str) -> None:
        # AWS's words for a log destination it cannot use (as CloudFormation and Terraform relay them).
        super().__init__(
            "WAFInvalidParameterException",
            "Error reason: The ARN isn't valid. A valid ARN begins with arn: and includes other information "
            f"separated by colons or slashes., field: {field}, parameter: {parameter}",
        )


WAF_LOG_PREFIX = "aws-waf-logs-"


def _refusing_unprefixed_log_groups(original):
    def put_logging_configuration(self, arn, log_destination_configs, *args, **kwargs):
        for destination in log_destination_configs or []:
            if ":logs:" in destination and not destination.split(":log-group:", 1)[-1].startswith(WAF_LOG_PREFIX):
                raise WAFInvalidParameterException("LOG_DESTINATION", destination)
        return original(self, arn, log_destination_configs, *args, **kwargs)

    return put_logging_configuration


def new_entity_lag() -> bool:
    return clock.controlled() and clock.switched(NEW_ENTITY_LAG)


def _noting_creation(original):
    def create_web_acl(self, *args, **kwargs):
        acl = original(self, *args, **kwargs)
        if new_entity_lag():
            acl._fidelity_created = clock.now()
        return acl

    return create_web_acl


def _refusing_a_new_web_acl(original):
    def associate_web_acl(self, web_acl_arn: str, resource_arn: str):
        created = getattr(self.wacls.get(web_acl_arn), "_fidelity_created", None)
        if new_entity_lag() and created is not None and clock.elapsed(created) < clock.duration("wafv2.new_entity"):
            raise WAFUnavailableEntityException()
        return original(self, web_acl_arn, resource_arn)

    return associate_web_acl


def _live(backend, resource_arn: str) -> bool:
    if models.re.search(models.APIGATEWAY_REGEX, resource_arn):
        return backend._find_apigw_stage(resource_arn) is not None
    return True


def apply() -> None:
    _apply_association_rules()
    # After 1. and 2.: a refused association changes nothing.
    patch_once(models.WAFV2Backend, "create_web_acl", _noting_creation, _PATCHED_NEW)
    patch_once(models.WAFV2Backend, "associate_web_acl", _refusing_a_new_web_acl, _PATCHED_NEW)
    patch_once(models.WAFV2Backend, "put_logging_configuration", _refusing_unprefixed_log_groups, _PATCHED)


def _apply_association_rules() -> None:
    backend = models.WAFV2Backend
    if getattr(backend.delete_web_acl, _PATCHED, False):
        return
    delete_web_acl, associate_web_acl = backend.delete_web_acl, backend.associate_web_acl

    def delete_refusing_associated(self, name, scope, _id, lock_token):
        arn = models.make_arn_for_wacl(name=name, account_id=self.account_id, region_name=self.region_name, _id=_id, scope=scope)
        acl = self.wacls.get(arn)
        if acl is not None and acl.lock_token == lock_token and any(_live(self, r) for r in acl.associated_resources):
            raise WAFAssociatedItemException()
        return delete_web_acl(self, name, scope, _id, lock_token)

    def associate_replacing(self, web_acl_arn, resource_arn):
        if web_acl_arn in self.wacls:
            for acl in self.wacls.values():
                if acl.arn != web_acl_arn and resource_arn in acl.associated_resources:
                    acl.associated_resources.remove(resource_arn)
        return associate_web_acl(self, web_acl_arn, resource_arn)

    setattr(delete_refusing_associated, _PATCHED, True)
    backend.delete_web_acl = delete_refusing_associated
    backend.associate_web_acl = associate_replacing
