"""Tests for the instance and price catalog (components.catalog).

The hardware facts in instances.json are cross-checked against moto's offline copy of EC2
DescribeInstanceTypes, so a wrong or stale catalog entry fails here with the type's name.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import boto3
import pytest
from hypothesis import given
from hypothesis import strategies as st
from moto import mock_aws

from components.catalog import (
    OPTIONAL_SERVICE_PRICE_KEYS,
    SERVICE_PRICE_KEYS,
    InstanceType,
    NetworkCard,
    PriceSnapshot,
    UnknownInstanceTypeError,
    all_instance_types,
    eks_max_pods,
    get_instance_type,
    price_snapshot,
    service_price,
    service_price_snapshot,
    service_price_source,
    suggest_instance_type,
    supported_instance_types,
    types_meeting,
)

CATALOG_DIR = Path(__file__).resolve().parents[3] / "components" / "catalog"
ALL_TYPES = supported_instance_types()

REQUIRED_GPU_TYPES = (
    "p5.48xlarge",
    "p5en.48xlarge",
    "p4d.24xlarge",
    "g4dn.xlarge",
    "g4dn.2xlarge",
    "g4dn.4xlarge",
    "g4dn.8xlarge",
    "g4dn.12xlarge",
    "g4dn.16xlarge",
    "g5.xlarge",
    "g5.2xlarge",
    "g5.4xlarge",
    "g5.12xlarge",
    "g6.xlarge",
    "g6.2xlarge",
    "g6.4xlarge",
    "g6.12xlarge",
    # the 2026 fleet
    *(f"g6e.{size}" for size in ("xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge")),
    *(f"g6e.{size}" for size in ("16xlarge", "24xlarge", "48xlarge")),
    *(f"g5.{size}" for size in ("8xlarge", "16xlarge", "24xlarge", "48xlarge")),
    *(f"g6.{size}" for size in ("8xlarge", "16xlarge", "24xlarge", "48xlarge")),
    "p4de.24xlarge",
    "p5.4xlarge",
    "p5e.48xlarge",
    "p6-b200.48xlarge",
    "p6-b300.48xlarge",
)
REQUIRED_CPU_TYPES = (
    "m7i.large",
    "m7i.xlarge",
    "m7i.2xlarge",
    "m6i.large",
    "m6i.xlarge",
    "m6i.2xlarge",
    "m5.large",
    "m5.xlarge",
    "m5.2xlarge",
    "c7i.xlarge",
    "c7i.2xlarge",
)

# On-demand USD/hour published in karpenter-provider-aws zz_generated.pricing_aws.go
# (generated 2026-01-19).
PUBLISHED_PRICES = {
    "p5.48xlarge": 55.04,
    "p4d.24xlarge": 21.957642,
    "g4dn.xlarge": 0.526,
    "g4dn.12xlarge": 3.912,
    "g5.xlarge": 1.006,
    "g6.xlarge": 0.8048,
    "m7i.xlarge": 0.2016,
}

# The same file at commit 6fc13b5236fd04fd16ff3f9dc7490d0813994099 (generated 2026-07-20).
PUBLISHED_PRICES_2026_07 = {
    "g5.48xlarge": 16.288,
    "g6.48xlarge": 13.3504,
    "g6e.xlarge": 1.861,
    "g6e.48xlarge": 30.13118,
    "p4de.24xlarge": 27.44705,
    "p5.4xlarge": 6.88,
    "p5.48xlarge": 55.04,
    "p5en.48xlarge": 63.296,
    "p6-b200.48xlarge": 113.9328,
    "p6-b300.48xlarge": 142.416,
}

# Types the price source has no on-demand price for (p5e is sold through Capacity Blocks).
UNPRICED_TYPES = ("p5e.48xlarge",)

# GPU model per family, as DescribeInstanceTypes names it (GpuInfo.Gpus[].Name).
GPU_MODELS = {
    "g4dn": "T4",
    "g5": "A10G",
    "g6": "L4",
    "g6e": "L40S",
    "p4d": "A100",
    "p4de": "A100",
    "p5": "H100",
    "p5e": "H200",
    "p5en": "H200",
    "p6-b200": "B200",
    "p6-b300": "B300",
}

# maxPods without prefix delegation, as published in awslabs/amazon-eks-ami
# nodeadm/internal/kubelet/eni-max-pods.txt (computed on network card 0 only).
ENI_MAX_PODS = {
    "c7i.2xlarge": 58,
    "c7i.xlarge": 58,
    "g4dn.12xlarge": 234,
    "g4dn.16xlarge": 58,
    "g4dn.2xlarge": 29,
    "g4dn.4xlarge": 29,
    "g4dn.8xlarge": 58,
    "g4dn.xlarge": 29,
    "g5.12xlarge": 737,
    "g5.2xlarge": 58,
    "g5.4xlarge": 234,
    "g5.xlarge": 58,
    "g6.12xlarge": 234,
    "g6.2xlarge": 58,
    "g6.4xlarge": 234,
    "g6.xlarge": 58,
    "m5.2xlarge": 58,
    "m5.large": 29,
    "m5.xlarge": 58,
    "m6i.2xlarge": 58,
    "m6i.large": 29,
    "m6i.xlarge": 58,
    "m7i.2xlarge": 58,
    "m7i.large": 29,
    "m7i.xlarge": 58,
    "p4d.24xlarge": 737,
    "p5.48xlarge": 100,
    "p5en.48xlarge": 198,
    # the 2026 fleet: the file at commit 544fd6502c71f7c89ea186f44b7f24dcb81e2226, its last
    # version before nodeadm computed maxPods itself (p6-b300 came later: not listed)
    "g5.8xlarge": 234,
    "g5.16xlarge": 234,
    "g5.24xlarge": 737,
    "g5.48xlarge": 345,
    "g6.8xlarge": 234,
    "g6.16xlarge": 737,
    "g6.24xlarge": 737,
    "g6.48xlarge": 737,
    "g6e.xlarge": 58,
    "g6e.2xlarge": 58,
    "g6e.4xlarge": 234,
    "g6e.8xlarge": 234,
    "g6e.12xlarge": 292,
    "g6e.16xlarge": 737,
    "g6e.24xlarge": 492,
    "g6e.48xlarge": 492,
    "p4de.24xlarge": 737,
    "p5.4xlarge": 118,
    "p5e.48xlarge": 100,
    "p6-b200.48xlarge": 198,
}
NOT_IN_ENI_MAX_PODS = {"p6-b300.48xlarge"}

# maxPods with prefix delegation: max-pods-calculator.sh --cni-prefix-delegation-enabled
# caps the prefix count at 110 (<= 30 vCPUs) or 250 (> 30 vCPUs).
PREFIX_DELEGATION_MAX_PODS = {
    "m5.large": 110,
    "m7i.xlarge": 110,
    "g4dn.xlarge": 110,
    "g4dn.4xlarge": 110,
    "g4dn.8xlarge": 250,
    "g4dn.12xlarge": 250,
    "g5.12xlarge": 250,
    "p4d.24xlarge": 250,
    "p5.48xlarge": 250,
    "p5en.48xlarge": 250,
}


# --------------------------------------------------------------------------------------------
# Cross-check against moto's copy of DescribeInstanceTypes
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def aws_instance_types() -> Iterator[dict[str, dict[str, Any]]]:
    """DescribeInstanceTypes for every catalog type, from moto (AWS's data, offline)."""
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")
        described: dict[str, dict[str, Any]] = {}
        for name in ALL_TYPES:
            # one call per type so a type moto lacks cannot hide behind another
            result = ec2.describe_instance_types(InstanceTypes=[name])["InstanceTypes"]
            if result:
                described[name] = result[0]
        yield described


def _expected_from_aws(info: dict[str, Any]) -> dict[str, Any]:
    network = info["NetworkInfo"]
    gpus = info.get("GpuInfo", {}).get("Gpus", [])
    disks = info.get("InstanceStorageInfo", {}).get("Disks", [])
    cards = network["NetworkCards"]
    return {
        "architecture": "arm64"
        if "arm64" in info["ProcessorInfo"]["SupportedArchitectures"]
        else "x86_64",
        "vcpus": info["VCpuInfo"]["DefaultVCpus"],
        "memory_mib": info["MemoryInfo"]["SizeInMiB"],
        "gpu_model": gpus[0]["Name"] if gpus else None,
        "gpu_count": sum(g["Count"] for g in gpus),
        "gpu_memory_mib": gpus[0]["MemoryInfo"]["SizeInMiB"] if gpus else 0,
        "total_gpu_memory_mib": info.get("GpuInfo", {}).get("TotalGpuMemoryInMiB", 0),
        "network_performance": network["NetworkPerformance"],
        "network_bandwidth_gbps": sum(c["PeakBandwidthInGbps"] for c in cards),
        "network_cards": network["MaximumNetworkCards"],
        "max_network_interfaces": network["MaximumNetworkInterfaces"],
        "max_interfaces_per_card": next(
            c["MaximumNetworkInterfaces"]
            for c in cards
            if c["NetworkCardIndex"] == network.get("DefaultNetworkCardIndex", 0)
        ),
        "default_network_card_index": network.get("DefaultNetworkCardIndex", 0),
        "cards": tuple(
            NetworkCard(
                index=c["NetworkCardIndex"],
                max_interfaces=c["MaximumNetworkInterfaces"],
                interface_types=tuple(c.get("InterfaceTypes", ["interface"])),
                peak_bandwidth_gbps=c["PeakBandwidthInGbps"],
            )
            for c in sorted(cards, key=lambda c: c["NetworkCardIndex"])
        ),
        "ipv4_addresses_per_interface": network["Ipv4AddressesPerInterface"],
        "efa_supported": bool(network.get("EfaSupported", False)),
        "max_efa_interfaces": (network.get("EfaInfo") or {}).get("MaximumEfaInterfaces", 0),
        "instance_store_disks": sum(d["Count"] for d in disks),
        "instance_store_disk_gb": disks[0]["SizeInGB"] if disks else 0,
        "instance_store_total_gb": info.get("InstanceStorageInfo", {}).get("TotalSizeInGB", 0),
        "placement_group_strategies": tuple(
            info.get("PlacementGroupInfo", {}).get("SupportedStrategies", [])
        ),
    }


@pytest.mark.parametrize("name", ALL_TYPES)
def test_catalog_entry_matches_describe_instance_types(
    name: str, aws_instance_types: dict[str, dict[str, Any]]
) -> None:
    assert name in aws_instance_types, f"{name}: not known to EC2 DescribeInstanceTypes (moto)"
    info = aws_instance_types[name]
    expected = _expected_from_aws(info)
    it = get_instance_type(name)
    actual = {field: getattr(it, field) for field in expected}
    mismatches = {
        field: (actual[field], expected[field])
        for field in expected
        if actual[field] != expected[field]
    }
    assert not mismatches, f"{name}: catalog != DescribeInstanceTypes (catalog, aws): {mismatches}"
    assert it.family == name.split(".")[0]
    assert len(it.cards) == it.network_cards, name
    assert it.default_card is not None, name


def test_committed_instances_json_is_what_the_generator_writes() -> None:
    from scripts.catalog_instances import catalog_document, describe_instance_types, render

    committed = (CATALOG_DIR / "instances.json").read_text()
    names = json.loads(committed)["instance_types"]
    assert committed == render(catalog_document(names, describe_instance_types())), (
        "instances.json is stale: run python -m scripts.catalog_instances"
    )


def test_generator_refuses_a_type_aws_does_not_know() -> None:
    from scripts.catalog_instances import catalog_document, describe_instance_types

    with pytest.raises(KeyError, match=re.escape("p9.48xlarge")):
        catalog_document(["p5.48xlarge", "p9.48xlarge"], describe_instance_types())


@pytest.mark.parametrize("name", supported_instance_types(gpu_only=True))
def test_gpu_model_per_family(name: str) -> None:
    it = get_instance_type(name)
    assert it.gpu_model == GPU_MODELS[it.family], name


@pytest.mark.parametrize(
    ("name", "cards", "efa", "ena_only_cards"),
    [
        ("p5.48xlarge", 32, 32, ()),
        ("p5e.48xlarge", 32, 32, ()),
        ("p5en.48xlarge", 16, 16, ()),
        ("p6-b200.48xlarge", 8, 8, ()),
        ("p6-b300.48xlarge", 17, 16, (0,)),
        ("p4de.24xlarge", 4, 4, ()),
        ("g6e.48xlarge", 4, 4, ()),
        ("p5.4xlarge", 1, 1, ()),
    ],
)
def test_per_card_network_facts(
    name: str, cards: int, efa: int, ena_only_cards: tuple[int, ...]
) -> None:
    it = get_instance_type(name)
    assert (it.network_cards, it.max_efa_interfaces, it.default_network_card_index) == (
        cards,
        efa,
        0,
    )
    assert [c.index for c in it.cards] == list(range(cards))
    assert tuple(c.index for c in it.cards if not c.efa_capable) == ena_only_cards
    assert all(c.interface_types == ("interface",) for c in it.cards if not c.efa_capable)


def test_required_types_are_supported() -> None:
    assert set(REQUIRED_GPU_TYPES) <= set(supported_instance_types(gpu_only=True))
    assert set(REQUIRED_CPU_TYPES) <= set(supported_instance_types())
    assert not set(REQUIRED_CPU_TYPES) & set(supported_instance_types(gpu_only=True))


def test_supported_instance_types_sorted() -> None:
    assert list(ALL_TYPES) == sorted(ALL_TYPES)
    gpu = supported_instance_types(gpu_only=True)
    assert list(gpu) == sorted(gpu)
    assert all(get_instance_type(n).is_gpu for n in gpu)
    assert tuple(it.name for it in all_instance_types()) == ALL_TYPES


# --------------------------------------------------------------------------------------------
# Known facts
# --------------------------------------------------------------------------------------------


def test_p5_48xlarge_facts() -> None:
    p5 = get_instance_type("p5.48xlarge")
    assert p5.family == "p5"
    assert p5.architecture == "x86_64"
    assert (p5.gpu_model, p5.gpu_count) == ("H100", 8)
    assert p5.gpu_memory_mib == 80 * 1024
    assert p5.total_gpu_memory_mib == 8 * 80 * 1024
    assert p5.network_cards == 32
    assert p5.max_interfaces_per_card == 2
    assert p5.efa_supported
    assert p5.max_efa_interfaces == 32
    assert p5.network_bandwidth_gbps == 3200
    assert p5.network_performance == "3200 Gigabit"
    assert p5.instance_store_disks == 8
    assert p5.mig_supported
    assert p5.quota_class == "P"
    assert p5.is_gpu
    assert "cluster" in p5.placement_group_strategies


def test_g4dn_efa_support() -> None:
    small = get_instance_type("g4dn.xlarge")
    assert not small.efa_supported
    assert small.max_efa_interfaces == 0
    assert (small.gpu_model, small.gpu_count) == ("T4", 1)
    assert small.network_bandwidth_gbps == 25
    assert small.instance_store_total_gb == 125
    assert not small.mig_supported
    assert small.quota_class == "G"

    big = get_instance_type("g4dn.12xlarge")
    assert big.efa_supported
    assert big.max_efa_interfaces == 1
    assert big.gpu_count == 4


@pytest.mark.parametrize(
    ("name", "mig"),
    [
        ("p5.48xlarge", True),
        ("p5en.48xlarge", True),
        ("p4d.24xlarge", True),
        ("g4dn.xlarge", False),
        ("g5.xlarge", False),
        ("g6.xlarge", False),
        ("m7i.xlarge", False),
    ],
)
def test_mig_supported(name: str, mig: bool) -> None:
    assert get_instance_type(name).mig_supported is mig


@pytest.mark.parametrize("name", ALL_TYPES)
def test_quota_class_and_cpu_defaults(name: str) -> None:
    it = get_instance_type(name)
    expected = {"p": "P", "g": "G"}.get(name[0], "standard")
    assert it.quota_class == expected
    if not it.is_gpu:
        assert it.gpu_model is None
        assert it.gpu_count == 0
        assert it.gpu_memory_mib == 0
        assert it.total_gpu_memory_mib == 0


def test_instance_type_is_frozen() -> None:
    it = get_instance_type("m5.large")
    with pytest.raises(AttributeError):
        it.vcpus = 4  # type: ignore[misc]


# --------------------------------------------------------------------------------------------
# Lookup errors
# --------------------------------------------------------------------------------------------


def test_unknown_name_suggests_close_match_and_lists_supported() -> None:
    with pytest.raises(UnknownInstanceTypeError) as excinfo:
        get_instance_type("p5.48xlarg")
    message = str(excinfo.value)
    assert "'p5.48xlarg'" in message
    assert "did you mean 'p5.48xlarge'" in message
    for name in ALL_TYPES:
        assert name in message
    assert isinstance(excinfo.value, ValueError)


def test_unknown_name_without_close_match() -> None:
    with pytest.raises(UnknownInstanceTypeError) as excinfo:
        get_instance_type("z9.nonsense")
    message = str(excinfo.value)
    assert "z9.nonsense" in message
    assert "did you mean" not in message
    assert "g4dn.xlarge" in message


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("p5.48xlarg", "p5.48xlarge"),
        ("p6-b20.48xlarge", "p6-b200.48xlarge"),
        ("p6b300.48xlarge", "p6-b300.48xlarge"),
        ("g6e.xlarg", "g6e.xlarge"),
        ("g6ee.48xlarge", "g6e.48xlarge"),
        ("p5en.48xlarg", "p5en.48xlarge"),
        ("p4.24xlarge", "p4d.24xlarge"),
        (" G5.XLARGE ", "g5.xlarge"),
    ],
)
def test_did_you_mean_stays_with_the_family_and_gpu_model(typed: str, meant: str) -> None:
    assert suggest_instance_type(typed) == meant
    with pytest.raises(UnknownInstanceTypeError, match=re.escape(f"did you mean {meant!r}")):
        get_instance_type(typed)


