"""Tests for the typed stack config (components.config).

Config arrives the way the Pulumi engine hands it to the program: a flat map of
`gpu-platform:<key>` (plus `aws:region`) to strings, objects and lists JSON-encoded. Every bad
input must come back as a `ConfigError` naming the exact key path and the bad value or rule.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from components import versions
from components.config import (
    AccessPolicy,
    CapacityType,
    ConfigError,
    EndpointAccess,
    Environment,
    GpuAmiType,
    InterfaceEndpoint,
    LogType,
    NatGateways,
    PoolPurpose,
    StackConfig,
    StorageClass,
    load_stack_config,
)

ROOT = Path(__file__).resolve().parents[3]
STACK_FILES = sorted((ROOT / "stacks").glob("Pulumi.*.yaml"))
NS = "gpu-platform:"
REGION = "aws:region"
RESERVATION = "cr-0123456789abcdef0"

_DELETE = object()
"""Override value that removes the key from the raw map."""


# --------------------------------------------------------------------------- helpers


def encode(value: Any) -> str:
    """A config value as the engine passes it: strings as-is, everything else JSON-encoded."""
    return value if isinstance(value, str) else json.dumps(value)


def minimal_config(**overrides: Any) -> dict[str, Any]:
    """A minimal valid dev-like config, decoded. Keys are short names (`gpuPools`) or `aws:region`.

    An override of `_DELETE` removes the key.
    """
    config: dict[str, Any] = {
        REGION: "us-east-1",
        f"{NS}environment": "dev",
        f"{NS}availabilityZones": ["us-east-1a", "us-east-1b"],
        f"{NS}monthlyBudgetUsd": 3000,
        f"{NS}deployer": {"principalArn": DEPLOYER},
    }
    for key, value in overrides.items():
        full = key if ":" in key else NS + key
        if value is _DELETE:
            config.pop(full, None)
        else:
            config[full] = value
    return config


DEPLOYER = "arn:aws:iam::123456789012:role/gpu-platform-deploy"


def raw_config(**overrides: Any) -> dict[str, str]:
    """`minimal_config(**overrides)` encoded as the engine passes it."""
    return {key: encode(value) for key, value in minimal_config(**overrides).items()}


def pool(**fields: Any) -> dict[str, Any]:
    """A valid GPU pool (one T4 type, max 4) with fields overridden; `_DELETE` removes a field."""
    result: dict[str, Any] = {"name": "t4", "instanceTypes": ["g4dn.xlarge"], "maxSize": 4}
    for key, value in fields.items():
        if value is _DELETE:
            result.pop(key, None)
        else:
            result[key] = value
    return result


def stack_file_raw(path: Path) -> dict[str, str]:
    """A shipped stack file's `config:` block as the engine passes it."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))["config"]
    return {str(key): encode(value) for key, value in data.items()}


def problems_of(raw: dict[str, str]) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as caught:
        load_stack_config(raw)
    return caught.value.problems


# --------------------------------------------------------------------------- valid input


def test_minimal_config_loads_with_documented_defaults() -> None:
    config = load_stack_config(raw_config())

    assert isinstance(config, StackConfig)
    assert config.environment is Environment.DEV
    assert config.region == "us-east-1"
    assert config.availability_zones == ["us-east-1a", "us-east-1b"]
    assert config.monthly_budget_usd == 3000
    # Network.
    assert config.vpc_cidr == "10.0.0.0/16"
    assert config.nat_gateways is NatGateways.SINGLE
    assert config.interface_endpoints == [
        InterfaceEndpoint.ECR_API,
        InterfaceEndpoint.ECR_DKR,
        InterfaceEndpoint.STS,
    ]
    assert config.flow_logs.enabled is False
    assert config.flow_logs.retention_days == 90
    assert config.flow_logs.traffic_type == "ALL"
    # Cluster.
    assert config.cluster_name is None
    assert config.kubernetes_version == versions.KUBERNETES_VERSION
    assert config.endpoint_access is EndpointAccess.PUBLIC
    assert config.public_access_cidrs == ["0.0.0.0/0"]
    assert config.cluster_log_types == [LogType.API, LogType.AUDIT, LogType.AUTHENTICATOR]
    assert config.cluster_log_retention_days == 90
    assert config.access_entries == []
    # System pool.
    assert config.system_pool.instance_types == ["m7i.xlarge"]
    assert config.system_pool.min_size == 2
    assert config.system_pool.desired_size is None
    assert config.system_pool.max_size == 4
    assert config.system_pool.disk_size_gib == 50
    # Pools, storage, add-ons, tags.
    assert config.gpu_pools == []
    assert config.storage.fsx.enabled is False
    assert config.storage.fsx.storage_capacity_gib == 1200
    assert config.storage.fsx.per_unit_storage_throughput == 125
    assert config.storage.fsx.automatic_backup_retention_days == 0
    for bucket in (config.storage.datasets, config.storage.checkpoints, config.storage.models):
        assert bucket.expected_size_gib == 0
        assert bucket.transitions == []
        assert bucket.noncurrent_expiration_days is None
    addons = config.addons
    assert (addons.gpu_operator, addons.efa_device_plugin, addons.cluster_autoscaler) == (
        True,
        True,
        True,
    )
    assert (addons.observability, addons.kubeflow, addons.triton) == (True, False, False)
    assert config.tags == {}
    assert config.protect_stateful is None
    assert config.protect is False


