"""Plausible cloud answers for the offline plan: deterministic ids, ARNs and outputs.

Every value derives from the resource's URN, so two runs of the same stack give the same document.
Only outputs the program reads back are modelled per type; everything else echoes its inputs.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pulumi

ACCOUNT_ID = "123456789012"
"""The documentation account id AWS uses in examples."""

_ID_PREFIX = {
    "aws:ec2/vpc:Vpc": "vpc-",
    "aws:ec2/subnet:Subnet": "subnet-",
    "aws:ec2/internetGateway:InternetGateway": "igw-",
    "aws:ec2/natGateway:NatGateway": "nat-",
    "aws:ec2/eip:Eip": "eipalloc-",
    "aws:ec2/routeTable:RouteTable": "rtb-",
    "aws:ec2/routeTableAssociation:RouteTableAssociation": "rtbassoc-",
    "aws:ec2/securityGroup:SecurityGroup": "sg-",
    "aws:ec2/vpcEndpoint:VpcEndpoint": "vpce-",
    "aws:ec2/launchTemplate:LaunchTemplate": "lt-",
    "aws:ec2/placementGroup:PlacementGroup": "pg-",
    "aws:ec2/flowLog:FlowLog": "fl-",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": "sgr-",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": "sgr-",
    "aws:fsx/lustreFileSystem:LustreFileSystem": "fs-",
    "aws:fsx/dataRepositoryAssociation:DataRepositoryAssociation": "dra-",
}

# Resources whose physical name the provider generates when the program gives none. The engine
# knows an autonamed name during preview (the provider picks it in Check), so it is no computed
# output.
AUTONAME_PROPERTY = {
    "aws:iam/role:Role": "name",
    "aws:iam/policy:Policy": "name",
    "aws:cloudwatch/logGroup:LogGroup": "name",
    "aws:eks/nodeGroup:NodeGroup": "nodeGroupName",
    "aws:ec2/launchTemplate:LaunchTemplate": "name",
    "aws:ec2/securityGroup:SecurityGroup": "name",
    "aws:ec2/placementGroup:PlacementGroup": "name",
    "aws:s3/bucket:Bucket": "bucket",
    "aws:s3/bucketV2:BucketV2": "bucket",
    "aws:budgets/budget:Budget": "name",
}


KNOWN_IN_PREVIEW = frozenset({"tagsAll", "region", "status", "platformVersion"})
"""Outputs the mocks add that a preview knows (or that no input is built from)."""


def _digest(text: str, length: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _service_and_kind(type_token: str) -> tuple[str, str]:
    """`aws:ec2/vpc:Vpc` -> ("ec2", "vpc")."""
    module = type_token.split(":")[1]
    service, _, kind = module.partition("/")
    return service, kind or service


class PlanMocks(pulumi.runtime.Mocks):
    """Mocks that return what AWS would: ids in AWS's formats, ARNs, autonamed physical names."""

    def __init__(self, region: str, account_id: str = ACCOUNT_ID):
        self.region = region
        self.account_id = account_id

    def new_resource(
        self, args: pulumi.runtime.MockResourceArgs
    ) -> tuple[str | None, dict[str, Any]]:
        token = args.typ
        state: dict[str, Any] = dict(args.inputs)
        seed = f"{token}::{args.name}"
        resource_id = _ID_PREFIX.get(token, "") + _digest(seed, 17)

        autoname = AUTONAME_PROPERTY.get(token)
        if autoname and not state.get(autoname):
            state[autoname] = f"{args.name}-{_digest(seed, 7)}"
        if token.startswith("aws:"):
            state.setdefault("arn", self._arn(token, state, resource_id))
            if "tags" in state:
                state["tagsAll"] = dict(state["tags"] or {})
        state.update(self._specific(token, state, seed, resource_id))
        if token.startswith("pulumi:providers:"):
            resource_id = (
                _digest(seed, 8)
                + "-"
                + _digest(seed + "#", 4)
                + "-4000-8000-"
                + _digest(seed + "!", 12)
            )
        return resource_id, state

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
        token = args.token
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": self.account_id,
                "arn": f"arn:aws:iam::{self.account_id}:user/plan",
                "userId": "AIDAPLAN",
                "id": self.account_id,
            }
        if token == "aws:index/getRegion:getRegion":
            return {"name": self.region, "region": self.region, "id": self.region}
        if token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}
        return dict(args.args)

    # ------------------------------------------------------------------ helpers

    def _arn(self, token: str, state: dict[str, Any], resource_id: str) -> str:
        service, kind = _service_and_kind(token)
        name = state.get("name") or state.get("bucket") or resource_id
        if service == "iam":
            return f"arn:aws:iam::{self.account_id}:{kind.lower()}/{name}"
        if service == "s3":
            return f"arn:aws:s3:::{name}"
        return f"arn:aws:{service}:{self.region}:{self.account_id}:{kind.lower()}/{name}"

    def _specific(self, token: str, state: dict[str, Any], seed: str, rid: str) -> dict[str, Any]:
        region, account = self.region, self.account_id
        if token == "aws:eks/cluster:Cluster":
            oidc_id = _digest(seed, 32).upper()
            vpc_config = dict(state.get("vpcConfig") or {})
            vpc_config.setdefault("clusterSecurityGroupId", "sg-" + _digest(seed + "sg", 17))
            vpc_config.setdefault("vpcId", "vpc-" + _digest(seed + "vpc", 17))
            return {
                "arn": f"arn:aws:eks:{region}:{account}:cluster/{state.get('name')}",
                "endpoint": f"https://{oidc_id}.gr7.{region}.eks.amazonaws.com",
                "certificateAuthority": {
                    "data": base64.b64encode(b"offline-plan-certificate").decode()
                },
                "identities": [
                    {"oidcs": [{"issuer": f"https://oidc.eks.{region}.amazonaws.com/id/{oidc_id}"}]}
                ],
                "vpcConfig": vpc_config,
                "status": "ACTIVE",
                "platformVersion": "eks.1",
            }
        if token == "aws:ec2/launchTemplate:LaunchTemplate":
            return {"latestVersion": 1, "defaultVersion": 1}
        if token == "aws:kms/key:Key":
            key_id = "-".join(
                (
                    _digest(seed, 8),
                    _digest(seed + "1", 4),
                    _digest(seed + "2", 4),
                    _digest(seed + "3", 4),
                    _digest(seed + "4", 12),
                )
            )
            return {"keyId": key_id, "arn": f"arn:aws:kms:{region}:{account}:key/{key_id}"}
        if token == "aws:iam/role:Role":
            return {"uniqueId": "AROA" + _digest(seed, 17).upper()}
        if token == "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
            url = str(state.get("url", "")).removeprefix("https://")
            return {"arn": f"arn:aws:iam::{account}:oidc-provider/{url}"}
        if token == "aws:ec2/eip:Eip":
            octet = int(_digest(seed, 2), 16) % 250 + 1
            return {"allocationId": rid, "publicIp": f"198.51.100.{octet}"}
        if token == "aws:cloudwatch/logGroup:LogGroup":
            return {"arn": f"arn:aws:logs:{region}:{account}:log-group:{state.get('name')}"}
        if token == "aws:eks/nodeGroup:NodeGroup":
            asg = f"eks-{state.get('nodeGroupName')}-{_digest(seed, 8)}"
            return {"resources": [{"autoscalingGroups": [{"name": asg}]}], "status": "ACTIVE"}
        if token in ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"):
            bucket = state["bucket"]
            return {"bucketDomainName": f"{bucket}.s3.amazonaws.com", "region": region}
        if token == "aws:fsx/lustreFileSystem:LustreFileSystem":
            return {
                "dnsName": f"{rid}.fsx.{region}.amazonaws.com",
                "mountName": _digest(seed, 8),
                "arn": f"arn:aws:fsx:{region}:{account}:file-system/{rid}",
            }
        if token == "random:index/randomPassword:RandomPassword":
            # A placeholder of the asked length (the real value never leaves the stack state).
            length = int(state.get("length") or 16)
            return {"result": (_digest(seed, 64) * 2)[:length]}
        return {}
