"""The example stack configs in examples/ resolve and plan as they say."""

from __future__ import annotations

import contextlib
import io
import json
from collections import Counter
from pathlib import Path
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
def b200_plan(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, str, dict[str, Any]]:
    """`python -m scripts.plan --stack prod --config-file examples/b200-training.yaml --json F`,
    run in process: its exit code, what it printed and the document it wrote."""
    from scripts.plan.__main__ import main

    out: Path = tmp_path_factory.mktemp("b200") / "plan.json"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["--stack", "prod", "--config-file", str(B200), "--json", str(out)])
    return code, printed.getvalue(), json.loads(out.read_text())


def test_the_b200_example_plans_with_a_capacity_block_launch_template(b200_plan):
    _, _, document = b200_plan
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


def test_the_b200_example_plans_clean_against_prods_policy_config(b200_plan):
    """The full offline plan (`python -m scripts.plan --stack prod --config-file
    examples/b200-training.yaml`) blocks on nothing: prod's policy config allows the type, and
    the pool's worst case keeps the stack within its budget."""
    code, printed, document = b200_plan
    assert printed.rstrip().splitlines()[-1] == "RESULT: ok", printed[-3000:]
    assert code == 0
    policies = document["policies"]
    assert policies["config"] == "policies/config/prod.json"
    assert [v for v in policies["violations"] if v["enforcementLevel"] == "mandatory"] == []
    assert all(v["verdict"] == "pass" for v in policies["preview"]), policies["preview"]
    cost = document["cost"]
    assert cost["unpriced"] == []
    (b200,) = [r for r in cost["resources"] if r["name"] == "b200-train"]
    # 2 nodes at the catalog's on-demand rate, 730 h: the figure cost-limits enforces.
    hourly = get_instance_type("p6-b200.48xlarge").on_demand_usd_per_hour
    assert hourly is not None
    assert b200["monthlyUsd"]["worst"] == pytest.approx(2 * hourly * 730, abs=0.01)
    assert cost["totals"]["worst"] <= cost["budgetUsd"] == 250_000
