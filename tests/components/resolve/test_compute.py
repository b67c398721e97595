"""Pure GPU pool resolution (components.resolve.compute): EFA layout, placement, capacity, user
data, labels and taints.

Pools are a shipped stack's config with `gpuPools` replaced, resolved as the program does. Per-type
numbers come from the catalog; the only pinned ones are AWS's published network-card counts
(p5.48xlarge 32 EFA devices, p5en.48xlarge 16, p4d.24xlarge 4).
"""

from __future__ import annotations

import base64
import email
import json
import tomllib
from collections import Counter
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from components.catalog import all_instance_types, get_instance_type, types_meeting
from components.catalog.conventions import (
    AUTOSCALER_TEMPLATE,
    EFA_LABEL,
    GPU_TAINT,
    NODE_POOL_LABEL,
    SPOT_TAINT,
)
from components.config import CapacityType, ConfigError
from components.resolve.compute import (
    EFA_DEVICE_TYPES,
    POOL_REPAIR,
    RESERVED_REPAIR,
    GpuPoolSpec,
    NetworkInterface,
    efa_device_count,
    efa_layout,
    resolve_pool,
)
from tests.support import STACKS, config, platform, raw_config

STACK = "prod"
"""Three AZs: a one-AZ pool and an every-AZ pool differ."""
AZS = config(STACK).availability_zones
ADDONS = {**json.loads(raw_config(STACK)["gpu-platform:addons"]), "triton": False}
"""The stack's add-ons without Triton, which needs an inference pool the tests may not have."""
RESERVATION = "cr-0123456789abcdef0"
EFA_GPU_TYPES = [t for t in all_instance_types() if t.is_gpu and t.efa_supported]


def pool(**fields: Any) -> dict[str, Any]:
    """A `gpuPools` entry in camelCase (defaults: a small on-demand T4 pool)."""
    raw: dict[str, Any] = {"name": "gpu", "maxSize": 4}
    if "gpuNeed" not in fields:
        raw["instanceTypes"] = ["g4dn.xlarge"]
    raw.update(fields)
    return raw


def filler(index: int) -> dict[str, Any]:
    return pool(name=f"fill{index}", maxSize=1)


def resolve_at(entry: dict[str, Any], index: int = 0) -> GpuPoolSpec:
    """The stack resolved with `entry` as `gpuPools[index]` (earlier entries: small T4 pools)."""
    pools = [filler(i) for i in range(index)] + [entry]
    return platform(STACK, gpuPools=pools, addons=ADDONS).pools[index]


def resolve(entry: dict[str, Any]) -> GpuPoolSpec:
    return resolve_at(entry)


def p5_pool(**fields: Any) -> dict[str, Any]:
    return pool(name="h100", purpose="training", instanceTypes=["p5.48xlarge"], efa=True, **fields)


def config_keys(error: ConfigError) -> list[str]:
    return [key for key, _ in error.problems]


def refused(entry: dict[str, Any], index: int = 0) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        resolve_at(entry, index)
    return config_keys(caught.value)


# --------------------------------------------------------------------------- the program's path


def test_platform_pools_are_resolve_pool_of_each_configured_pool():
    stack_config = config(STACK)
    spec = platform(STACK)
    assert len(spec.pools) == len(stack_config.gpu_pools) >= 2
    for index, gpu_pool in enumerate(stack_config.gpu_pools):
        assert spec.pools[index] == resolve_pool(
            gpu_pool,
            index,
            AZS,
            spec.tags,
            spec.cluster.name,
            stack_config.region,
            stack_config.custom_networking,
        )
    assert all(p.tags == spec.tags for p in spec.pools)
    assert spec.tags["stack"] == STACK


# --------------------------------------------------------------------------- EFA layout


def test_the_catalog_has_efa_gpu_types():
    names = {t.name for t in EFA_GPU_TYPES}
    assert {"p5.48xlarge", "p5en.48xlarge", "p4d.24xlarge"} <= names