def test_gpu_pool_defaults() -> None:
    config = load_stack_config(
        raw_config(
            gpuPools=[
                pool(),
                {"name": "spot", "gpuNeed": {"gpuModel": "T4"}, "maxSize": 2},
            ]
        )
    )
    explicit, derived = config.gpu_pools
    assert explicit.purpose is PoolPurpose.BATCH
    assert explicit.capacity_type is CapacityType.ON_DEMAND
    assert explicit.capacity_reservation_id is None
    assert explicit.placement_group_name is None
    assert explicit.min_size == 0
    assert explicit.desired_size is None
    assert explicit.resolved_desired_size == 0
    assert explicit.efa is False
    assert explicit.availability_zones is None
    assert explicit.ami_type is GpuAmiType.AL2023_NVIDIA
    assert explicit.disk_size_gib == 200
    assert explicit.labels == {}
    assert derived.instance_types is None
    assert derived.gpu_need is not None
    assert derived.gpu_need.gpus_per_node == 1
    assert derived.gpu_need.min_gpu_memory_gib == 0
    assert derived.gpu_need.max_instance_types == 4


def test_resolved_desired_size_uses_explicit_value() -> None:
    config = load_stack_config(raw_config(gpuPools=[pool(minSize=1, desiredSize=3, maxSize=5)]))
    assert config.gpu_pools[0].resolved_desired_size == 3


@pytest.mark.parametrize(
    ("environment", "protect_stateful", "expected"),
    [
        ("dev", None, False),
        ("staging", None, False),
        ("prod", None, True),
        ("dev", True, True),
        ("prod", False, False),
    ],
    ids=["dev-default", "staging-default", "prod-default", "dev-forced-on", "prod-forced-off"],
)
def test_protect_defaults_to_prod_only(
    environment: str, protect_stateful: bool | None, expected: bool
) -> None:
    overrides: dict[str, Any] = {"environment": environment}
    if protect_stateful is not None:
        overrides["protectStateful"] = json.dumps(protect_stateful)  # engine: "true" / "false"
    assert load_stack_config(raw_config(**overrides)).protect is expected


def test_scalars_arrive_as_strings() -> None:
    """The engine passes numbers and booleans as strings; they are coerced."""
    config = load_stack_config(
        raw_config(
            monthlyBudgetUsd="1234.5",
            clusterLogRetentionDays="14",
            protectStateful="true",
            kubernetesVersion="1.35",
        )
    )
    assert config.monthly_budget_usd == 1234.5
    assert config.cluster_log_retention_days == 14
    assert config.protect is True
    assert config.kubernetes_version == "1.35"


def test_keys_of_other_namespaces_are_ignored() -> None:
    raw = raw_config()
    raw["aws:profile"] = "sandbox"
    raw["kubernetes:context"] = "whatever"
    raw["pulumi:template"] = "x"
    config = load_stack_config(raw)  # no ConfigError: other namespaces belong to their owners
    assert config == load_stack_config(raw_config())


def test_at_least_three_shipped_stacks() -> None:
    names = {p.name for p in STACK_FILES}
    assert {"Pulumi.dev.yaml", "Pulumi.staging.yaml", "Pulumi.prod.yaml"} <= names


@pytest.mark.parametrize(
    "path", STACK_FILES, ids=[p.stem.removeprefix("Pulumi.") for p in STACK_FILES]
)
def test_shipped_stack_files_load(path: Path) -> None:
    environment = path.stem.removeprefix("Pulumi.")
    config = load_stack_config(stack_file_raw(path))
    assert config.environment.value == environment
    assert config.protect is (environment == "prod")
    for az in config.availability_zones:
        assert az.startswith(config.region)


def test_prod_stack_values() -> None:
    config = load_stack_config(stack_file_raw(ROOT / "stacks" / "Pulumi.prod.yaml"))
    assert config.nat_gateways is NatGateways.ONE_PER_AZ
    assert config.endpoint_access is EndpointAccess.PRIVATE
    assert config.flow_logs.enabled is True
    assert [e.policy for e in config.access_entries] == [
        AccessPolicy.CLUSTER_ADMIN,
        AccessPolicy.EDIT,
    ]
    h100 = config.gpu_pools[0]
    assert (h100.name, h100.efa, h100.instance_types) == ("h100-train", True, ["p5.48xlarge"])
    # The capacity is derived from the per-node throughput target (components/resolve/storage.py).
    assert config.storage.fsx.target_gbps_per_training_node == 1.0
    assert config.storage.fsx.per_unit_storage_throughput == 125
    assert config.storage.checkpoint_size_gib > 0
    # FSx imports checkpoints: nothing colder than GLACIER_IR, which it reads back.
    assert [t.storage_class for t in config.storage.checkpoints.transitions] == [
        StorageClass.STANDARD_IA,
        StorageClass.GLACIER_IR,
    ]
    assert config.storage.fsx.automatic_backup_retention_days == 0


# --------------------------------------------------------------------------- bad input