@pytest.mark.parametrize(
    "typed",
    [
        "p5v.48xlarge",  # as near to p5 (H100) as to p5e (H200)
        "g63.12xlarge",  # g6 (L4) or g6e (L40S)
        "p5e.4xlarge",  # p5e.48xlarge (H200) or p5.4xlarge (H100)
        "g5e.xlarge",  # g5 (A10G) or g6e (L40S)
        "p5.24xlarge",  # p5.4xlarge (H100) or p4d.24xlarge (A100)
        "h100.48xlarge",
    ],
)
def test_did_you_mean_offers_nothing_that_could_swap_the_gpu_model(typed: str) -> None:
    assert suggest_instance_type(typed) is None
    with pytest.raises(UnknownInstanceTypeError) as excinfo:
        get_instance_type(typed)
    assert "did you mean" not in str(excinfo.value)


def _one_typo_away(name: str) -> set[str]:
    """Every deletion of one character, and every substitution of a family character by one
    that turns a family into another (p5/p6, g5/g6, g6/g6e, b200/b300)."""
    typos = {name[:i] + name[i + 1 :] for i in range(len(name))}
    family = name.split(".")[0]
    for i in range(len(family)):
        typos |= {name[:i] + c + name[i + 1 :] for c in "03456e-"}
    return typos - set(ALL_TYPES)


