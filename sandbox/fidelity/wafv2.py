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
"""
from __future__ import annotations

from moto.wafv2 import exceptions, models

_PATCHED = "_video_pipeline_fidelity"


class WAFAssociatedItemException(exceptions.WAFv2ClientError):
    def __init__(self) -> None:
        super().__init__(
            "WAFAssociatedItemException",
            "AWS WAF couldn’t perform the operation because your resource is being used by another resource or it’s associated with another resource.",
        )


def _live(backend, resource_arn: str) -> bool:
    if models.re.search(models.APIGATEWAY_REGEX, resource_arn):
        return backend._find_apigw_stage(resource_arn) is not None
    return True


def apply() -> None:
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