@pytest.mark.parametrize("instance", EFA_GPU_TYPES, ids=lambda t: t.name)
def test_efa_layout_follows_each_types_network_cards(instance):
    """AWS's recommended layout, checked against the card data of every EFA type."""
    layout = efa_layout(instance)
    default = instance.default_network_card_index
    efa_cards = [c for c in instance.cards if "efa-only" in c.interface_types]
    efa_only = [i for i in layout if i.interface_type == "efa-only"]
    # One ENA primary, at device 0 of the default card, first.
    assert [i for i in layout if i.interface_type == "interface"] == [layout[0]]
    assert (layout[0].network_card_index, layout[0].device_index) == (default, 0)
    # At most one EFA device per card, only on cards that take one, within the type's limit,
    # and on every such card up to that limit.
    per_card = Counter(i.network_card_index for i in efa_only)
    assert set(per_card.values()) == {1}
    assert set(per_card) <= {c.index for c in efa_cards}
    assert len(efa_only) == min(instance.max_efa_interfaces, len(efa_cards)) > 0
    # The default card's EFA device is its device 1, every other card's is device 0.
    for i in efa_only:
        assert i.device_index == (1 if i.network_card_index == default else 0)
    # No slot twice, no card over its own interface limit.
    by_slot = {(i.network_card_index, i.device_index) for i in layout}
    assert len(by_slot) == len(layout)
    limits = {c.index: c.max_interfaces for c in instance.cards}
    for card, used in Counter(i.network_card_index for i in layout).items():
        assert used <= limits[card]
    assert len(layout) <= instance.max_network_interfaces


@pytest.mark.parametrize(
    ("name", "efa_devices", "cards_with_efa"),
    [
        ("p5.48xlarge", 32, range(32)),
        ("p5e.48xlarge", 32, range(32)),
        ("p5en.48xlarge", 16, range(16)),
        ("p6-b200.48xlarge", 8, range(8)),
        ("p6-b300.48xlarge", 16, range(1, 17)),  # card 0 takes ENA only
        ("p4d.24xlarge", 4, range(4)),
        ("p4de.24xlarge", 4, range(4)),
        ("g6e.48xlarge", 4, range(4)),
        ("g6e.24xlarge", 2, range(2)),
        ("g6e.12xlarge", 1, range(1)),
        ("p5.4xlarge", 1, range(1)),
        ("g4dn.12xlarge", 1, range(1)),
    ],
)
def test_efa_device_counts_per_type(name, efa_devices, cards_with_efa):
    it = get_instance_type(name)
    layout = efa_layout(it)
    efa = [i for i in layout if i.interface_type == "efa-only"]
    assert len(efa) == efa_devices == efa_device_count(it)
    assert sorted(i.network_card_index for i in efa) == list(cards_with_efa)
    assert layout[0] == NetworkInterface(0, 0, "interface")
    assert len(layout) == efa_devices + 1


def test_p6_b300_puts_no_efa_on_its_ena_only_card():
    layout = efa_layout(get_instance_type("p6-b300.48xlarge"))
    assert [i for i in layout if i.network_card_index == 0] == [NetworkInterface(0, 0, "interface")]
    assert NetworkInterface(1, 0, "efa-only") in layout


@pytest.mark.parametrize("name", ["g4dn.xlarge", "g5.xlarge", "g6e.xlarge", "m5.large"])
def test_types_without_efa_get_no_layout(name):
    assert efa_layout(get_instance_type(name)) == []
    assert efa_device_count(get_instance_type(name)) == 0


def test_efa_on_a_type_without_efa_is_a_config_error():
    with pytest.raises(ConfigError, match=r"gpuPools\[0\]\.efa.*g6e\.xlarge does not support EFA"):
        resolve(pool(name="l40s", instanceTypes=["g6e.xlarge"], efa=True))


def test_efa_pool_mixing_layouts_is_a_config_error():
    with pytest.raises(ConfigError, match="same EFA layout"):
        resolve(
            pool(name="mixed", instanceTypes=["p5.48xlarge", "p5en.48xlarge"], efa=True, maxSize=2)
        )


def test_p5_uses_both_devices_of_card_zero_only():
    layout = efa_layout(get_instance_type("p5.48xlarge"))
    per_card = Counter(i.network_card_index for i in layout)
    assert per_card[0] == 2
    assert set(per_card.values()) == {1, 2}
    assert len(layout) == 33