@pytest.mark.parametrize("name", supported_instance_types(gpu_only=True))
def test_a_suggestion_for_a_one_character_typo_never_changes_the_gpu_model(name: str) -> None:
    model = get_instance_type(name).gpu_model
    for typo in sorted(_one_typo_away(name)):
        hint = suggest_instance_type(typo)
        assert hint is None or get_instance_type(hint).gpu_model == model, (typo, hint)


def test_lookup_is_exact() -> None:
    with pytest.raises(UnknownInstanceTypeError, match=re.escape("did you mean 'g4dn.xlarge'")):
        get_instance_type("G4DN.XLARGE")


# --------------------------------------------------------------------------------------------
# types_meeting
# --------------------------------------------------------------------------------------------


def test_types_meeting_single_t4_cheapest_first() -> None:
    result = types_meeting(gpu_model="T4", min_gpus=1, max_gpus=1)
    names = [it.name for it in result]
    assert names == [
        "g4dn.xlarge",
        "g4dn.2xlarge",
        "g4dn.4xlarge",
        "g4dn.8xlarge",
        "g4dn.16xlarge",
    ]
    prices = [it.on_demand_usd_per_hour for it in result]
    assert prices == sorted(prices)


def test_types_meeting_at_least_one_t4_includes_multi_gpu() -> None:
    names = [it.name for it in types_meeting(gpu_model="t4")]
    assert names[0] == "g4dn.xlarge"
    assert "g4dn.12xlarge" in names
    assert all(n.startswith("g4dn.") for n in names)


