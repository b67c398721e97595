"""The storage tiers in the offline plan: what the shipped stacks put in the document, and the
storage part of the capacity stage (throughput, checkpoint write time, monthly cost)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from components.catalog import service_price
from components.config import StackConfig
from components.resolve.storage import BUCKETS, NONCURRENT_CHECKPOINT_TRANSITION_DAYS
from policies import pricing
from scripts.plan.__main__ import plan
from scripts.plan.stages import states
from scripts.plan.stages import storage as storage_stage
from tests import support
from tests.conftest import ROOT

LUSTRE = "aws:fsx/lustreFileSystem:LustreFileSystem"
DRA = "aws:fsx/dataRepositoryAssociation:DataRepositoryAssociation"
BUCKET = "aws:s3/bucket:Bucket"
PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
POLICY = "aws:s3/bucketPolicy:BucketPolicy"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
GIB_TO_GB = 1.073741824
CHECKPOINT_GIB = 500

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def prod() -> dict[str, Any]:
    document, _ = plan("prod")
    return document


@pytest.fixture(scope="module")
def prod_config(prod) -> StackConfig:
    return support.config("prod")


@pytest.fixture(scope="module")
def dev() -> dict[str, Any]:
    document, _ = plan("dev")
    return document


@pytest.fixture(scope="module")
def prod_with_checkpoint(tmp_path_factory) -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "stacks" / "Pulumi.prod.yaml").read_text())
    data["config"]["gpu-platform:storage"]["checkpointSizeGib"] = CHECKPOINT_GIB
    path = tmp_path_factory.mktemp("stack") / "Pulumi.prod.yaml"
    path.write_text(yaml.safe_dump(data))
    document, _ = plan("prod", config_file=path)
    return document


def of_type(document: dict[str, Any], type_token: str) -> list[dict[str, Any]]:
    return [s for s in states(document) if s["type"] == type_token]


def attached_to(document: dict[str, Any], type_token: str, prop: str, urn: str) -> list[dict]:
    """Resources of a type whose `prop` input was computed from the resource `urn`."""
    return [
        s
        for s in of_type(document, type_token)
        if urn in (s.get("propertyDependencies") or {}).get(prop, [])
    ]


def the_lustre(document: dict[str, Any]) -> dict[str, Any]:
    [fs] = of_type(document, LUSTRE)
    return fs


# --------------------------------------------------------------------------- prod document


def test_prod_has_a_persistent2_file_system_linked_to_s3(prod):
    fs = the_lustre(prod)
    assert fs["inputs"]["deploymentType"] == "PERSISTENT_2"
    links = attached_to(prod, DRA, "fileSystemId", fs["urn"])
    assert {link["inputs"]["fileSystemPath"] for link in links} == {"/datasets", "/checkpoints"}
    assert all(link["inputs"]["dataRepositoryPath"].startswith("s3://") for link in links)


def test_prod_file_system_group_opens_the_lustre_ports(prod):
    fs = the_lustre(prod)
    [group_urn] = fs["propertyDependencies"]["securityGroupIds"]
    rules = [
        r
        for r in attached_to(prod, INGRESS, "securityGroupId", group_urn)
        if r["inputs"]["ipProtocol"] == "tcp"
    ]
    ports = {(r["inputs"]["fromPort"], r["inputs"]["toPort"]) for r in rules}
    assert ports == {(988, 988), (1018, 1023)}
    # From the clients (the cluster security group) and from the group itself.
    sources = {tuple(r["propertyDependencies"].get("referencedSecurityGroupId", [])) for r in rules}
    assert (group_urn,) in sources
    assert any("eks/cluster:Cluster" in urn for source in sources for urn in source)


def test_prod_lifecycle_reaches_a_glacier_class(prod, prod_config):
    classes = {
        t["storageClass"]
        for lifecycle in of_type(prod, LIFECYCLE)
        for rule in lifecycle["inputs"]["rules"]
        for t in rule.get("transitions") or []
    }
    assert classes & {"GLACIER_IR", "GLACIER", "DEEP_ARCHIVE"}
    # Noncurrent checkpoints: expiration as configured; the Glacier IR noncurrent transition only
    # when it comes strictly before that expiration.
    expire = prod_config.storage.checkpoints.noncurrent_expiration_days
    [checkpoints] = [s for s in of_type(prod, LIFECYCLE) if s["urn"].endswith("-checkpoints")]
    [rule] = checkpoints["inputs"]["rules"]
    if expire is not None:
        assert rule["noncurrentVersionExpiration"] == {"noncurrentDays": expire}
    kept = expire is None or expire > NONCURRENT_CHECKPOINT_TRANSITION_DAYS
    assert bool(rule.get("noncurrentVersionTransitions")) is kept


def test_prod_every_bucket_is_private_tls_only_and_protected(prod):
    buckets = of_type(prod, BUCKET)
    assert len(buckets) >= 3
    for bucket in buckets:
        [block] = attached_to(prod, PAB, "bucket", bucket["urn"])
        for flag in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls"):
            assert block["inputs"][flag] is True, (bucket["urn"], flag)
        assert block["inputs"]["restrictPublicBuckets"] is True, bucket["urn"]
        [policy] = attached_to(prod, POLICY, "bucket", bucket["urn"])
        assert "aws:SecureTransport" in policy["inputs"]["policy"]
        statements = json.loads(policy["inputs"]["policy"])["Statement"]
        # Log buckets also admit their writer (CloudTrail, S3 logging); TLS is denied everywhere.
        assert [
            s
            for s in statements
            if s["Effect"] == "Deny" and "aws:SecureTransport" in json.dumps(s)
        ]
    for stateful in [*buckets, the_lustre(prod)]:
        assert stateful["protect"] is True, stateful["urn"]
        assert stateful.get("retainOnDelete") is True, stateful["urn"]


# --------------------------------------------------------------------------- capacity: storage


def test_hot_tier_throughput_follows_the_documents_fsx_inputs(prod):
    inputs = the_lustre(prod)["inputs"]
    aggregate = inputs["storageCapacity"] / 1024 * inputs["perUnitStorageThroughput"] / 1000
    [hot] = prod["capacity"]["storage"]["hot"]
    assert hot["deploymentType"] == "PERSISTENT_2"
    assert hot["capacityGib"] == inputs["storageCapacity"]
    assert hot["perUnitThroughputMBps"] == inputs["perUnitStorageThroughput"]
    assert hot["aggregateGBps"] == pytest.approx(aggregate, abs=5e-4)
    [efa_pool] = [p for p in prod["capacity"]["pools"] if p["efa"]]
    assert hot["perTrainingNodeGBps"] == pytest.approx(aggregate / efa_pool["maxSize"], abs=5e-4)


def test_no_checkpoint_size_means_no_write_time(prod, prod_config):
    [hot] = prod["capacity"]["storage"]["hot"]
    if not prod_config.storage.checkpoint_size_gib:
        assert hot["checkpointGib"] is None and hot["checkpointWriteSeconds"] is None


def test_warm_and_cold_monthly_figures(prod, prod_config):
    section = prod["capacity"]["storage"]
    configs = {name: getattr(prod_config.storage, name) for name in BUCKETS}
    sizes = {name: config.expected_size_gib for name, config in configs.items()}
    warm = sum(sizes.values()) * service_price("s3_standard_gb_month")  # binary GB billing
    assert section["monthlyUsdByTier"]["warm"] == pytest.approx(warm, abs=0.02)
    rows = {row["bucket"]: row for row in section["buckets"]}
    assert {name: row["expectedSizeGib"] for name, row in rows.items()} == sizes
    # The cold floor prices each bucket at the last class of its lifecycle.
    for name, config in configs.items():
        final = config.transitions[-1].storage_class.value if config.transitions else "STANDARD"
        assert rows[name]["finalStorageClass"] == final
        price = service_price(storage_stage.S3_PRICE_KEYS[final])
        expected = sizes[name] * price
        assert rows[name]["coldFloorMonthlyUsd"] == pytest.approx(expected, abs=0.01)


def test_hot_tier_is_priced_from_the_snapshot_or_listed_as_unpriced(prod):
    section = prod["capacity"]["storage"]
    [hot] = section["hot"]
    key = storage_stage.fsx_price_key(hot["perUnitThroughputMBps"])
    assert hot["priceKey"] == key
    try:
        service_price(key)
    except KeyError:
        assert hot["monthlyUsd"] is None
        assert section["monthlyUsdByTier"]["hot"] is None
        assert key in section["unpriced"]
    else:
        assert hot["monthlyUsd"] > 0
        assert section["monthlyUsdByTier"]["hot"] == hot["monthlyUsd"]
        assert key not in section["unpriced"]


def without(key: str):
    """`service_price` as if the snapshot lacked `key`."""

    def price(wanted: str) -> float:
        if wanted == key:
            raise KeyError(wanted)
        return service_price(wanted)

    return price


def test_an_fsx_price_missing_from_the_snapshot_is_unpriced_not_zero(
    prod, prod_config, monkeypatch
):
    [hot] = prod["capacity"]["storage"]["hot"]
    key = storage_stage.fsx_price_key(hot["perUnitThroughputMBps"])
    monkeypatch.setattr(pricing, "service_price", without(key))
    section = storage_stage.storage_section(states(prod), prod["capacity"]["pools"], prod_config)
    [hot] = section["hot"]
    assert hot["monthlyUsd"] is None
    assert section["monthlyUsdByTier"]["hot"] is None
    assert section["unpriced"] == [key]


def test_an_s3_price_missing_from_the_snapshot_is_none_not_zero(prod, prod_config, monkeypatch):
    monkeypatch.setattr(pricing, "service_price", without("s3_standard_gb_month"))
    section = storage_stage.storage_section(states(prod), prod["capacity"]["pools"], prod_config)
    assert all(row["warmMonthlyUsd"] is None for row in section["buckets"])
    assert section["monthlyUsdByTier"]["warm"] is None
    # Buckets whose lifecycle ends in STANDARD lose their cold price too; the others keep it.
    for row in section["buckets"]:
        assert (row["coldFloorMonthlyUsd"] is None) is (row["finalStorageClass"] == "STANDARD")


def test_an_s3_price_missing_from_the_snapshot_is_listed_as_unpriced(
    prod, prod_config, monkeypatch
):
    monkeypatch.setattr(pricing, "service_price", without("s3_standard_gb_month"))
    section = storage_stage.storage_section(states(prod), prod["capacity"]["pools"], prod_config)
    assert section["monthlyUsdByTier"]["warm"] is None  # the tier is unpriced...
    assert "s3_standard_gb_month" in section["unpriced"]  # ...and should say which price


def test_checkpoint_write_time_from_a_config_file_copy(prod_with_checkpoint):
    inputs = the_lustre(prod_with_checkpoint)["inputs"]
    aggregate = inputs["storageCapacity"] / 1024 * inputs["perUnitStorageThroughput"] / 1000
    [hot] = prod_with_checkpoint["capacity"]["storage"]["hot"]
    assert hot["checkpointGib"] == CHECKPOINT_GIB
    assert hot["checkpointWriteSeconds"] == round(CHECKPOINT_GIB * GIB_TO_GB / aggregate, 1)
    # Consistent with the rounded aggregate the document shows, within its rounding.
    shown = CHECKPOINT_GIB * GIB_TO_GB / hot["aggregateGBps"]
    assert hot["checkpointWriteSeconds"] == pytest.approx(shown, abs=0.2)


# --------------------------------------------------------------------------- dev


def test_dev_has_buckets_but_no_hot_tier(dev):
    section = dev["capacity"]["storage"]
    assert section["hot"] == []
    assert of_type(dev, LUSTRE) == [] and of_type(dev, DRA) == []
    assert len(of_type(dev, BUCKET)) == 3
    assert [row["bucket"] for row in section["buckets"]] == list(BUCKETS)
    assert section["unpriced"] == []
    for bucket in of_type(dev, BUCKET):
        assert bucket["protect"] is False
        assert bucket["inputs"]["forceDestroy"] is True


# --------------------------------------------------------------------------- EFA hot tier


def test_prod_file_system_is_efa_enabled_and_meets_its_per_node_target(prod, prod_config):
    fs = the_lustre(prod)
    assert fs["inputs"]["efaEnabled"] is True
    assert fs["inputs"]["metadataConfiguration"] == {"mode": "AUTOMATIC"}
    # 125 MB/s/TiB: EFA capacity comes in 38400 GiB increments.
    assert fs["inputs"]["storageCapacity"] % 38400 == 0
    [hot] = prod["capacity"]["storage"]["hot"]
    target = prod_config.storage.fsx.target_gbps_per_training_node
    assert target is not None and target >= 1.0
    assert hot["perTrainingNodeGBps"] >= target
    # The shipped checkpoint size gets a write time in the capacity stage.
    assert hot["checkpointGib"] == prod_config.storage.checkpoint_size_gib > 0
    assert hot["checkpointWriteSeconds"] > 0


def test_prod_efa_file_system_exchanges_all_traffic_with_the_efa_nodes_by_group_id(prod):
    fs = the_lustre(prod)
    [group_urn] = fs["propertyDependencies"]["securityGroupIds"]
    every = [
        r
        for token in (INGRESS, INGRESS.replace("Ingress", "Egress"))
        for r in of_type(prod, token)
        if r["inputs"]["ipProtocol"] == "-1"
        and group_urn
        in [
            *r["propertyDependencies"].get("securityGroupId", []),
            *r["propertyDependencies"].get("referencedSecurityGroupId", []),
        ]
    ]
    assert not any(r["inputs"].get("cidrIpv4") for r in every)
    peers = {
        urn
        for r in every
        for urn in [
            *r["propertyDependencies"]["securityGroupId"],
            *r["propertyDependencies"]["referencedSecurityGroupId"],
        ]
    }
    efa_groups = {u for u in peers if "GpuNodeGroup" in u and u.endswith("-efa")}
    assert group_urn in peers and efa_groups
    # Self, and the EFA group in both directions on both sides: 2 + 4 rules.
    assert len(every) == 2 + 4 * len(efa_groups)