def _case(
    case_id: str,
    overrides: dict[str, Any],
    path: str | tuple[str, ...],
    *fragments: str,
    gap: str | None = None,
) -> Any:
    """One bad-input case: config overrides, the accepted key path(s), required message parts.

    `gap` marks a case the loader currently accepts (a validation gap) as a strict xfail.
    """
    paths = (path,) if isinstance(path, str) else path
    marks = [pytest.mark.xfail(strict=True, reason=gap)] if gap else []
    return pytest.param(overrides, paths, fragments, id=case_id, marks=marks)


_P = f"{NS}gpuPools[0]"

BAD_CASES = [
    # Unknown keys and did-you-mean hints.
    _case(
        "unknown-top-level-key",
        {"gpuPool": [pool()]},
        f"{NS}gpuPool",
        "unknown key",
        "did you mean 'gpu-platform:gpuPools'",
    ),
    _case(
        "unknown-pool-key",
        {"gpuPools": [pool(), pool(name="second", maxsize=3)]},
        f"{NS}gpuPools[1].maxsize",
        "unknown key",
        "did you mean 'maxSize'",
    ),
    _case(
        "unknown-gpu-need-key",
        {"gpuPools": [pool(instanceTypes=_DELETE, gpuNeed={"gpuModl": "T4"})]},
        f"{_P}.gpuNeed.gpuModl",
        "unknown key",
        "did you mean 'gpuModel'",
    ),
    _case(
        "unknown-storage-key",
        {"storage": {"fsx": {"storageCapacity": 1200}}},
        f"{NS}storage.fsx.storageCapacity",
        "did you mean 'storageCapacityGib'",
    ),
    _case(
        "region-in-project-namespace",
        {"region": "us-east-1"},
        f"{NS}region",
        "unknown key",
    ),
    # Environment, region, AZs.
    _case("unknown-environment", {"environment": "qa"}, f"{NS}environment", "'qa'", "dev"),
    _case("missing-environment", {"environment": _DELETE}, f"{NS}environment", "missing"),
    _case("missing-region", {REGION: _DELETE}, REGION, "missing"),
    _case("malformed-region", {REGION: "useast1"}, REGION, "'useast1'", "region"),
    _case(
        "az-outside-region",
        {"availabilityZones": ["us-east-1a", "us-west-2a"]},
        f"{NS}availabilityZones",
        "us-west-2a",
        "not in region us-east-1",
    ),
    _case(
        "az-malformed",
        {"availabilityZones": ["us-east-1a", "use1-az1"]},
        f"{NS}availabilityZones",
        "use1-az1",
        "not an availability zone",
    ),
    _case(
        "duplicate-az",
        {"availabilityZones": ["us-east-1a", "us-east-1a"]},
        f"{NS}availabilityZones",
        "us-east-1a",
        "twice",
    ),
    _case(
        "one-az-only",
        {"availabilityZones": ["us-east-1a"]},
        f"{NS}availabilityZones",
        "at least 2",
        "us-east-1a",
    ),
    _case(
        "four-azs",
        {"availabilityZones": [f"us-east-1{c}" for c in "abcd"]},
        f"{NS}availabilityZones",
        "at most 3",
    ),
    _case("missing-azs", {"availabilityZones": _DELETE}, f"{NS}availabilityZones", "missing"),
    # VPC range.
    _case("vpc-cidr-too-large", {"vpcCidr": "10.0.0.0/8"}, f"{NS}vpcCidr", "10.0.0.0/8", "/16"),
    _case("vpc-cidr-too-small", {"vpcCidr": "10.0.0.0/25"}, f"{NS}vpcCidr", "10.0.0.0/25", "/24"),
    _case(
        "vpc-cidr-bad-octet",
        {"vpcCidr": "300.1.1.1/16"},
        f"{NS}vpcCidr",
        "300.1.1.1/16",
        "not an IPv4 CIDR",
    ),
    _case(
        "vpc-cidr-host-bits",
        {"vpcCidr": "10.0.0.1/16"},
        f"{NS}vpcCidr",
        "10.0.0.1/16",
        "host bits",
    ),
    _case(
        "vpc-cidr-public",
        {"vpcCidr": "8.8.0.0/16"},
        f"{NS}vpcCidr",
        "8.8.0.0/16",
        "private",
    ),
    _case(
        "vpc-cidr-loopback",
        {"vpcCidr": "127.0.0.0/16"},
        f"{NS}vpcCidr",
        "127.0.0.0/16",
    ),
    _case(
        "vpc-cidr-link-local",
        {"vpcCidr": "169.254.0.0/16"},
        f"{NS}vpcCidr",
        "169.254.0.0/16",
    ),
    _case(
        "vpc-cidr-benchmarking",
        {"vpcCidr": "198.18.0.0/16"},
        f"{NS}vpcCidr",
        "198.18.0.0/16",
    ),
    _case(
        "public-access-cidr-malformed",
        {"publicAccessCidrs": ["1.2.3.4/33"]},
        f"{NS}publicAccessCidrs",
        "1.2.3.4/33",
    ),
    # Cluster.
    _case(
        "unsupported-kubernetes-version",
        {"kubernetesVersion": "1.30"},
        f"{NS}kubernetesVersion",
        "'1.30'",
        "supported",
        versions.KUBERNETES_VERSION,
    ),
    _case(
        "bad-cluster-name",
        {"clusterName": "1cluster"},
        f"{NS}clusterName",
        "'1cluster'",
    ),
    _case(
        "unknown-log-type",
        {"clusterLogTypes": ["api", "kubelet"]},
        f"{NS}clusterLogTypes[1]",
        "'kubelet'",
    ),
    # Instance types.
    _case(
        "instance-type-typo",
        {"gpuPools": [pool(instanceTypes=["p5.48xlarg"])]},
        f"{_P}.instanceTypes[0]",
        "'p5.48xlarg'",
        "did you mean 'p5.48xlarge'",
    ),
    _case(
        "cpu-type-in-gpu-pool",
        {"gpuPools": [pool(instanceTypes=["m7i.large"])]},
        f"{_P}.instanceTypes",
        "m7i.large",
        "no GPU",
    ),
    _case(
        "gpu-type-in-system-pool",
        {"systemPool": {"instanceTypes": ["g4dn.xlarge"]}},
        f"{NS}systemPool.instanceTypes",
        "g4dn.xlarge",
        "GPU",
    ),
    _case(
        "empty-instance-types",
        {"gpuPools": [pool(instanceTypes=[])]},
        f"{_P}.instanceTypes",
        "at least 1",
    ),
    # Pool sizes.
    _case(
        "max-below-min",
        {"gpuPools": [pool(), pool(name="second", minSize=4, maxSize=2)]},
        f"{NS}gpuPools[1].maxSize",
        "2 is below minSize 4",
    ),
    _case(
        "desired-below-min",
        {"gpuPools": [pool(minSize=2, desiredSize=1)]},
        f"{_P}.desiredSize",
        "1 is below minSize 2",
    ),
    _case(
        "desired-above-max",
        {"gpuPools": [pool(desiredSize=5, maxSize=3)]},
        # Reported where the range closes: either end names both numbers.
        (f"{_P}.maxSize", f"{_P}.desiredSize"),
        "3",
        "desiredSize 5",
    ),
    _case(
        "max-size-zero",
        {"gpuPools": [pool(maxSize=0)]},
        f"{_P}.maxSize",
        "0 leaves the pool unable",
    ),
    _case(
        "max-size-missing",
        {"gpuPools": [pool(maxSize=_DELETE)]},
        f"{_P}.maxSize",
        "missing",
    ),
    _case(
        "negative-min-size",
        {"gpuPools": [pool(minSize=-1)]},
        f"{_P}.minSize",
        "greater than or equal to 0",
    ),
    _case(
        "system-pool-max-below-min",
        {"systemPool": {"minSize": 3, "maxSize": 2}},
        f"{NS}systemPool.maxSize",
        "2 is below minSize 3",
    ),
    _case(
        "system-pool-min-zero",
        {"systemPool": {"minSize": 0}},
        f"{NS}systemPool.minSize",
        "greater than or equal to 1",
    ),
    # EFA.
    _case(
        "efa-on-g4dn-xlarge",
        {"gpuPools": [pool(efa=True)]},
        f"{_P}.efa",
        "g4dn.xlarge does not support EFA",
        "p5.48xlarge",
    ),
    _case(
        "efa-with-gpu-need",
        {
            "gpuPools": [
                pool(
                    instanceTypes=_DELETE, gpuNeed={"gpuModel": "H100", "gpusPerNode": 8}, efa=True
                )
            ]
        },
        f"{_P}.efa",
        "explicit instanceTypes",
    ),
    # Capacity type and reservations.
    _case(
        "capacity-block-without-reservation",
        {"gpuPools": [pool(instanceTypes=["p5.48xlarge"], capacityType="CAPACITY_BLOCK")]},
        (f"{_P}.capacityReservationId", _P),
        "CAPACITY_BLOCK",
    ),
    _case(
        "spot-with-reservation",
        {"gpuPools": [pool(capacityType="SPOT", capacityReservationId=RESERVATION)]},
        f"{_P}.capacityReservationId",
        "SPOT",
        RESERVATION,
    ),
    _case(
        "malformed-reservation-id",
        {"gpuPools": [pool(capacityReservationId="res-123")]},
        f"{_P}.capacityReservationId",
        "'res-123'",
        "cr-",
    ),
    _case(
        "unknown-capacity-type",
        {"gpuPools": [pool(capacityType="RESERVED")]},
        f"{_P}.capacityType",
        "'RESERVED'",
    ),
    # Instance type source.
    _case(
        "both-instance-types-and-gpu-need",
        {"gpuPools": [pool(gpuNeed={"gpuModel": "T4"})]},
        f"{_P}.gpuNeed",
        "not both",
    ),
    _case(
        "neither-instance-types-nor-gpu-need",
        {"gpuPools": [pool(instanceTypes=_DELETE)]},
        (f"{_P}.gpuNeed", f"{_P}.instanceTypes", _P),
        "instanceTypes or gpuNeed",
    ),
    _case(
        "gpu-need-nothing-matches",
        {"gpuPools": [pool(instanceTypes=_DELETE, gpuNeed={"gpuModel": "T4", "gpusPerNode": 3})]},
        f"{_P}.gpuNeed",
        "no catalog instance type has 3 x T4",
    ),
    _case(
        "gpu-need-too-much-memory",
        {"gpuPools": [pool(instanceTypes=_DELETE, gpuNeed={"minGpuMemoryGib": 200})]},
        f"{_P}.gpuNeed",
        "no catalog instance type",
        "200",
    ),
    # Pool names and AZs.
    _case(
        "duplicate-pool-names",
        {"gpuPools": [pool(), pool()]},
        f"{NS}gpuPools",
        "unique",
        "t4",
    ),
    _case(
        "bad-pool-name",
        {"gpuPools": [pool(name="GPU_Pool")]},
        f"{_P}.name",
        "'GPU_Pool'",
        "lowercase",
    ),
    _case(
        "pool-name-too-long",
        {"gpuPools": [pool(name="a" * 31)]},
        f"{_P}.name",
        "1-30",
    ),
    _case(
        "pool-az-not-in-stack",
        {"gpuPools": [pool(availabilityZones=["us-east-1c"])]},
        f"{_P}.availabilityZones",
        "us-east-1c",
        "availabilityZones",
    ),
    _case(
        "efa-pool-over-two-azs",
        {
            "gpuPools": [
                pool(
                    instanceTypes=["p5.48xlarge"],
                    efa=True,
                    availabilityZones=["us-east-1a", "us-east-1b"],
                )
            ]
        },
        f"{_P}.availabilityZones",
        "exactly one AZ",
    ),
    # Storage.
    _case(
        "fsx-capacity-1000",
        {"storage": {"fsx": {"storageCapacityGib": 1000}}},
        f"{NS}storage.fsx.storageCapacityGib",
        "1000",
        "1200",
        "2400",
    ),
    _case(
        "fsx-capacity-3000",
        {"storage": {"fsx": {"storageCapacityGib": 3000}}},
        f"{NS}storage.fsx.storageCapacityGib",
        "3000",
        "2400",
        "4800",
    ),
    _case(
        "fsx-throughput-300",
        {"storage": {"fsx": {"perUnitStorageThroughput": 300}}},
        f"{NS}storage.fsx.perUnitStorageThroughput",
        "300",
        "125",
        "250",
        "500",
        "1000",
    ),
    _case(
        "transitions-out-of-order",
        {
            "storage": {
                "checkpoints": {
                    "transitions": [
                        {"days": 90, "storageClass": "STANDARD_IA"},
                        {"days": 30, "storageClass": "GLACIER"},
                    ]
                }
            }
        },
        f"{NS}storage.checkpoints.transitions",
        "GLACIER at day 30",
        "STANDARD_IA at day 90",
    ),
    _case(
        "unknown-storage-class",
        {"storage": {"datasets": {"transitions": [{"days": 90, "storageClass": "GLACIER_DEEP"}]}}},
        f"{NS}storage.datasets.transitions[0].storageClass",
        "'GLACIER_DEEP'",
        "DEEP_ARCHIVE",
    ),
    # Budget, tags, access entries.
    _case(
        "budget-zero",
        {"monthlyBudgetUsd": 0},
        f"{NS}monthlyBudgetUsd",
        "greater than 0",
    ),
    _case(
        "budget-negative",
        {"monthlyBudgetUsd": -5},
        f"{NS}monthlyBudgetUsd",
        "greater than 0",
        "-5",
    ),
    _case(
        "budget-not-a-number",
        {"monthlyBudgetUsd": "lots"},
        f"{NS}monthlyBudgetUsd",
        "'lots'",
    ),
    _case(
        "budget-infinite",
        {"monthlyBudgetUsd": "inf"},
        f"{NS}monthlyBudgetUsd",
        "inf",
    ),
    _case("budget-missing", {"monthlyBudgetUsd": _DELETE}, f"{NS}monthlyBudgetUsd", "missing"),
    _case(
        "tag-key-aws-prefix",
        {"tags": {"aws:owner": "me"}},
        f"{NS}tags",
        "'aws:owner'",
        "aws:",
    ),
    _case(
        "tag-value-too-long",
        {"tags": {"owner": "x" * 257}},
        f"{NS}tags",
        "'owner'",
        "256",
    ),
    _case(
        "principal-arn-not-iam",
        {"accessEntries": [{"principalArn": "arn:aws:s3:::my-bucket"}]},
        f"{NS}accessEntries[0].principalArn",
        "arn:aws:s3:::my-bucket",
    ),
    _case(
        "unknown-access-policy",
        {"accessEntries": [{"principalArn": "arn:aws:iam::111122223333:role/x", "policy": "root"}]},
        f"{NS}accessEntries[0].policy",
        "'root'",
    ),
    # A boolean is not a number, nor a number a boolean (Pydantic's lax mode would read
    # `true` as 1 and `0` as false).
    _case(
        "pool-max-size-true",
        {"gpuPools": [pool(maxSize=True)]},
        f"{_P}.maxSize",
        "must be a number, not a boolean",
        "(got true)",
    ),
    _case(
        "team-gpu-quota-false",
        {"teams": [{"name": "research", "gpuQuota": False}]},
        f"{NS}teams[0].gpuQuota",
        "must be a number, not a boolean",
    ),
    _case(
        "flow-log-retention-true",
        {"flowLogs": {"enabled": True, "retentionDays": True}},
        f"{NS}flowLogs.retentionDays",
        "must be a number, not a boolean",
    ),
    _case(
        "fsx-enabled-zero",
        {"storage": {"fsx": {"enabled": 0}}},
        f"{NS}storage.fsx.enabled",
        "must be true or false, not a number",
        "(got 0)",
    ),
    _case(
        "addon-flag-one",
        {"addons": {"triton": 1}},
        f"{NS}addons.triton",
        "must be true or false, not a number",
    ),
    # An access policy's namespace scope: EKS takes names (or a prefix ending in '*'); an empty
    # list would silently widen the policy to the whole cluster.
    _case(
        "access-entry-empty-namespaces",
        {"accessEntries": [{"principalArn": "arn:aws:iam::111122223333:role/x", "namespaces": []}]},
        f"{NS}accessEntries[0].namespaces",
        "whole cluster",
    ),
    _case(
        "access-entry-namespace-not-a-name",
        {
            "accessEntries": [
                {"principalArn": "arn:aws:iam::111122223333:role/x", "namespaces": ["Team A"]}
            ]
        },
        f"{NS}accessEntries[0].namespaces",
        "'Team A' is not a namespace name",
    ),
    # AWS's limits on tags, EKS's on node group labels, Budgets' on subscribers; repeats.
    _case(
        "tag-key-character",
        {"tags": {"team": "a", "owner": "b", "cost-center": "c", "a{b}": "v"}},
        f"{NS}tags",
        "'a{b}' has a character AWS does not take",
    ),
    _case(
        "tag-value-aws-prefix",
        {"tags": {"team": "AWS:ml", "owner": "b", "cost-center": "c"}},
        f"{NS}tags",
        "must not start with aws:",
    ),
    _case(
        "tag-key-the-platform-sets",
        {"tags": {"team": "a", "owner": "b", "cost-center": "c", "environment": "production"}},
        f"{NS}tags",
        "'environment' is set by the platform",
    ),
    _case(
        "too-many-tags",
        {
            "tags": {
                "team": "a",
                "owner": "b",
                "cost-center": "c",
                **{f"k{i}": "v" for i in range(42)},
            }
        },
        f"{NS}tags",
        "45 tags: at most 44",
    ),
    _case(
        "label-value-with-a-space",
        {"gpuPools": [pool(labels={"tier": "gold plus"})]},
        f"{_P}.labels",
        "'gold plus' must be 1-63",
    ),
    _case(
        "label-value-empty",
        {"gpuPools": [pool(labels={"tier": ""})]},
        f"{_P}.labels",
        "label 'tier' value '' must be 1-63",
    ),
    _case(
        "label-key-too-long",
        {"gpuPools": [pool(labels={"example.com/" + "k" * 60: "v"})]},
        f"{_P}.labels",
        "at most 63 characters",
    ),
    _case(
        "eleven-budget-emails",
        {"budgetAlertEmails": [f"a{i}@example.com" for i in range(11)]},
        f"{NS}budgetAlertEmails",
        "at most 10 items",
    ),
    _case(
        "budget-email-twice",
        {"budgetAlertEmails": ["a@example.com", "a@example.com"]},
        f"{NS}budgetAlertEmails",
        "a@example.com listed twice",
    ),
    _case(
        "log-type-twice",
        {"clusterLogTypes": ["api", "audit", "api"]},
        f"{NS}clusterLogTypes",
        "api listed twice",
    ),
    _case(
        "instance-type-twice",
        {"gpuPools": [pool(instanceTypes=["g4dn.xlarge", "g4dn.2xlarge", "g4dn.xlarge"])]},
        f"{_P}.instanceTypes",
        "g4dn.xlarge listed twice",
    ),
    _case(
        "access-entry-principal-twice",
        {
            "accessEntries": [
                {"principalArn": "arn:aws:iam::111122223333:role/x"},
                {"principalArn": "arn:aws:iam::111122223333:role/x", "policy": "edit"},
            ]
        },
        f"{NS}accessEntries",
        "arn:aws:iam::111122223333:role/x listed twice",
    ),
    _case(
        "lifecycle-days-past-a-century",
        {
            "storage": {
                "datasets": {"transitions": [{"days": 10**12, "storageClass": "GLACIER_IR"}]}
            }
        },
        f"{NS}storage.datasets.transitions[0].days",
        "less than or equal to 36500",
    ),
    _case(
        "interface-endpoint-twice",
        {"interfaceEndpoints": ["ecr.api", "sts", "ecr.api"]},
        f"{NS}interfaceEndpoints",
        "ecr.api listed twice",
    ),
    _case(
        "pool-zone-twice",
        {"gpuPools": [pool(availabilityZones=["us-east-1a", "us-east-1a"])]},
        f"{_P}.availabilityZones",
        "us-east-1a listed twice",
    ),
    _case(
        "pools-not-json",
        {"gpuPools": "[not json"},
        f"{NS}gpuPools",
        "list",
        "[not json",
    ),
]