def test_types_meeting_nothing_qualifies() -> None:
    assert types_meeting(gpu_model="T4", min_gpus=8) == ()
    assert types_meeting(gpu_model="H100", min_gpu_memory_gib=200) == ()
    assert types_meeting(gpu_model="MI300X") == ()


def test_types_meeting_puts_unpriced_types_last() -> None:
    names = [it.name for it in types_meeting(gpu_model="H200", min_gpus=8)]
    assert names == ["p5en.48xlarge", "p5e.48xlarge"]  # p5e has no price


def test_types_meeting_eight_gpus_with_big_memory() -> None:
    names = [it.name for it in types_meeting(min_gpus=8, min_gpu_memory_gib=80)]
    assert names == [
        "p4de.24xlarge",
        "p5.48xlarge",
        "p5en.48xlarge",
        "p6-b200.48xlarge",
        "p6-b300.48xlarge",
        "p5e.48xlarge",
    ]


def test_types_meeting_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        types_meeting(min_gpus=0)
    with pytest.raises(ValueError):
        types_meeting(min_gpus=4, max_gpus=2)
    with pytest.raises(ValueError):
        types_meeting(min_gpu_memory_gib=-1)


@given(
    model=st.sampled_from(
        [None, "T4", "A10G", "L4", "L40S", "A100", "H100", "H200", "B200", "B300"]
    ),
    min_gpus=st.integers(min_value=1, max_value=9),
    extra=st.one_of(st.none(), st.integers(min_value=0, max_value=8)),
    memory=st.floats(min_value=0, max_value=280, allow_nan=False),
)
def test_types_meeting_properties(
    model: str | None, min_gpus: int, extra: int | None, memory: float
) -> None:
    max_gpus = None if extra is None else min_gpus + extra
    result = types_meeting(model, min_gpus, max_gpus, memory)
    keys = [
        (it.on_demand_usd_per_hour is None, it.on_demand_usd_per_hour or 0, it.name)
        for it in result
    ]
    assert keys == sorted(keys)
    for it in result:
        assert it.is_gpu
        assert model is None or it.gpu_model == model
        assert it.gpu_count >= min_gpus
        assert max_gpus is None or it.gpu_count <= max_gpus
        assert it.gpu_memory_mib / 1024 >= memory
    # and nothing that qualifies is left out
    qualifying = {
        it.name
        for it in all_instance_types()
        if it.is_gpu
        and (model is None or it.gpu_model == model)
        and min_gpus <= it.gpu_count <= (max_gpus if max_gpus is not None else 10**6)
        and it.gpu_memory_mib / 1024 >= memory
    }
    assert {it.name for it in result} == qualifying


