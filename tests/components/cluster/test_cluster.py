"""Cluster component under recording mocks: encryption, logs, endpoint exposure, access, add-ons."""

from __future__ import annotations

import json

import pytest

from components import versions
from components.cluster import Cluster, kubeconfig
from components.config import ConfigError
from components.resolve.cluster import ClusterSpec
from scripts.plan.mocks import ACCOUNT_ID
from tests.support import platform

CLUSTER = "aws:eks/cluster:Cluster"
SUBNETS = ["subnet-aaaa", "subnet-bbbb"]

# dev (us-east-1, public endpoint) named gpu-test, with the settings the tests below check.
OVERRIDES: dict[str, object] = {
    "clusterName": "gpu-test",
    "publicAccessCidrs": ["203.0.113.0/24"],
    "deployer": {
        "principalArn": "arn:aws:iam::111122223333:role/deploy",
        "runnerLabels": ["self-hosted"],
        "egressCidrs": ["203.0.113.0/24"],
    },
    "clusterLogTypes": ["api", "audit", "authenticator"],
    "clusterLogRetentionDays": 90,
    "accessEntries": [],
    "tags": {"owner": "me"},
    "protectStateful": False,
}


def spec(**overrides: object) -> ClusterSpec:
    return platform("dev", **{**OVERRIDES, **overrides}).cluster


PRIVATE: dict[str, object] = {
    "endpointAccess": "private",
    "publicAccessCidrs": None,
    "apiAccess": {"sourceCidrs": ["10.100.0.0/16"], "transitGatewayId": "tgw-0123456789abcdef0"},
    "deployer": {
        "principalArn": "arn:aws:iam::111122223333:role/deploy",
        "egressCidrs": ["10.100.0.0/16"],
    },
}


NO_GPU_ADDONS = {
    "gpuOperator": False,
    "efaDevicePlugin": False,
    "clusterAutoscaler": False,
    "kubeflow": False,
    "triton": False,
    "observability": False,
}
"""Add-ons off for a stack without GPU pools (several need one)."""


def cluster_of(cluster_spec: ClusterSpec):
    return lambda: Cluster("c", cluster_spec, {"subnet_ids": SUBNETS, "vpc_id": "vpc-0abc"})


def test_secrets_are_envelope_encrypted_with_a_rotating_key(run_pulumi):
    recorded = run_pulumi(cluster_of(spec()))
    key = recorded.one("aws:kms/key:Key")
    cluster = recorded.one(CLUSTER)
    assert key.inputs["enableKeyRotation"] is True
    assert key.inputs["deletionWindowInDays"] == 30
    encryption = cluster.inputs["encryptionConfig"]
    assert encryption["resources"] == ["secrets"]
    assert encryption["provider"]["keyArn"] == key.outputs["arn"]
    # The control-plane role may use exactly that key (by its alias), nothing wider.
    policy = json.loads(recorded.one("aws:iam/rolePolicy:RolePolicy").inputs["policy"])
    [statement] = policy["Statement"]
    assert statement["Resource"] == f"arn:aws:kms:us-east-1:{ACCOUNT_ID}:key/*"
    alias = recorded.one("aws:kms/alias:Alias")
    assert alias.inputs["targetKeyId"] == key.outputs["keyId"]
    assert statement["Condition"] == {
        "ForAnyValue:StringEquals": {"kms:ResourceAliases": alias.inputs["name"]}
    }


KEY_ADMIN = {
    "kms:Create*",
    "kms:Describe*",
    "kms:Enable*",
    "kms:List*",
    "kms:Put*",
    "kms:Update*",
    "kms:Revoke*",
    "kms:Disable*",
    "kms:Get*",
    "kms:Delete*",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
    "kms:RotateKeyOnDemand",
}


