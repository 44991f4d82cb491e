"""EC2: DescribeSecurityGroupRules reports the description of a rule whose source is a group.

AWS returns every rule's Description whatever its source (EC2 API reference, SecurityGroupRule:
"Description: the security group rule description"). moto 5.2.5 reads it from the CIDR range
only, so a rule authorized with ``UserIdGroupPairs=[{"GroupId": …, "Description": …}]`` comes
back without it and the security group handler would "fix" the description on every run.
ModifySecurityGroupRules in moto stores a new description on the rule's ip_range even for a
group source, so that one is read first.
"""
from __future__ import annotations

from moto.ec2.models.security_groups import SecurityGroupRule


def _description(self) -> str | None:
    return self.ip_range.get("Description") or self.source_group.get("Description")


def apply() -> None:
    SecurityGroupRule.description = property(_description)
    _patch_default_group()
    _patch_nat_delete()


# -- the default security group's rules --------------------------------------------------------
# AWS gives a VPC's default security group an inbound rule allowing all traffic from the group
# itself and an outbound rule allowing all traffic to anywhere (VPC user guide, "Default security
# groups for your VPCs"). moto 5.2.5 creates the outbound rule only, so a tool that revokes the
# default group's rules (FSBP EC2.2) would never meet the inbound one.

def _with_default_group_ingress(create_vpc):
    def create(self, *args, **kwargs):
        vpc = create_vpc(self, *args, **kwargs)
        group = self.get_default_security_group(vpc.id)
        if group is not None and not group.ingress_rules:
            self.authorize_security_group_ingress(
                group.id, "-1", None, None, [], source_groups=[{"GroupId": group.id}], vpc_id=vpc.id
            )
        return vpc

    create._fidelity = True
    return create


def _patch_default_group() -> None:
    from moto.ec2.models.vpcs import VPCBackend

    if not getattr(VPCBackend.create_vpc, "_fidelity", False):
        VPCBackend.create_vpc = _with_default_group_ingress(VPCBackend.create_vpc)


# -- a deleted NAT gateway lets go of its address (docs/aws-behaviours.md A-5) ------------------------------
# AWS: deleting a NAT gateway disassociates its Elastic IP address, which can then be released
# or given to a new NAT gateway (VPC user guide, "Delete a NAT gateway": "the Elastic IP address
# is disassociated but not released"). moto 5.2.5 marks the gateway deleted and keeps the
# address's association, so a NAT gateway made again on the same address (a replacement of the
# subnet it sits in) fails with Resource.AlreadyAssociated, which AWS would not answer.

def _with_address_disassociated(delete):
    def delete_nat_gateway(self, nat_gateway_id: str):
        nat = delete(self, nat_gateway_id)
        for eip in list(self.addresses):
            if eip.eni is not None and eip.eni is getattr(nat, "_eni", None):
                self.disassociate_address(association_id=eip.association_id)
        return nat

    delete_nat_gateway._fidelity = True
    return delete_nat_gateway


def _patch_nat_delete() -> None:
    from moto.ec2.models.nat_gateways import NatGatewayBackend

    if not getattr(NatGatewayBackend.delete_nat_gateway, "_fidelity", False):
        NatGatewayBackend.delete_nat_gateway = _with_address_disassociated(NatGatewayBackend.delete_nat_gateway)