@pytest.mark.parametrize(("overrides", "paths", "fragments"), BAD_CASES)
def test_bad_input_names_key_path_and_value(
    overrides: dict[str, Any], paths: tuple[str, ...], fragments: tuple[str, ...]
) -> None:
    problems = problems_of(raw_config(**overrides))
    matching = [message for path, message in problems if path in paths]
    assert matching, f"no problem at {paths}; got {problems}"
    message = matching[0]
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def test_config_error_str_is_one_line_per_problem() -> None:
    with pytest.raises(ConfigError) as caught:
        load_stack_config(raw_config(environment="qa", vpcCidr="10.0.0.0/8"))
    error = caught.value
    assert len(error.problems) == 2
    assert str(error).splitlines() == [f"{path}: {message}" for path, message in error.problems]
    assert isinstance(error, ValueError)


def test_two_unknown_keys_are_both_reported() -> None:
    problems = problems_of(raw_config(gpuPool=[], natGateway="single"))
    assert [path for path, _ in problems] == [f"{NS}gpuPool", f"{NS}natGateway"]
    assert "did you mean 'gpu-platform:gpuPools'" in problems[0][1]
    assert "did you mean 'gpu-platform:natGateways'" in problems[1][1]


def test_unknown_key_and_bad_values_are_all_reported() -> None:
    problems = problems_of(
        raw_config(
            gpuPool=[],
            environment="qa",
            gpuPools=[pool(name="GPU_Pool"), pool(name="b", minSize=3, maxSize=1)],
        )
    )
    paths = {path for path, _ in problems}
    assert paths == {
        f"{NS}gpuPool",
        f"{NS}environment",
        f"{NS}gpuPools[0].name",
        f"{NS}gpuPools[1].maxSize",
    }