# --------------------------------------------------------------------------------------------
# eks_max_pods
# --------------------------------------------------------------------------------------------


def test_eni_max_pods_table_covers_catalog() -> None:
    assert set(ENI_MAX_PODS) == set(ALL_TYPES) - NOT_IN_ENI_MAX_PODS


@pytest.mark.parametrize(("name", "expected"), sorted(ENI_MAX_PODS.items()))
def test_eks_max_pods_without_prefix_delegation(name: str, expected: int) -> None:
    assert eks_max_pods(get_instance_type(name), prefix_delegation=False) == expected


@pytest.mark.parametrize(("name", "expected"), sorted(PREFIX_DELEGATION_MAX_PODS.items()))
def test_eks_max_pods_with_prefix_delegation(name: str, expected: int) -> None:
    assert eks_max_pods(get_instance_type(name)) == expected
    assert eks_max_pods(get_instance_type(name), prefix_delegation=True) == expected


@pytest.mark.parametrize("name", ALL_TYPES)
def test_eks_max_pods_prefix_delegation_ceiling(name: str) -> None:
    it = get_instance_type(name)
    ceiling = 250 if it.vcpus > 30 else 110
    uncapped = it.max_interfaces_per_card * (it.ipv4_addresses_per_interface - 1) * 16 + 2
    assert eks_max_pods(it) == min(uncapped, ceiling)
    assert eks_max_pods(it) >= min(eks_max_pods(it, prefix_delegation=False), ceiling)