@pytest.mark.parametrize("instance", EFA_GPU_TYPES, ids=lambda t: t.name)
def test_with_custom_networking_the_default_card_keeps_a_slot_for_the_pods_interface(instance):
    layout = efa_layout(instance, custom_networking=True)
    default = instance.default_network_card_index
    card = next(c for c in instance.cards if c.index == default)
    on_default = [i for i in layout if i.network_card_index == default]
    # One interface on the default card: the primary, the node's IP ...
    assert [(i.device_index) for i in on_default] == [0]
    # ... which is also the card's EFA device where the card takes EFA (p6-b300's takes ENA only).
    takes_efa = "efa-only" in card.interface_types
    assert on_default[0].interface_type == ("efa" if takes_efa else "interface")
    # So the VPC CNI has room there for the pods' interface in the pod subnet.
    assert card.max_interfaces - len(on_default) >= 1
    # The same EFA devices, card by card, as the default layout.
    efa = Counter(i.network_card_index for i in layout if i.interface_type in EFA_DEVICE_TYPES)
    plain = efa_layout(instance)
    assert efa == Counter(
        i.network_card_index for i in plain if i.interface_type in EFA_DEVICE_TYPES
    )
    assert efa_device_count(instance, True) == efa_device_count(instance) == sum(efa.values())


def test_prods_p5_pool_gets_the_custom_networking_layout_with_32_efa_devices():
    spec = platform("prod")
    h100 = next(p for p in spec.pools if p.name == "h100-train")
    assert h100.network_interfaces == efa_layout(get_instance_type("p5.48xlarge"), True)
    assert h100.efa_devices == 32
    without = next(p for p in platform("prod", podNetwork=None).pools if p.name == "h100-train")
    assert without.network_interfaces == efa_layout(get_instance_type("p5.48xlarge"))
    assert without.efa_devices == 32


# --------------------------------------------------------------------------- an EFA p5 pool


def test_p5_efa_pool_is_one_az_in_a_placement_group():
    spec = resolve(p5_pool())
    assert spec.efa
    assert spec.placement_group is True
    assert spec.azs == [AZS[0]]
    assert spec.efa_devices == 32
    # prod runs VPC CNI custom networking (podNetwork): card 0's EFA device is the primary.
    assert spec.network_interfaces == efa_layout(get_instance_type("p5.48xlarge"), True)
    assert spec.gpus_per_node == get_instance_type("p5.48xlarge").gpu_count


def test_p5_efa_pool_honours_its_configured_az():
    spec = resolve(p5_pool(availabilityZones=[AZS[2]]))
    assert spec.azs == [AZS[2]]


def test_p5_efa_pool_labels_and_taints():
    spec = resolve(p5_pool(labels={"team": "research"}))
    assert spec.labels == {
        NODE_POOL_LABEL: "h100",
        "gpu-platform/purpose": "training",
        "gpu-platform/capacity-type": "on-demand",
        "gpu-platform/gpu-model": "H100",
        EFA_LABEL: "true",
        "team": "research",
    }
    assert spec.taints == [("nvidia.com/gpu", "true", "NoSchedule")]
    assert spec.taints == [GPU_TAINT]


def test_p5_efa_pool_autoscaler_node_template_tags():
    spec = resolve(p5_pool(labels={"team": "research"}))
    tags = spec.autoscaler_tags
    prefix = "k8s.io/cluster-autoscaler/node-template"
    assert prefix == AUTOSCALER_TEMPLATE
    assert tags[f"{prefix}/resources/nvidia.com/gpu"] == "8"
    assert tags[f"{prefix}/resources/vpc.amazonaws.com/efa"] == "32"
    assert tags[f"{prefix}/taint/nvidia.com/gpu"] == "true:NoSchedule"
    for key, value in spec.labels.items():
        assert tags[f"{prefix}/label/{key}"] == value
    label_tags = {k for k in tags if k.startswith(f"{prefix}/label/")}
    assert len(label_tags) == len(spec.labels)
    assert not any(k.startswith(f"{prefix}/taint/gpu-platform/spot") for k in tags)


def test_non_efa_pool_has_no_efa_label_resource_or_placement():
    spec = resolve(pool(instanceTypes=["g4dn.xlarge"]))
    assert not spec.efa
    assert spec.network_interfaces == []
    assert spec.placement_group is False
    assert EFA_LABEL not in spec.labels
    assert not any("vpc.amazonaws.com/efa" in k for k in spec.autoscaler_tags)
    assert spec.azs == AZS
    assert spec.labels["gpu-platform/gpu-model"] == "T4"