def test_two_problems_in_one_transition_entry() -> None:
    problems = problems_of(
        raw_config(storage={"datasets": {"transitions": [{"day": 90, "storageClass": "GLACIER"}]}})
    )
    base = f"{NS}storage.datasets.transitions[0]"
    assert dict(problems) == {
        f"{base}.days": "required key is missing",
        f"{base}.day": "unknown key (did you mean 'days'?)",
    }


def test_cross_check_problems_reported_with_unknown_keys() -> None:
    problems = problems_of(
        raw_config(gpuPool=[], gpuPools=[pool(availabilityZones=["us-east-1c"])])
    )
    assert {path for path, _ in problems} == {
        f"{NS}gpuPool",
        f"{NS}gpuPools[0].availabilityZones",
    }


def test_capacity_block_with_reservation_loads() -> None:
    config = load_stack_config(
        raw_config(
            gpuPools=[
                pool(
                    instanceTypes=["p5.48xlarge"],
                    capacityType="CAPACITY_BLOCK",
                    capacityReservationId=RESERVATION,
                )
            ]
        )
    )
    assert config.gpu_pools[0].capacity_reservation_id == RESERVATION


def test_efa_pool_in_one_stack_az_loads() -> None:
    config = load_stack_config(
        raw_config(
            gpuPools=[
                pool(instanceTypes=["p5.48xlarge"], efa=True, availabilityZones=["us-east-1b"])
            ]
        )
    )
    assert config.gpu_pools[0].availability_zones == ["us-east-1b"]


