"""The example stack configs in examples/ resolve and plan as they say."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from components.catalog import get_instance_type
from components.config import CapacityType, load_stack_config, read_stack_file
from components.resolve import resolve_platform
from components.resolve.compute import NetworkInterface, efa_layout
from tests.conftest import ROOT

B200 = ROOT / "examples" / "b200-training.yaml"


def _b200_spec() -> Any:
    config = load_stack_config(read_stack_file(B200))
    return resolve_platform(config, "gpu-platform", "prod")


def test_every_example_is_tested():
    assert sorted(p.name for p in (ROOT / "examples").glob("*.yaml")) == [B200.name]


def test_the_b200_example_resolves_to_a_capacity_block_pool_with_the_full_efa_layout():
    spec = _b200_spec()
    (pool,) = [p for p in spec.pools if p.name == "b200-train"]
    assert [t.name for t in pool.instance_types] == ["p6-b200.48xlarge"]
    assert pool.capacity_type is CapacityType.CAPACITY_BLOCK
    assert pool.reservation_id == "cr-0b200b200b200b200"
    assert pool.azs == ["us-east-1c"]
    assert pool.placement_group is False  # the block decides placement
    # The ENA primary on card 0, one efa-only device on each of the 8 cards.
    assert pool.network_interfaces[0] == NetworkInterface(0, 0, "interface")
    efa = [i for i in pool.network_interfaces if i.interface_type == "efa-only"]
    assert pool.efa_devices == len(efa) == 8
    assert get_instance_type("p6-b200.48xlarge").max_efa_interfaces == 8
    assert Counter(i.network_card_index for i in efa) == dict.fromkeys(range(8), 1)
    assert NetworkInterface(0, 1, "efa-only") in efa
    assert pool.network_interfaces == efa_layout(get_instance_type("p6-b200.48xlarge"))
    assert (
        pool.autoscaler_tags[
            "k8s.io/cluster-autoscaler/node-template/resources/vpc.amazonaws.com/efa"
        ]
        == "8"
    )


@pytest.fixture(scope="module")
def b200_plan() -> tuple[dict[str, Any], dict[str, Any]]:
    from scripts.plan.__main__ import plan

    return plan("prod", config_file=B200)


def test_the_b200_example_plans_with_a_capacity_block_launch_template(b200_plan):
    document, _ = b200_plan
    states = {s["newState"]["urn"].rsplit("::", 1)[-1]: s["newState"] for s in document["steps"]}
    template = states["pool-b200-train-lt"]["inputs"]
    assert template["instanceType"] == "p6-b200.48xlarge"
    assert template["instanceMarketOptions"]["marketType"] == "capacity-block"
    interfaces = template["networkInterfaces"]
    assert len(interfaces) == 9
    assert sum(i["interfaceType"] == "efa-only" for i in interfaces) == 8
    group = states["pool-b200-train-ng"]["inputs"]
    assert group["capacityType"] == "CAPACITY_BLOCK"
    pools = {p["name"]: p for p in document["capacity"]["pools"]}
    assert pools["b200-train"]["efa"]["percent"] == 100


def test_the_b200_example_is_blocked_only_by_prods_allowed_gpu_types(b200_plan):
    """As the example says: prod's policy config must allow the type first."""
    _, results = b200_plan
    blocking = [b for _, result in results.values() for b in result.blocking]
    assert len(blocking) == 1, blocking
    assert "p6-b200.48xlarge is not allowed here" in blocking[0]