@pytest.mark.parametrize(
    ("types", "key"),
    [
        (["g4dn.xlarge", "g4dn.12xlarge"], "instanceTypes"),  # 1 and 4 GPUs
        (["p4d.24xlarge", "g4dn.12xlarge"], "instanceTypes"),  # 8 and 4 GPUs
    ],
)
def test_mixed_gpu_counts_in_one_pool_are_rejected(types, key):
    assert refused(pool(instanceTypes=types), 3) == [f"gpu-platform:gpuPools[3].{key}"]


def test_efa_pool_with_different_network_cards_is_rejected():
    entry = pool(instanceTypes=["p5.48xlarge", "p5en.48xlarge"], efa=True)
    assert refused(entry, 1) == ["gpu-platform:gpuPools[1].instanceTypes"]


# --------------------------------------------------------------------------- reservations


@pytest.mark.parametrize("group", [None, "odcr-pg"])
def test_a_reservation_uses_its_own_placement_group_or_none(group):
    extra = {"placementGroupName": group} if group else {}
    spec = resolve(p5_pool(capacityReservationId=RESERVATION, **extra))
    assert spec.placement_group is False  # never a new group the reservation is not in
    assert spec.placement_group_name == group
    assert spec.reservation_id == RESERVATION
    assert spec.reserved is True
    assert spec.capacity_type is CapacityType.ON_DEMAND
    assert spec.efa_devices == 32  # EFA stays on either way


def test_capacity_block_pool_resolves_capacity_type_and_reservation():
    spec = resolve(p5_pool(capacityType="CAPACITY_BLOCK", capacityReservationId=RESERVATION))
    assert spec.capacity_type is CapacityType.CAPACITY_BLOCK
    assert spec.reservation_id == RESERVATION
    assert spec.reserved is True
    assert spec.spot is False
    assert [t.name for t in spec.instance_types] == ["p5.48xlarge"]
    assert spec.labels["gpu-platform/capacity-type"] == "capacity-block"
    assert spec.placement_group is False  # the block was not made in our group
    assert spec.taints == [GPU_TAINT]


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (p5_pool(capacityType="CAPACITY_BLOCK", capacityReservationId=RESERVATION), 1),
        (p5_pool(capacityReservationId=RESERVATION), 1),  # an ODCR
        (p5_pool(), None),
        (pool(), None),
        (pool(capacityType="SPOT", gpuNeed={"gpuModel": "T4", "gpusPerNode": 1}), None),
    ],
)
def test_node_repair_takes_one_node_at_a_time_only_in_a_reservation(entry, expected):
    repair = resolve(entry).node_repair
    assert repair.max_parallel_count == expected
    # Reserved: a replacement must fit the reservation, one at a time; others repair a share.
    assert repair == (RESERVED_REPAIR if expected else POOL_REPAIR)
    assert repair.max_parallel_percentage == (None if expected else 25)
    # Half the pool unhealthy points to a cause a replacement does not fix: stop repairing.
    assert repair.max_unhealthy_percentage == 50
    assert repair.max_unhealthy_count is None


@pytest.mark.parametrize("stack", STACKS)
def test_every_shipped_pool_has_node_repair_limits(stack):
    for spec in platform(stack).pools:
        repair = spec.node_repair
        # EKS takes a count or a percentage for each limit, never both.
        assert (repair.max_parallel_count is None) != (repair.max_parallel_percentage is None)
        assert (repair.max_unhealthy_count is None) != (repair.max_unhealthy_percentage is None)
        assert repair == (RESERVED_REPAIR if spec.reserved else POOL_REPAIR), spec.name


def test_a_placement_group_name_without_a_reservation_is_refused():
    from components.config import ConfigError

    with pytest.raises(ConfigError) as caught:
        resolve(p5_pool(placementGroupName="pg"))
    assert caught.value.problems[0][0].endswith(".placementGroupName")


def test_spot_pools_mix_only_types_of_one_size():
    spec = platform("prod").pools[2]
    assert spec.spot
    assert len({(t.vcpus, t.memory_mib) for t in spec.instance_types}) == 1
    with pytest.raises(Exception, match="share vCPUs and memory"):
        resolve(
            {
                "name": "s",
                "capacityType": "SPOT",
                "instanceTypes": ["g4dn.xlarge", "g4dn.2xlarge"],
                "maxSize": 2,
            }
        )


def test_scale_from_zero_templates_advertise_ephemeral_storage():
    p5 = resolve(p5_pool())
    key = "k8s.io/cluster-autoscaler/node-template/resources/ephemeral-storage"
    assert p5.autoscaler_tags[key] == "30400G"  # 8 x 3800 GB NVMe in RAID0