# --------------------------------------------------------------------------- properties

sizes = st.integers(min_value=0, max_value=50)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_any_ordered_pool_sizes_validate(data: st.DataObject) -> None:
    """min <= desired <= max validates (max 0 is rejected on purpose: see max-size-zero)."""
    maximum = data.draw(st.integers(min_value=1, max_value=50), label="max")
    minimum = data.draw(st.integers(min_value=0, max_value=maximum), label="min")
    desired = data.draw(
        st.none() | st.integers(min_value=minimum, max_value=maximum), label="desired"
    )
    fields: dict[str, Any] = {"minSize": minimum, "maxSize": maximum}
    if desired is not None:
        fields["desiredSize"] = desired
    config = load_stack_config(raw_config(gpuPools=[pool(**fields)]))
    loaded = config.gpu_pools[0]
    assert (loaded.min_size, loaded.max_size) == (minimum, maximum)
    assert loaded.resolved_desired_size == (minimum if desired is None else desired)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_any_max_below_min_fails_naming_max_size(data: st.DataObject) -> None:
    minimum = data.draw(st.integers(min_value=1, max_value=50), label="min")
    maximum = data.draw(st.integers(min_value=0, max_value=minimum - 1), label="max")
    desired = data.draw(st.none() | sizes, label="desired")
    fields: dict[str, Any] = {"minSize": minimum, "maxSize": maximum}
    if desired is not None:
        fields["desiredSize"] = desired
    problems = dict(problems_of(raw_config(gpuPools=[pool(**fields)])))
    assert f"{_P}.maxSize" in problems
    assert problems[f"{_P}.maxSize"].startswith(f"{maximum} is below ")