def test_the_secrets_key_separates_its_administrators_from_the_cluster_role(run_pulumi):
    recorded = run_pulumi(cluster_of(spec()))
    key = recorded.one("aws:kms/key:Key")
    role = next(r for r in recorded.of_type("aws:iam/role:Role") if r.name == "c-control-plane")
    admin, user = json.loads(key.inputs["policy"])["Statement"]
    assert admin["Sid"] == "KeyAdministration"
    assert set(admin["Principal"]["AWS"]) == {
        f"arn:aws:iam::{ACCOUNT_ID}:root",
        "arn:aws:iam::111122223333:role/deploy",  # deployer.principalArn
    }
    assert set(admin["Action"]) == KEY_ADMIN  # keeps kms:PutKeyPolicy (Put*): never locked out
    assert not {"kms:Encrypt", "kms:Decrypt", "kms:*"} & set(admin["Action"])
    # The only user: the cluster role, by the ARN built from its (autonamed) name.
    assert user["Principal"] == {"AWS": [f"arn:aws:iam::{ACCOUNT_ID}:role/{role.outputs['name']}"]}
    assert user["Principal"]["AWS"] == [role.outputs["arn"]]
    assert set(user["Action"]) == {
        "kms:Encrypt",
        "kms:Decrypt",
        "kms:ListGrants",
        "kms:DescribeKey",
    }
    assert not any(a.startswith(("kms:Put", "kms:Create")) for a in user["Action"])
    # KMS checks the principals of a key policy: the key waits for the role.
    assert role.urn in key.dependencies


def test_control_plane_logs_and_their_retention(run_pulumi):
    recorded = run_pulumi(cluster_of(spec(clusterLogRetentionDays=14)))
    cluster = recorded.one(CLUSTER)
    assert cluster.inputs["enabledClusterLogTypes"] == ["api", "audit", "authenticator"]
    group = recorded.one("aws:cloudwatch/logGroup:LogGroup")
    assert group.inputs["name"] == "/aws/eks/gpu-test/cluster"
    assert group.inputs["retentionInDays"] == 14
    assert group.urn in cluster.dependencies  # exists before EKS would create its own


@pytest.mark.parametrize(
    ("overrides", "public", "cidrs"),
    [
        ({"endpointAccess": "public"}, True, ["203.0.113.0/24"]),
        (PRIVATE, False, None),
    ],
)
def test_endpoint_access_per_environment(run_pulumi, overrides, public, cidrs):
    recorded = run_pulumi(cluster_of(spec(**overrides)))
    vpc_config = recorded.one(CLUSTER).inputs["vpcConfig"]
    assert vpc_config["endpointPrivateAccess"] is True
    assert vpc_config["endpointPublicAccess"] is public
    assert vpc_config.get("publicAccessCidrs") == cidrs
    assert vpc_config["subnetIds"] == SUBNETS


def test_access_entries_grant_the_configured_policy_and_scope(run_pulumi):
    entries = [
        {"principalArn": "arn:aws:iam::111122223333:role/admins", "policy": "cluster-admin"},
        {
            "principalArn": "arn:aws:iam::111122223333:role/devs",
            "policy": "edit",
            "namespaces": ["team-a"],
        },
    ]
    recorded = run_pulumi(cluster_of(spec(accessEntries=entries)))
    cluster = recorded.one(CLUSTER)
    assert cluster.inputs["accessConfig"]["authenticationMode"] == "API"
    access = sorted(
        recorded.of_type("aws:eks/accessEntry:AccessEntry"), key=lambda r: r.inputs["principalArn"]
    )
    deployer = "arn:aws:iam::111122223333:role/deploy"
    assert [a.inputs["principalArn"] for a in access] == sorted(
        [e["principalArn"] for e in entries] + [deployer]
    )
    associations = sorted(
        recorded.of_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation"),
        key=lambda r: r.inputs["principalArn"],
    )
    assert [a.inputs["policyArn"] for a in associations] == [
        "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy",
        "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy",  # the deployer
        "arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy",
    ]
    assert associations[0].inputs["accessScope"] == {"type": "cluster"}
    assert associations[1].inputs["accessScope"] == {"type": "cluster"}
    assert associations[2].inputs["accessScope"] == {"type": "namespace", "namespaces": ["team-a"]}