# --------------------------------------------------------------------------------------------
# Prices
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(set(ALL_TYPES) - set(UNPRICED_TYPES)))
def test_every_type_with_a_citable_price_has_a_positive_one(name: str) -> None:
    price = get_instance_type(name).on_demand_usd_per_hour
    assert isinstance(price, float)
    assert price > 0
    assert get_instance_type(name).priced


@pytest.mark.parametrize("name", UNPRICED_TYPES)
def test_a_type_without_a_citable_price_stays_unpriced(name: str) -> None:
    it = get_instance_type(name)
    assert it.on_demand_usd_per_hour is None
    assert not it.priced


@pytest.mark.parametrize(
    ("name", "price"), sorted({**PUBLISHED_PRICES, **PUBLISHED_PRICES_2026_07}.items())
)
def test_prices_match_facts_snapshot(name: str, price: float) -> None:
    assert get_instance_type(name).on_demand_usd_per_hour == pytest.approx(price, abs=1e-9)


def test_gpu_prices_grow_with_size_within_family() -> None:
    for family in ("g4dn", "g5", "g6", "g6e"):
        for gpus in (1, 4, 8):
            members = [
                it for it in all_instance_types() if it.family == family and it.gpu_count == gpus
            ]
            by_vcpu = sorted(members, key=lambda it: it.vcpus)
            prices = [it.on_demand_usd_per_hour for it in by_vcpu]
            assert prices == sorted(prices), (family, gpus)