def _config_models() -> list[type[Any]]:
    from pydantic import BaseModel

    import components.config.models as models

    return [
        obj
        for obj in vars(models).values()
        if isinstance(obj, type)
        and issubclass(obj, BaseModel)
        and obj.__module__ == models.__name__
    ]


@pytest.mark.parametrize("model", _config_models(), ids=lambda m: m.__name__)
def test_no_field_validator_reads_other_fields(model: type[Any]) -> None:
    """A field validator that reads `info.data` sees only fields declared before it: reordering
    the declarations would silently disable the rule. Rules between fields are model validators."""
    import inspect

    for name, decorator in model.__pydantic_decorators__.field_validators.items():
        parameters = inspect.signature(decorator.func).parameters
        assert len(parameters) <= 2, f"{model.__name__}.{name} takes ValidationInfo"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"gpuNeed": {"gpuModel": "T4"}, "instanceTypes": ["g4dn.xlarge"]}, "not both"),
        ({}, "give instanceTypes or gpuNeed"),
    ],
)
def test_exactly_one_type_source_whatever_the_key_order(fields: dict[str, Any], message: str):
    base = {"name": "p", "maxSize": 2}
    for ordered in ({**fields, **base}, {**base, **fields}):
        problems = dict(problems_of(raw_config(gpuPools=[ordered])))
        assert message in problems[f"{_P}.gpuNeed"]