def test_addons_are_pinned_and_vpc_cni_uses_prefix_delegation(run_pulumi):
    recorded = run_pulumi(cluster_of(spec()))
    addons = {a.inputs["addonName"]: a for a in recorded.of_type("aws:eks/addon:Addon")}
    pinned = versions.EKS_ADDONS[versions.KUBERNETES_VERSION]
    # An add-on whose build could not be confirmed upstream is left to EKS's default (None).
    assert {name: a.inputs.get("addonVersion") for name, a in addons.items()} == {
        "vpc-cni": pinned.vpc_cni,
        "coredns": pinned.coredns,
        "kube-proxy": pinned.kube_proxy,
        "eks-pod-identity-agent": pinned.pod_identity_agent,
        "aws-ebs-csi-driver": pinned.ebs_csi_driver,
        "eks-node-monitoring-agent": pinned.node_monitoring_agent,  # dev has GPU pools
    }
    cni = json.loads(addons["vpc-cni"].inputs["configurationValues"])
    assert cni["env"]["ENABLE_PREFIX_DELEGATION"] == "true"
    # Networking before nodes; CoreDNS and the EBS driver after nodes (they run pods).
    node_group = recorded.one("aws:eks/nodeGroup:NodeGroup")
    assert addons["vpc-cni"].urn in node_group.dependencies
    assert node_group.urn in addons["coredns"].dependencies
    assert node_group.urn in addons["aws-ebs-csi-driver"].dependencies
    # Add-on credentials come from Pod Identity roles, not the node role.
    cni_role = addons["vpc-cni"].inputs["podIdentityAssociations"][0]
    assert cni_role["serviceAccount"] == "aws-node"
    trust = json.loads(
        next(r for r in recorded.of_type("aws:iam/role:Role") if r.name == "c-vpc-cni").inputs[
            "assumeRolePolicy"
        ]
    )
    assert trust["Statement"][0]["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    # Only on behalf of this cluster: its account, its associations, its ARN.
    cluster_arn = f"arn:aws:eks:us-east-1:{ACCOUNT_ID}:cluster/gpu-test"
    assert trust["Statement"][0]["Condition"] == {
        "StringEquals": {
            "aws:SourceAccount": ACCOUNT_ID,
            "aws:RequestTag/eks-cluster-arn": cluster_arn,
        },
        "ArnLike": {
            "aws:SourceArn": (
                f"arn:aws:eks:us-east-1:{ACCOUNT_ID}:podidentityassociation/gpu-test/*"
            )
        },
    }
    cluster = recorded.one(CLUSTER)
    assert cluster.outputs["arn"] == cluster_arn


@pytest.mark.parametrize("gpu_pools", [True, False])
def test_the_node_monitoring_agent_runs_exactly_when_there_are_gpu_pools(run_pulumi, gpu_pools):
    cluster_spec = spec() if gpu_pools else spec(gpuPools=[], addons=NO_GPU_ADDONS)
    assert cluster_spec.node_monitoring is gpu_pools
    recorded = run_pulumi(cluster_of(cluster_spec))
    agents = [
        a
        for a in recorded.of_type("aws:eks/addon:Addon")
        if a.inputs["addonName"] == "eks-node-monitoring-agent"
    ]
    assert len(agents) == (1 if gpu_pools else 0)
    if not gpu_pools:
        return
    agent = agents[0]
    pinned = versions.EKS_ADDONS[versions.KUBERNETES_VERSION].node_monitoring_agent
    assert agent.inputs.get("addonVersion") == pinned
    # It runs pods: after the system node group.
    assert recorded.one("aws:eks/nodeGroup:NodeGroup").urn in agent.dependencies
    # Its DCGM host engine must reach the tainted GPU nodes, or no GPU fault is ever seen.
    values = json.loads(agent.inputs["configurationValues"])
    assert {"operator": "Exists"} in values["dcgmAgent"]["tolerations"]
    # It needs no AWS credentials of its own.
    assert not agent.inputs.get("podIdentityAssociations")


def test_system_node_group_is_on_demand_imdsv2_and_tags_reach_instances(run_pulumi):
    system = {"instanceTypes": ["m7i.xlarge"], "minSize": 3, "maxSize": 5}
    recorded = run_pulumi(cluster_of(spec(systemPool=system)))
    node_group = recorded.one("aws:eks/nodeGroup:NodeGroup")
    assert node_group.inputs["amiType"] == "AL2023_x86_64_STANDARD"
    assert node_group.inputs["capacityType"] == "ON_DEMAND"
    assert node_group.inputs["instanceTypes"] == ["m7i.xlarge"]
    assert node_group.inputs["subnetIds"] == SUBNETS
    assert node_group.inputs["scalingConfig"] == {"minSize": 3, "desiredSize": 3, "maxSize": 5}
    template = recorded.one("aws:ec2/launchTemplate:LaunchTemplate")
    assert node_group.inputs["launchTemplate"] == {"id": template.id, "version": "1"}
    assert template.inputs["metadataOptions"]["httpTokens"] == "required"
    assert template.inputs["blockDeviceMappings"][0]["ebs"]["encrypted"] == "true"
    kinds = {ts["resourceType"]: ts["tags"] for ts in template.inputs["tagSpecifications"]}
    assert set(kinds) == {"instance", "volume", "network-interface"}
    assert all(tags["owner"] == "me" for tags in kinds.values())
    # Node role: the two node policies only; the CNI policy lives on the vpc-cni Pod Identity role.
    node_role = next(r for r in recorded.of_type("aws:iam/role:Role") if r.name == "c-node")
    attached = [
        a.inputs["policyArn"].rsplit("/", 1)[1]
        for a in recorded.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if a.inputs["role"] == node_role.outputs["name"]
    ]
    assert sorted(attached) == ["AmazonEC2ContainerRegistryPullOnly", "AmazonEKSWorkerNodePolicy"]


@pytest.mark.parametrize("protect", [True, False])
def test_secrets_key_protection_follows_the_flag(run_pulumi, protect):
    recorded = run_pulumi(cluster_of(spec(protectStateful=protect)))
    key = recorded.one("aws:kms/key:Key")
    assert key.protect is protect
    assert key.retain_on_delete is protect


def test_kubernetes_provider_targets_the_cluster(run_pulumi):
    recorded = run_pulumi(cluster_of(spec()))
    provider = recorded.one("pulumi:providers:kubernetes")
    cluster = recorded.one(CLUSTER)
    config = json.loads(provider.inputs["kubeconfig"])
    assert config["clusters"][0]["cluster"]["server"] == cluster.outputs["endpoint"]
    assert config["users"][0]["user"]["exec"]["args"][3] == "gpu-test"


def test_kubeconfig_uses_aws_eks_get_token():
    config = json.loads(kubeconfig("c1", "https://x", "Q0E=", "eu-west-1"))
    exec_ = config["users"][0]["user"]["exec"]
    assert exec_["command"] == "aws"
    assert exec_["args"][:2] == ["eks", "get-token"]
    assert exec_["args"][exec_["args"].index("--region") + 1] == "eu-west-1"


def test_the_deployer_gets_one_explicit_entry_and_no_implicit_one(run_pulumi):
    recorded = run_pulumi(cluster_of(spec()))
    access_config = recorded.one(CLUSTER).inputs["accessConfig"]
    assert access_config["bootstrapClusterCreatorAdminPermissions"] is False
    entry = recorded.one("aws:eks/accessEntry:AccessEntry", "c-deployer")
    assert entry.inputs["principalArn"] == "arn:aws:iam::111122223333:role/deploy"
    association = recorded.one(
        "aws:eks/accessPolicyAssociation:AccessPolicyAssociation", "c-deployer"
    )
    assert association.inputs["accessScope"] == {"type": "cluster"}
    # The Kubernetes provider authenticates as the deployer: it waits for the association.
    provider = recorded.one("pulumi:providers:kubernetes")
    assert association.urn in provider.dependencies


def test_a_private_api_admits_the_deployer_network_on_443(run_pulumi):
    recorded = run_pulumi(cluster_of(spec(**PRIVATE)))
    group = recorded.one("aws:ec2/securityGroup:SecurityGroup", "c-api")
    assert group.inputs["vpcId"] == "vpc-0abc"
    cluster = recorded.one(CLUSTER)
    assert cluster.inputs["vpcConfig"]["securityGroupIds"] == [group.id]
    (rule,) = recorded.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    assert rule.inputs["securityGroupId"] == group.id
    assert (rule.inputs["cidrIpv4"], rule.inputs["fromPort"], rule.inputs["toPort"]) == (
        "10.100.0.0/16",
        443,
        443,
    )


def test_deletion_protection_is_on_in_prod_and_follows_the_flag():
    assert platform("prod").cluster.deletion_protection is True
    assert platform("dev").cluster.deletion_protection is False
    assert platform("dev", deletionProtection=True).cluster.deletion_protection is True


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (
            {"endpointAccess": "private", "publicAccessCidrs": None, "apiAccess": {}},
            "gpu-platform:apiAccess",
        ),
        (
            {**PRIVATE, "apiAccess": {"sourceCidrs": ["10.100.0.0/16"]}},
            "apiAccess.transitGatewayId",
        ),
        (
            {**PRIVATE, "apiAccess": {**PRIVATE["apiAccess"], "sourceCidrs": ["10.40.1.0/24"]}},  # type: ignore[dict-item]
            "apiAccess.sourceCidrs",
        ),
        ({**PRIVATE, "publicAccessCidrs": ["10.0.0.0/8"]}, "publicAccessCidrs"),
        (
            {"deployer": {"principalArn": "arn:aws:iam::111122223333:role/deploy"}},
            "deployer.runnerLabels",
        ),
        (
            {
                "accessEntries": [
                    {"principalArn": "arn:aws:iam::111122223333:role/deploy", "policy": "admin"}
                ]
            },
            "accessEntries[0].principalArn",
        ),
    ],
    ids=["private-no-way-in", "no-route", "inside-vpc", "public-cidrs", "hosted", "twice"],
)
def test_configs_the_deployer_cannot_use_are_refused_naming_the_key(overrides, key):
    with pytest.raises(ConfigError) as caught:
        spec(**overrides)
    assert any(path.endswith(key) for path, _ in caught.value.problems), caught.value.problems


