"""`cost-limits` through the analyzer, and the pricing it enforces with (policies/pricing.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.catalog import get_instance_type, service_price
from policies.cost import DEFAULTS, cost_limits, findings
from policies.pricing import (
    EXPECTED_SIZE_TAG,
    HOURS_PER_MONTH,
    POOL_LABEL,
    Res,
    estimate,
)
from tests.policies import check, provider_reference, provider_state, state, urn

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
BUDGET = "aws:budgets/budget:Budget"
FSX = "aws:fsx/lustreFileSystem:LustreFileSystem"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
ALLOW_ALL = {"allowedGpuInstanceTypes": ["*"], "maxGpusPerPool": 1000}


def hourly(instance_type: str) -> float:
    return get_instance_type(instance_type).on_demand_usd_per_hour


def usd(amount: float) -> str:
    return f"${amount:,.2f}"


def pool(
    name: str,
    instance_types: list[str] | None,
    sizes: tuple[int, int, int],
    capacity_type: str | None = "ON_DEMAND",
    property_dependencies: dict[str, list[str]] | None = None,
    label: bool = True,
) -> dict[str, Any]:
    minimum, desired, maximum = sizes
    inputs: dict[str, Any] = {
        "scalingConfig": {"minSize": minimum, "desiredSize": desired, "maxSize": maximum},
    }
    if instance_types is not None:
        inputs["instanceTypes"] = instance_types
    if capacity_type is not None:
        inputs["capacityType"] = capacity_type
    if label:
        inputs["labels"] = {POOL_LABEL: name}
    return state(NODE_GROUP, f"{name}-ng", inputs, property_dependencies)


def budget(limit: str | float) -> dict[str, Any]:
    return state(
        BUDGET,
        "monthly",
        {"budgetType": "COST", "timeUnit": "MONTHLY", "limitAmount": limit, "limitUnit": "USD"},
    )


def limits(*states: dict[str, Any], tmp_path: Path, **config: Any) -> list[dict[str, Any]]:
    return check(
        "cost-limits", *states, tmp_path=tmp_path, config={"cost-limits": {**ALLOW_ALL, **config}}
    )


def messages(found: list[dict[str, Any]]) -> list[str]:
    return [v["message"] for v in found]


P5_POOL = ("h100", ["p5.48xlarge"], (2, 3, 4))


# ------------------------------------------------------------------------- budget


def test_worst_case_above_the_budget_names_both_figures(tmp_path: Path):
    worst = 4 * hourly("p5.48xlarge") * HOURS_PER_MONTH
    (violation,) = limits(pool(*P5_POOL), budget("100000.00"), tmp_path=tmp_path)
    assert violation["urn"] == ""  # a stack finding
    assert violation["enforcementLevel"] == "mandatory"
    message = violation["message"]
    assert message.startswith(f"worst-case monthly cost {usd(worst)} exceeds the budget")
    assert usd(100_000) in message
    assert f"by {usd(worst - 100_000)}" in message
    assert usd(3 * hourly("p5.48xlarge") * HOURS_PER_MONTH) in message  # expected
    assert usd(2 * hourly("p5.48xlarge") * HOURS_PER_MONTH) in message  # idle


def test_worst_case_within_the_budget_passes(tmp_path: Path):
    assert limits(pool(*P5_POOL), budget("200000"), tmp_path=tmp_path) == []


def test_worst_case_exactly_at_the_budget_passes(tmp_path: Path):
    worst = round(4 * hourly("p5.48xlarge") * HOURS_PER_MONTH, 2)
    assert limits(pool(*P5_POOL), budget(f"{worst:.2f}"), tmp_path=tmp_path) == []


def test_a_lower_max_monthly_usd_wins_over_the_budget(tmp_path: Path):
    over_budget, over_ceiling = limits(
        pool(*P5_POOL), budget("200000"), tmp_path=tmp_path, maxMonthlyUsd=150_000
    )
    assert over_ceiling["message"] == (
        f"budget monthly of {usd(200_000)} is above this stack's ceiling {usd(150_000)} "
        "(maxMonthlyUsd)"
    )
    assert over_ceiling["urn"].endswith("::monthly")
    assert f"exceeds the budget {usd(150_000)}" in over_budget["message"]


def test_a_lower_budget_wins_over_max_monthly_usd(tmp_path: Path):
    (violation,) = limits(
        pool(*P5_POOL), budget("100000"), tmp_path=tmp_path, maxMonthlyUsd=500_000
    )
    assert f"exceeds the budget {usd(100_000)}" in violation["message"]


def test_max_monthly_usd_alone_is_a_budget(tmp_path: Path):
    assert limits(pool(*P5_POOL), tmp_path=tmp_path, maxMonthlyUsd=200_000) == []


def test_no_budget_and_no_max_monthly_usd_is_a_violation(tmp_path: Path):
    (violation,) = limits(pool(*P5_POOL), tmp_path=tmp_path)
    assert violation["message"].startswith("no budget")


def test_a_budget_limit_that_is_not_a_number_is_a_violation(tmp_path: Path):
    found = limits(pool(*P5_POOL), budget("lots"), tmp_path=tmp_path, maxMonthlyUsd=1e6)
    assert messages(found) == ["budget monthly: limitAmount is not a number"]


# ------------------------------------------------------------------------- unpriced


def test_an_unknown_instance_type_is_a_violation_not_a_skip(tmp_path: Path):
    found = limits(pool("mystery", ["x9.huge"], (0, 0, 2)), budget(1e6), tmp_path=tmp_path)
    assert messages(found) == ["node group mystery: instance type x9.huge has no price"]


def test_one_unknown_type_among_known_ones_is_still_a_violation(tmp_path: Path):
    ng = pool("mixed", ["g4dn.xlarge", "x9.huge"], (0, 0, 2))
    found = limits(ng, budget(1e6), tmp_path=tmp_path)
    assert messages(found) == ["node group mixed: instance type x9.huge has no price"]


def test_a_node_group_without_an_instance_type_is_a_violation(tmp_path: Path):
    found = limits(pool("bare", None, (0, 0, 2)), budget(1e6), tmp_path=tmp_path)
    assert messages(found) == ["node group bare: no instance type to price"]


def fsx(throughput: float, capacity: int = 2400) -> dict[str, Any]:
    return state(
        FSX,
        "scratch",
        {
            "deploymentType": "PERSISTENT_2",
            "storageCapacity": capacity,
            "perUnitStorageThroughput": throughput,
            "kmsKeyId": "arn:aws:kms:us-east-1:111122223333:key/k",
        },
    )


def test_an_fsx_tier_the_snapshot_lacks_is_a_violation_naming_the_price_key(tmp_path: Path):
    (violation,) = limits(fsx(1000), budget(1e6), tmp_path=tmp_path)
    assert "fsx_lustre_persistent2_1000_gb_month" in violation["message"]
    assert "scratch" in violation["message"]


def test_an_fsx_tier_the_snapshot_has_is_priced(tmp_path: Path):
    assert limits(fsx(125), budget(1e6), tmp_path=tmp_path) == []


# ------------------------------------------------------------------------- GPU rules


def test_a_pool_above_the_gpu_cap_is_reported_on_the_pool(tmp_path: Path):
    ng = pool("t4-big", ["g4dn.12xlarge"], (0, 0, 4))  # 4 GPUs each: 16 at max size
    (violation,) = limits(ng, budget(1e6), tmp_path=tmp_path, maxGpusPerPool=8)
    assert violation["urn"] == ng["urn"]
    assert violation["message"].startswith("pool t4-big reaches 16 GPUs at max size; the cap is 8")


def test_a_pool_exactly_at_the_gpu_cap_passes(tmp_path: Path):
    ng = pool("t4-big", ["g4dn.12xlarge"], (0, 0, 2))
    assert limits(ng, budget(1e6), tmp_path=tmp_path, maxGpusPerPool=8) == []


def test_the_gpu_cap_is_printed_as_a_whole_number(tmp_path: Path):
    ng = pool("t4-big", ["g4dn.12xlarge"], (0, 0, 4))
    (violation,) = limits(ng, budget(1e6), tmp_path=tmp_path, maxGpusPerPool=8)
    assert violation["message"].endswith("the cap is 8")


def test_a_gpu_type_outside_the_allowed_patterns_is_reported_on_the_pool(tmp_path: Path):
    ng = pool(*P5_POOL)
    found = limits(ng, budget(1e6), tmp_path=tmp_path, allowedGpuInstanceTypes=["g4dn.*", "g5.*"])
    (violation,) = found
    assert violation["urn"] == ng["urn"]
    assert (
        violation["message"] == "pool h100: p5.48xlarge is not allowed here (allowed: g4dn.*, g5.*)"
    )


def test_allowed_gpu_types_and_cpu_pools_pass_the_allow_list(tmp_path: Path):
    gpu = pool("t4", ["g4dn.xlarge", "g4dn.2xlarge"], (0, 0, 2))
    cpu = pool("system", ["m7i.xlarge"], (2, 2, 3))
    config = {"allowedGpuInstanceTypes": ["g4dn.*"]}
    assert limits(gpu, cpu, budget(1e6), tmp_path=tmp_path, **config) == []


def test_a_spot_share_below_the_minimum_names_the_percentages(tmp_path: Path):
    spot = pool("spot", ["g4dn.xlarge"], (0, 0, 4), capacity_type="SPOT")
    on_demand = pool("od", ["g4dn.xlarge"], (0, 0, 12))
    (violation,) = limits(spot, on_demand, budget(1e6), tmp_path=tmp_path, minSpotGpuShare=0.5)
    assert violation["urn"] == ""
    assert violation["message"] == (
        "spot share of GPU capacity is 25% (4 of 16 GPUs at max size); the minimum is 50%"
    )


def test_a_spot_share_at_the_minimum_passes(tmp_path: Path):
    spot = pool("spot", ["g4dn.xlarge"], (0, 0, 4), capacity_type="SPOT")
    on_demand = pool("od", ["g4dn.xlarge"], (0, 0, 12))
    assert limits(spot, on_demand, budget(1e6), tmp_path=tmp_path, minSpotGpuShare=0.25) == []


def test_cpu_pools_do_not_count_towards_the_spot_share(tmp_path: Path):
    spot = pool("spot", ["g4dn.xlarge"], (0, 0, 4), capacity_type="SPOT")
    cpu = pool("system", ["m7i.xlarge"], (2, 2, 30))
    assert limits(spot, cpu, budget(1e6), tmp_path=tmp_path, minSpotGpuShare=1.0) == []


def test_an_on_demand_p5_pool_needs_a_capacity_block(tmp_path: Path):
    ng = pool(*P5_POOL)
    (violation,) = limits(ng, budget(1e6), tmp_path=tmp_path, requireCapacityBlockForP5=True)
    assert violation["urn"] == ng["urn"]
    assert violation["message"].startswith("pool h100 runs p5 on demand")


def test_an_on_demand_p5_pool_without_a_capacity_type_counts_as_on_demand(tmp_path: Path):
    ng = pool(*P5_POOL, capacity_type=None)
    (violation,) = limits(ng, budget(1e6), tmp_path=tmp_path, requireCapacityBlockForP5=True)
    assert violation["urn"] == ng["urn"]


def test_an_on_demand_p5_pool_listed_by_its_pool_label_is_allowed(tmp_path: Path):
    ng = pool(*P5_POOL)
    config = {"requireCapacityBlockForP5": True, "allowOnDemandP5Pools": ["h100"]}
    assert limits(ng, budget(1e6), tmp_path=tmp_path, **config) == []
    # The allow list names pools (the label), not node group resources.
    config = {"requireCapacityBlockForP5": True, "allowOnDemandP5Pools": ["h100-ng"]}
    assert len(limits(ng, budget(1e6), tmp_path=tmp_path, **config)) == 1


def test_a_pool_without_the_label_is_named_after_its_resource(tmp_path: Path):
    ng = pool(*P5_POOL, label=False)
    config = {"requireCapacityBlockForP5": True, "allowOnDemandP5Pools": ["h100-ng"]}
    assert limits(ng, budget(1e6), tmp_path=tmp_path, **config) == []


def test_on_demand_p5_passes_when_capacity_blocks_are_not_required(tmp_path: Path):
    assert limits(pool(*P5_POOL), budget(1e6), tmp_path=tmp_path) == []


def capacity_block_pool() -> tuple[dict[str, Any], dict[str, Any]]:
    lt = state(
        LAUNCH_TEMPLATE,
        "h100-cb-lt",
        {
            "instanceType": "p5.48xlarge",
            "instanceMarketOptions": {"marketType": "capacity-block"},
        },
    )
    ng = pool(
        "h100-cb",
        None,
        (0, 0, 2),
        capacity_type="CAPACITY_BLOCK",
        property_dependencies={"launchTemplate": [lt["urn"]]},
    )
    return lt, ng


def test_a_capacity_block_p5_pool_passes_and_is_priced_from_its_launch_template(tmp_path: Path):
    lt, ng = capacity_block_pool()
    config = {"requireCapacityBlockForP5": True, "allowedGpuInstanceTypes": ["p5.*"]}
    assert limits(lt, ng, budget(1e6), tmp_path=tmp_path, **config) == []
    # It is priced (and so within the GPU rules) through the template's instance type.
    (violation,) = limits(lt, ng, budget(1e6), tmp_path=tmp_path, maxGpusPerPool=8)
    assert violation["urn"] == ng["urn"]
    assert "reaches 16 GPUs" in violation["message"]
    (violation,) = limits(lt, ng, budget(1000), tmp_path=tmp_path)
    assert usd(2 * hourly("p5.48xlarge") * HOURS_PER_MONTH) in violation["message"]


def test_the_default_config_allows_a_lone_small_pool(tmp_path: Path):
    """With the schema defaults (cap 64, any type, no spot minimum) only the budget binds."""
    ng = pool("t4", ["g4dn.xlarge"], (0, 0, 4))
    assert check("cost-limits", ng, budget(1e6), tmp_path=tmp_path, config={}) == []


# ------------------------------------------------------------------------- pricing figures


def res(type_token: str, name: str, props: dict[str, Any], deps: Any = None) -> Res:
    return Res(type_token, urn(type_token, name), props, deps or {})


def node_group(sizes: tuple[int, ...], types: list[str], **extra: Any) -> Res:
    scaling = dict(zip(("minSize", "desiredSize", "maxSize"), sizes, strict=False))
    if len(sizes) == 2:
        scaling = {"minSize": sizes[0], "maxSize": sizes[1]}
    return res(NODE_GROUP, "ng", {"instanceTypes": types, "scalingConfig": scaling, **extra})


def test_the_catalog_prices_match_the_shared_facts():
    assert hourly("p5.48xlarge") == 55.04
    assert hourly("g4dn.xlarge") == 0.526
    assert service_price("eks_cluster_hour") == 0.10
    assert service_price("eks_cluster_extended_support_hour") == 0.60
    assert service_price("nat_gateway_hour") == 0.045
    assert service_price("s3_standard_gb_month") == 0.023
    assert service_price("fsx_lustre_persistent2_125_gb_month") == 0.145


def test_a_p5_pool_is_priced_at_min_desired_and_max_size():
    est = estimate([node_group((2, 3, 4), ["p5.48xlarge"])])
    (line,) = est.lines
    price = hourly("p5.48xlarge")
    assert line.monthly == {
        "idle": round(2 * price * 730, 2),
        "expected": round(3 * price * 730, 2),
        "worst": round(4 * price * 730, 2),
    }
    assert line.monthly["worst"] == 160_716.80  # 4 x $55.04 x 730 h
    assert line.tier == "compute-gpu"
    assert (est.total("idle"), est.total("expected"), est.total("worst")) == (
        line.monthly["idle"],
        line.monthly["expected"],
        line.monthly["worst"],
    )
    (p,) = est.pools
    assert (p.min_size, p.desired_size, p.max_size, p.gpus_at_max) == (2, 3, 4, 32)


def test_a_pool_with_several_types_is_cheapest_when_idle_and_dearest_at_worst():
    est = estimate([node_group((1, 2, 3), ["g4dn.xlarge", "g4dn.2xlarge"])])
    (line,) = est.lines
    cheap, dear = hourly("g4dn.xlarge"), hourly("g4dn.2xlarge")
    assert cheap < dear
    assert line.monthly == {
        "idle": round(1 * cheap * 730, 2),
        "expected": round(2 * cheap * 730, 2),
        "worst": round(3 * dear * 730, 2),
    }


def test_a_pool_without_a_desired_size_is_expected_at_its_minimum():
    est = estimate([node_group((2, 5), ["m7i.xlarge"])])
    (line,) = est.lines
    assert (
        line.monthly["expected"] == line.monthly["idle"] == round(2 * hourly("m7i.xlarge") * 730, 2)
    )
    assert line.tier == "compute-cpu"


def test_a_capacity_block_pool_is_priced_from_its_launch_template():
    lt = res(LAUNCH_TEMPLATE, "lt", {"instanceType": "p5.48xlarge"})
    ng = res(
        NODE_GROUP,
        "ng",
        {"capacityType": "CAPACITY_BLOCK", "scalingConfig": {"minSize": 0, "maxSize": 2}},
        {"launchTemplate": [lt.urn]},
    )
    est = estimate([lt, ng])
    (p,) = est.pools
    assert (p.capacity_type, [t.name for t in p.types]) == ("CAPACITY_BLOCK", ["p5.48xlarge"])
    assert est.total("worst") == round(2 * hourly("p5.48xlarge") * 730, 2)


@pytest.mark.parametrize(
    ("upgrade_policy", "key", "monthly"),
    [
        ({"supportType": "STANDARD"}, "eks_cluster_hour", 73.0),
        ({"supportType": "EXTENDED"}, "eks_cluster_extended_support_hour", 438.0),
        (None, "eks_cluster_extended_support_hour", 438.0),  # EKS's default is extended
    ],
)
def test_the_eks_control_plane_is_priced_by_support_type(upgrade_policy, key, monthly):
    props = {"upgradePolicy": upgrade_policy} if upgrade_policy else {}
    (line,) = estimate([res("aws:eks/cluster:Cluster", "eks", props)]).lines
    assert line.monthly == dict.fromkeys(("idle", "expected", "worst"), monthly)
    assert line.monthly["worst"] == round(service_price(key) * 730, 2)
    assert (line.tier, line.detail) == ("control-plane", key)


def test_a_nat_gateway_is_priced_per_hour():
    (line,) = estimate([res("aws:ec2/natGateway:NatGateway", "nat", {})]).lines
    assert line.monthly["idle"] == line.monthly["worst"] == round(0.045 * 730, 2) == 32.85
    assert line.tier == "network"


@pytest.mark.parametrize("subnets", [1, 2, 3])
def test_an_interface_endpoint_is_priced_per_subnet(subnets: int):
    props = {
        "vpcEndpointType": "Interface",
        "subnetIds": [f"subnet-{i}" for i in range(subnets)],
    }
    (line,) = estimate([res("aws:ec2/vpcEndpoint:VpcEndpoint", "ecr", props)]).lines
    per_az = service_price("vpc_interface_endpoint_az_hour")
    assert line.monthly["worst"] == round(subnets * per_az * 730, 2)
    assert line.detail == f"{subnets} AZs"


def test_a_gateway_endpoint_is_free():
    props = {"vpcEndpointType": "Gateway", "serviceName": "com.amazonaws.us-east-1.s3"}
    assert estimate([res("aws:ec2/vpcEndpoint:VpcEndpoint", "s3", props)]).lines == []


@pytest.mark.parametrize("kind", ["aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"])
def test_a_bucket_is_priced_from_its_expected_size_tag(kind: str):
    (line,) = estimate([res(kind, "data", {"tags": {EXPECTED_SIZE_TAG: "200"}})]).lines
    # S3 bills per binary GB: 200 GiB at the Standard rate.
    expected = round(200 * service_price("s3_standard_gb_month"), 2)
    assert line.monthly == dict.fromkeys(("idle", "expected", "worst"), expected)
    assert expected == 4.6
    assert line.tier == "storage-warm"


def test_a_bucket_without_the_expected_size_tag_is_unpriced():
    est = estimate([res("aws:s3/bucket:Bucket", "data", {"tags": {"owner": "x"}})])
    assert est.lines == []
    assert est.unpriced == [f"bucket data: no {EXPECTED_SIZE_TAG} tag"]


def test_a_bucket_with_an_unreadable_expected_size_is_unpriced():
    est = estimate([res("aws:s3/bucket:Bucket", "data", {"tags": {EXPECTED_SIZE_TAG: "200GiB"}})])
    assert est.lines == []
    assert len(est.unpriced) == 1 and "data" in est.unpriced[0]


def test_fsx_and_kms_are_priced_as_always_on():
    fs = res(FSX, "fs", {"storageCapacity": 2400, "perUnitStorageThroughput": 125.0})
    key = res("aws:kms/key:Key", "key", {})
    est = estimate([fs, key])
    by_name = {line.name: line for line in est.lines}
    assert by_name["fs"].monthly["worst"] == round(2400 * 0.145, 2)
    assert by_name["fs"].tier == "storage-hot"
    assert by_name["key"].monthly["worst"] == service_price("kms_key_month")
    assert est.unpriced == []


def test_an_fsx_tier_without_a_price_is_unpriced_not_zero():
    fs = res(FSX, "fs", {"storageCapacity": 2400, "perUnitStorageThroughput": 1000})
    est = estimate([fs])
    assert est.lines == []
    assert est.unpriced == [
        "file system fs: no price fsx_lustre_persistent2_1000_gb_month in the snapshot (no "
        "citable public price for PERSISTENT_2 at 1000 MB/s/TiB; `python -m scripts.ops prices "
        "refresh` adds it from the AWS Price List API)"
    ]


@pytest.mark.parametrize("throughput", [250, 500, 1000])
def test_the_faster_fsx_tiers_stay_unpriced_until_a_source_is_cited(throughput: int):
    fs = res(FSX, "fs", {"storageCapacity": 4800, "perUnitStorageThroughput": throughput})
    (problem,) = estimate([fs]).unpriced
    assert f"fsx_lustre_persistent2_{throughput}_gb_month" in problem
    assert f"PERSISTENT_2 at {throughput} MB/s/TiB" in problem


# ------------------------------------------------------------------ regions, unpriced types


def test_a_type_without_a_citable_price_is_unpriced_not_zero():
    est = estimate([node_group((0, 1, 2), ["p5e.48xlarge"])])
    assert est.lines == []
    assert est.unpriced == [
        "node group ng: instance type p5e.48xlarge has no price in the us-east-1 snapshot "
        "(no citable on-demand price)"
    ]


def test_the_new_fleet_is_priced_at_the_snapshot_rates():
    est = estimate([node_group((1, 1, 2), ["p6-b200.48xlarge"])])
    (line,) = est.lines
    assert line.monthly["idle"] == round(113.9328 * HOURS_PER_MONTH, 2)
    assert line.monthly["worst"] == round(2 * 113.9328 * HOURS_PER_MONTH, 2)


def test_resources_in_another_region_are_unpriced_not_priced_at_us_east_1_rates():
    group = node_group((1, 1, 2), ["g5.xlarge"])
    elsewhere = [
        Res(group.type, group.urn, group.props, region="eu-west-1"),
        Res(
            FSX,
            urn(FSX, "fs"),
            {"storageCapacity": 1200, "perUnitStorageThroughput": 125},
            region="eu-west-1",
        ),
        Res(
            "aws:ec2/natGateway:NatGateway",
            urn("aws:ec2/natGateway:NatGateway", "nat"),
            {},
            region="eu-west-1",
        ),
    ]
    est = estimate(elsewhere)
    assert est.lines == []
    assert len(est.unpriced) == 3
    assert all("runs in eu-west-1, the price snapshot is us-east-1's" in u for u in est.unpriced)
    assert est.unpriced[0].startswith("node group ng:")


def test_resources_in_the_snapshot_region_or_of_unknown_region_are_priced():
    group = node_group((1, 1, 2), ["g5.xlarge"])
    for region in ("us-east-1", None):
        est = estimate([Res(group.type, group.urn, group.props, region=region)])
        assert est.unpriced == []
        assert est.total("idle") == round(hourly("g5.xlarge") * HOURS_PER_MONTH, 2)


def test_the_pack_reports_a_stack_in_another_region_as_unpriced(tmp_path: Path):
    provider = provider_state("default_7_0_0", {"region": "eu-west-1"})
    group = pool(*P5_POOL)
    group["provider"] = provider_reference(provider)
    found = messages(limits(provider, group, budget(1e6), tmp_path=tmp_path))
    assert any("h100" in m and "runs in eu-west-1" in m for m in found), found


def test_the_pack_prices_a_stack_in_the_snapshot_region(tmp_path: Path):
    provider = provider_state("default_7_0_0", {"region": "us-east-1"})
    group = pool(*P5_POOL)
    group["provider"] = provider_reference(provider)
    assert limits(provider, group, budget(1e6), tmp_path=tmp_path) == []


MONTHLY_COST = {"budgetType": "COST", "timeUnit": "MONTHLY", "limitUnit": "USD"}


def test_budgets_are_read_from_the_limit_amount():
    est = estimate(
        [
            res(BUDGET, "b", {**MONTHLY_COST, "limitAmount": "3000.00"}),
            res(BUDGET, "c", {**MONTHLY_COST, "limitAmount": 5}),
        ]
    )
    assert est.budgets_usd == [3000.0, 5.0]


def test_by_tier_sums_the_lines():
    est = estimate(
        [
            node_group((1, 1, 2), ["g4dn.xlarge"]),
            res("aws:ec2/natGateway:NatGateway", "nat", {}),
            res("aws:ec2/natGateway:NatGateway", "nat2", {}),
        ]
    )
    tiers = est.by_tier("worst")
    assert tiers == {
        "compute-gpu": round(2 * hourly("g4dn.xlarge") * 730, 2),
        "network": round(2 * 32.85, 2),
    }
    assert round(sum(tiers.values()), 2) == est.total("worst")


GPU_TYPES = [
    "g4dn.xlarge",
    "g4dn.12xlarge",
    "g5.xlarge",
    "g6.xlarge",
    "p4d.24xlarge",
    "p5.48xlarge",
]


@settings(max_examples=60, deadline=None)
@given(
    pools=st.lists(
        st.tuples(
            st.lists(
                st.sampled_from([*GPU_TYPES, "m7i.xlarge"]), min_size=1, max_size=3, unique=True
            ),
            st.integers(0, 20),
            st.integers(0, 20),
            st.integers(0, 20),
            st.sampled_from(["ON_DEMAND", "SPOT"]),
        ),
        max_size=4,
    ),
    limit=st.floats(1, 2_000_000, allow_nan=False),
)
def test_scales_are_ordered_and_the_budget_rule_matches_the_total(pools, limit):
    resources = []
    for i, (types, a, b, c) in enumerate((p[0], *sorted(p[1:4])) for p in pools):
        resources.append(
            res(
                NODE_GROUP,
                f"ng{i}",
                {
                    "instanceTypes": types,
                    "capacityType": pools[i][4],
                    "scalingConfig": {"minSize": a, "desiredSize": b, "maxSize": c},
                },
            )
        )
    est = estimate(resources)
    assert est.total("idle") <= est.total("expected") <= est.total("worst")
    expected_worst = sum(round(max(p[1:4]) * max(hourly(t) for t in p[0]) * 730, 2) for p in pools)
    assert est.total("worst") == pytest.approx(expected_worst, abs=0.01)
    found = findings(est, {**DEFAULTS, "maxGpusPerPool": 10_000, "maxMonthlyUsd": limit})
    over_budget = [m for m, _ in found if m.startswith("worst-case")]
    assert bool(over_budget) == (est.total("worst") > limit)


def test_findings_defaults_match_the_policy_schema():
    schema = cost_limits.config_schema
    assert schema is not None
    defaults = {k: v["default"] for k, v in schema.properties.items() if "default" in v}
    assert defaults == DEFAULTS