def test_price_snapshot() -> None:
    snap = price_snapshot()
    assert isinstance(snap, PriceSnapshot)
    assert date.fromisoformat(snap.date) == date(2026, 7, 20)
    assert "6fc13b5236fd04fd16ff3f9dc7490d0813994099" in snap.source
    assert snap.region == "us-east-1"
    assert "karpenter-provider-aws" in snap.source
    services = service_price_snapshot()
    date.fromisoformat(services.date)
    assert services.region == "us-east-1"
    assert services.source


def test_service_price_keys_match_prices_json() -> None:
    data = json.loads((CATALOG_DIR / "prices.json").read_text(encoding="utf-8"))
    assert set(SERVICE_PRICE_KEYS) <= set(data["services"])
    assert set(data["services"]) <= set(SERVICE_PRICE_KEYS) | set(OPTIONAL_SERVICE_PRICE_KEYS)
    assert set(data["instances"]) == set(ALL_TYPES) - set(UNPRICED_TYPES)
    for group in ("instances", "services"):
        assert set(data["snapshot"][group]) >= {"date", "region", "source"}
        date.fromisoformat(data["snapshot"][group]["date"])


@pytest.mark.parametrize("key", SERVICE_PRICE_KEYS)
def test_service_prices_positive_with_source(key: str) -> None:
    assert service_price(key) > 0
    assert service_price_source(key).strip()


def test_known_service_prices() -> None:
    assert service_price("eks_cluster_hour") == pytest.approx(0.10)
    assert service_price("eks_cluster_extended_support_hour") == pytest.approx(0.60)
    assert service_price("nat_gateway_hour") == pytest.approx(0.045)
    assert service_price("nat_gateway_gb") == pytest.approx(0.045)
    assert service_price("vpc_interface_endpoint_az_hour") == pytest.approx(0.01)
    assert service_price("fsx_lustre_persistent2_125_gb_month") == pytest.approx(0.145)
    assert service_price("s3_standard_gb_month") == pytest.approx(0.023)
    assert service_price("s3_standard_ia_gb_month") == pytest.approx(0.0125)
    assert service_price("s3_glacier_ir_gb_month") == pytest.approx(0.004)
    assert service_price("s3_deep_archive_gb_month") == pytest.approx(0.00099)


def test_unknown_service_price_key() -> None:
    with pytest.raises(KeyError, match="fsx_lustre_persistent2_9999_gb_month"):
        service_price("fsx_lustre_persistent2_9999_gb_month")


# --------------------------------------------------------------------------------------------
# Packaging
# --------------------------------------------------------------------------------------------


def test_catalog_loads_without_moto_or_boto3() -> None:
    code = (
        "import sys\n"
        "sys.modules['moto'] = None\n"
        "sys.modules['boto3'] = None\n"
        "sys.modules['botocore'] = None\n"
        "import components.catalog as c\n"
        "assert c.get_instance_type('p5.48xlarge').gpu_count == 8\n"
        "assert 'moto' not in [m for m in sys.modules if sys.modules[m] is not None]\n"
    )
    root = Path(__file__).resolve().parents[3]
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True)


def test_instance_type_fields_are_typed() -> None:
    it: InstanceType = get_instance_type("g5.xlarge")
    assert isinstance(it.placement_group_strategies, tuple)
    assert isinstance(it.network_bandwidth_gbps, float)
    assert isinstance(it.efa_supported, bool)