def test_capacity_block_needs_exactly_one_instance_type():
    # The config refuses it before the resolve could: a reservation is for one instance type.
    entry = pool(
        name="cb",
        instanceTypes=["p5.48xlarge", "p5en.48xlarge"],
        capacityType="CAPACITY_BLOCK",
        capacityReservationId=RESERVATION,
    )
    with pytest.raises(ConfigError) as caught:
        config(STACK, gpuPools=[entry], addons=ADDONS)
    problems = dict(caught.value.problems)
    assert list(problems) == ["gpu-platform:gpuPools[0].capacityReservationId"]
    assert "one instance type" in problems["gpu-platform:gpuPools[0].capacityReservationId"]


# --------------------------------------------------------------------------- user data


def decoded_user_data(entry: dict[str, Any]) -> str:
    spec = resolve(entry)
    assert spec.user_data is not None
    return base64.b64decode(spec.user_data, validate=True).decode()


@pytest.mark.parametrize("types", [["p5.48xlarge"], ["g4dn.xlarge"], ["g6.xlarge"]])
def test_al2023_user_data_is_a_nodeadm_raid0_mime_document(types):
    entry = pool(instanceTypes=types)
    assert all(get_instance_type(t).instance_store_disks > 0 for t in types)
    text = decoded_user_data(entry)
    assert "Content-Type: application/node.eks.aws" in text
    message = email.message_from_string(text)
    assert message.is_multipart()
    assert message.get_content_type() == "multipart/mixed"
    node_parts = [
        part for part in message.walk() if part.get_content_type() == "application/node.eks.aws"
    ]
    assert len(node_parts) == 1
    node_config = yaml.safe_load(str(node_parts[0].get_payload()))
    assert node_config["apiVersion"] == "node.eks.aws/v1alpha1"
    assert node_config["kind"] == "NodeConfig"
    assert node_config["spec"]["instance"]["localStorage"] == {"strategy": "RAID0"}
    assert resolve(entry).root_device == "/dev/xvda"


def test_bottlerocket_user_data_is_toml_with_ephemeral_storage_commands():
    entry = pool(instanceTypes=["g4dn.xlarge"], amiType="BOTTLEROCKET_x86_64_NVIDIA")
    document = tomllib.loads(decoded_user_data(entry))
    command = document["settings"]["bootstrap-commands"]["k8s-ephemeral-storage"]
    assert command["commands"][0] == ["apiclient", "ephemeral-storage", "init"]
    bind = command["commands"][1]
    assert bind[:4] == ["apiclient", "ephemeral-storage", "bind", "--dirs"]
    assert {"/var/lib/containerd", "/var/lib/kubelet"} <= set(bind[4:])
    assert command["essential"] is True
    assert command["mode"] == "always"
    spec = resolve(entry)
    assert spec.root_device == "/dev/xvdb"
    assert spec.ami_type == "BOTTLEROCKET_x86_64_NVIDIA"


def test_ami_type_is_an_accelerated_al2023_by_default():
    spec = resolve(pool())
    assert spec.ami_type == "AL2023_x86_64_NVIDIA"
    assert not spec.ami_type.startswith("AL2_")


# --------------------------------------------------------------------------- spot


def spot_pool(**fields: Any) -> dict[str, Any]:
    return pool(
        name="t4-spot",
        capacityType="SPOT",
        gpuNeed={"gpuModel": "T4", "gpusPerNode": 1},
        **fields,
    )


def test_spot_pool_diversifies_over_cheapest_matching_types_and_every_az():
    spec = resolve(spot_pool())
    types = spec.instance_types
    assert types and all(t.gpu_model == "T4" and t.gpu_count == 1 for t in types)
    prices = [t.on_demand_usd_per_hour for t in types]
    assert prices == sorted(prices)
    # The cheapest matching catalog types of the cheapest one's size, in catalog order.
    first = types_meeting(gpu_model="T4", min_gpus=1, max_gpus=1)[0]
    same_size = [
        t
        for t in types_meeting(gpu_model="T4", min_gpus=1, max_gpus=1)
        if (t.vcpus, t.memory_mib) == (first.vcpus, first.memory_mib)
    ]
    assert types == same_size[: len(types)]
    assert spec.azs == AZS
    assert spec.capacity_type is CapacityType.SPOT
    assert spec.spot is True
    assert spec.reserved is False
    assert spec.min_size == 0
    assert spec.gpus_per_node == 1