def test_bare_keys_take_the_projects_namespace_as_the_pulumi_cli_does(tmp_path: Path) -> None:
    from components.config import read_stack_file

    path = tmp_path / "Pulumi.x.yaml"
    path.write_text("config:\n  aws:region: us-east-1\n  clusterLogRetentionDays: 14\n")
    raw = read_stack_file(path)
    assert raw == {"aws:region": "us-east-1", "gpu-platform:clusterLogRetentionDays": "14"}


def test_dates_and_times_reach_the_program_as_the_text_written(tmp_path: Path) -> None:
    """The CLI's YAML library passes an unquoted date as its text; so does the plan."""
    from components.config import read_stack_file

    path = tmp_path / "Pulumi.x.yaml"
    path.write_text("config:\n  a: 2026-01-01\n  b: {since: 2026-01-01T10:00:00Z}\n")
    assert read_stack_file(path) == {
        "gpu-platform:a": "2026-01-01",
        "gpu-platform:b": '{"since": "2026-01-01T10:00:00Z"}',
    }


_ALIAS_BOMB = (
    "config:\n  a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
    + "".join(f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 9))
).encode()
"""Ten to the ninth values once expanded ("billion laughs"): refused before anything expands it."""


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"- a\n- b\n", "must be a YAML mapping"),
        (b"config: [1, 2]\n", "must be a mapping"),
        (b"config:\n  a: [\n", "not valid YAML"),
        (b"config:\n  environment: \xff\xfe\n", "not UTF-8"),
        (b"config:\n  x: {secure: abc}\n", "only the Pulumi CLI can decrypt"),
        (b"config:\n  vpcCidr: a\n  gpu-platform:vpcCidr: b\n", "set twice"),
        (b"config:\n  vpcCidr: !!binary aGVsbG8=\n", "a YAML !!binary value cannot be"),
        (b"config:\n  teams: !!set {a, b}\n", "gpu-platform:teams: a YAML !!set cannot be"),
        (b"config:\n  tags: {a: !!timestamp 2026-01-01}\n", "a YAML date cannot be"),
        (_ALIAS_BOMB, "more than 100,000 values once its YAML aliases are expanded"),
    ],
    ids=["list", "config-list", "yaml", "utf8", "secret", "twice", "binary", "set", "date", "bomb"],
)
def test_unreadable_stack_files_are_one_clear_error(tmp_path: Path, content: bytes, needle: str):
    from components.config import read_stack_file

    path = tmp_path / "Pulumi.x.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as caught:
        read_stack_file(path)
    assert needle in str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_plan_reads_bare_keys_like_the_cli(tmp_path: Path, capsys) -> None:
    from scripts.plan.__main__ import main

    data = yaml.safe_load((ROOT / "stacks" / "Pulumi.dev.yaml").read_text())
    data["config"]["clusterLogRetentionDays"] = data["config"].pop(
        "gpu-platform:clusterLogRetentionDays"
    )
    data["config"]["clusterLogRetentionDays"] = 30
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(yaml.safe_dump(data))
    out = tmp_path / "plan.json"
    assert main(["--stack", "dev", "--config-file", str(path), "--json", str(out), "--quiet"]) == 0
    document = json.loads(out.read_text())
    groups = [
        s["newState"]["inputs"]
        for s in document["steps"]
        if s["newState"]["type"] == "aws:cloudwatch/logGroup:LogGroup"
        and "control-plane" in s["urn"]
    ]
    assert [g["retentionInDays"] for g in groups] == [30]


def test_numbers_and_booleans_written_as_strings_still_parse() -> None:
    """`pulumi config set` stores every value as a string: `"8"` is a number, `"true"` a
    boolean, and an access policy may be scoped with EKS's wildcard."""
    config = load_stack_config(
        raw_config(
            gpuPools=[pool(maxSize="8")],
            activateCostAllocationTags="true",
            accessEntries=[
                {"principalArn": "arn:aws:iam::111122223333:role/x", "namespaces": ["team-*", "a"]}
            ],
        )
    )
    assert config.gpu_pools[0].max_size == 8
    assert config.activate_cost_allocation_tags is True
    assert config.access_entries[0].namespaces == ["team-*", "a"]


def test_the_tags_key_documents_the_limit_it_enforces() -> None:
    from components.config.models import MAX_STACK_TAGS

    description = StackConfig.model_fields["tags"].description or ""
    assert f"at most {MAX_STACK_TAGS}" in " ".join(description.split())
    load_stack_config(raw_config(tags={f"k{i}": "v" for i in range(MAX_STACK_TAGS)}))
    with pytest.raises(ConfigError, match=f"at most {MAX_STACK_TAGS}"):
        load_stack_config(raw_config(tags={f"k{i}": "v" for i in range(MAX_STACK_TAGS + 1)}))