@pytest.mark.parametrize("ssm", [False, True])
def test_ssm_on_the_node_role_only_when_asked(run_pulumi, ssm):
    recorded = run_pulumi(cluster_of(spec(nodeSsmAccess=ssm)))
    node_policies = sorted(
        a.inputs["policyArn"].rsplit("/", 1)[-1]
        for a in recorded.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if a.name.startswith("c-node-")
    )
    expected = ["AmazonEC2ContainerRegistryPullOnly", "AmazonEKSWorkerNodePolicy"]
    assert node_policies == sorted(expected + (["AmazonSSMManagedInstanceCore"] if ssm else []))


def test_the_control_plane_log_group_takes_the_logs_key_and_prod_protects_the_set(run_pulumi):
    key = "arn:aws:kms:us-east-1:123456789012:key/logs"
    prod = spec(protectStateful=True)
    recorded = run_pulumi(
        lambda: Cluster(
            "c", prod, {"subnet_ids": SUBNETS, "vpc_id": "vpc-0abc", "log_kms_key_arn": key}
        )
    )
    group = recorded.one("aws:cloudwatch/logGroup:LogGroup")
    assert group.inputs["kmsKeyId"] == key
    assert prod.protect is True
    for kept in (group, recorded.one("aws:kms/key:Key"), recorded.one("aws:kms/alias:Alias")):
        assert kept.protect is True and kept.retain_on_delete is True, kept.name
    # The cluster is protected, not retained: a retained cluster would keep running unmanaged.
    cluster = recorded.one(CLUSTER)
    assert cluster.protect is True and cluster.retain_on_delete is False
    assert group.urn in cluster.dependencies
    others = [r.name for r in recorded.registrations if r.protect and r.custom]
    assert sorted(others) == sorted(["c-secrets", "c-secrets", "c-control-plane", "c-eks"])


def test_the_ebs_csi_node_plugin_reads_imds_behind_a_hop_limit_of_one(run_pulumi):
    """With a hop limit of 1 a pod's own network namespace cannot reach IMDS, and the driver's
    Kubernetes fallback assumes one ENI: the node plugin runs on the host network with IMDS as its
    only metadata source, so it counts the node's ENIs and attached volumes."""
    from components.common.launch_template import IMDS_HOP_LIMIT, metadata_options

    assert IMDS_HOP_LIMIT == 1
    assert metadata_options()["http_put_response_hop_limit"] == 1
    recorded = run_pulumi(cluster_of(spec()))
    addon = next(
        a
        for a in recorded.of_type("aws:eks/addon:Addon")
        if a.inputs["addonName"] == "aws-ebs-csi-driver"
    )
    values = json.loads(addon.inputs["configurationValues"])
    assert values == {"node": {"hostNetwork": True, "metadataSources": "imds"}}
    # No limit for every node alike: it would be wrong on all but one instance type.
    assert "volumeAttachLimit" not in values["node"]
    assert "reservedVolumeAttachments" not in values["node"]