def test_spot_pool_carries_both_taints_and_their_autoscaler_tags():
    spec = resolve(spot_pool())
    assert spec.taints == [GPU_TAINT, SPOT_TAINT]
    assert ("gpu-platform/spot", "true", "NoSchedule") in spec.taints
    assert spec.labels["gpu-platform/capacity-type"] == "spot"
    assert spec.autoscaler_tags[f"{AUTOSCALER_TEMPLATE}/taint/gpu-platform/spot"] == (
        "true:NoSchedule"
    )
    assert spec.autoscaler_tags[f"{AUTOSCALER_TEMPLATE}/resources/nvidia.com/gpu"] == "1"


def test_a_derived_pool_leaves_out_types_without_a_citable_price():
    # p5e.48xlarge (no on-demand price) has the same GPUs, vCPUs and memory as p5en.48xlarge
    p5e, p5en = get_instance_type("p5e.48xlarge"), get_instance_type("p5en.48xlarge")
    assert (p5e.vcpus, p5e.memory_mib, p5e.gpu_model) == (p5en.vcpus, p5en.memory_mib, "H200")
    need = {"gpuModel": "H200", "gpusPerNode": 8}
    spec = resolve(
        pool(
            name="h200-spot",
            capacityType="SPOT",
            gpuNeed=need,
            maxSize=2,
            availabilityZones=["us-east-1a"],
        )
    )
    assert [t.name for t in spec.instance_types] == ["p5en.48xlarge"]


def test_spot_respects_max_instance_types():
    need = {"gpusPerNode": 1, "minGpuMemoryGib": 16, "maxInstanceTypes": 2}
    spec = resolve(pool(name="any-spot", capacityType="SPOT", gpuNeed=need))
    assert len(spec.instance_types) == 2
    assert len({(t.vcpus, t.memory_mib) for t in spec.instance_types}) == 1


@pytest.mark.parametrize(
    ("fields", "spot"),
    [
        ({"instanceTypes": ["g4dn.xlarge"]}, False),
        (
            {"instanceTypes": ["p5.48xlarge"], "capacityType": "CAPACITY_BLOCK"}
            | {"capacityReservationId": RESERVATION},
            False,
        ),
        ({"gpuNeed": {"gpuModel": "T4", "gpusPerNode": 1}, "capacityType": "SPOT"}, True),
    ],
    ids=["on-demand", "capacity-block", "spot"],
)
def test_only_spot_capacity_resolves_to_a_spot_pool(fields, spot):
    # (Which component builds a pool follows from this: see node_group_class.)
    spec = resolve_at(pool(**fields), 2)
    assert spec.spot is spot
    assert (SPOT_TAINT in spec.taints) is spot
    assert (spec.labels["gpu-platform/capacity-type"] == "spot") is spot


def test_spot_pools_with_efa_are_refused():
    entry = pool(instanceTypes=["p5.48xlarge"], capacityType="SPOT", efa=True)
    assert refused(entry, 2) == ["gpu-platform:gpuPools[2].efa"]


# --------------------------------------------------------------------------- any type mix

GPU_TYPE_NAMES = [t.name for t in all_instance_types() if t.is_gpu]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(GPU_TYPE_NAMES), min_size=1, max_size=4, unique=True))
def test_any_type_mix_resolves_to_one_node_template_or_names_instance_types(names):
    types = [get_instance_type(n) for n in names]
    try:
        spec = resolve(pool(instanceTypes=names))
    except ConfigError as error:
        assert config_keys(error) == ["gpu-platform:gpuPools[0].instanceTypes"]
        # Refused for mixing node templates, or for an AZ of the pool none of its types reaches.
        assert len({t.gpu_count for t in types}) > 1 or "is not offered in" in str(error)
        return
    assert len({t.gpu_count for t in types}) == 1
    assert spec.gpus_per_node == types[0].gpu_count
    gpu_tag = f"{AUTOSCALER_TEMPLATE}/resources/nvidia.com/gpu"
    assert spec.autoscaler_tags[gpu_tag] == str(types[0].gpu_count)
    assert spec.azs == AZS
    assert spec.user_data is not None  # every catalog GPU type has instance-store NVMe
    models = {t.gpu_model for t in types}
    assert spec.labels.get("gpu-platform/gpu-model") == (models.pop() if len(models) == 1 else None)
