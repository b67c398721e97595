"""zones.json against AWS's offering data as moto ships it, and what the config refuses with it."""

from __future__ import annotations

import pytest

from components.catalog import supported_instance_types
from components.catalog.zones import (
    CAPACITY_BLOCK_TYPES,
    known_regions,
    offered_zones,
    region_zones,
)
from components.config import ConfigError
from scripts.catalog_zones import zone_data
from tests.support import platform


def test_committed_zone_data_is_what_moto_ships() -> None:
    from components.catalog.zones import _zones

    assert _zones() == zone_data()["regions"], "run `python -m scripts.catalog_zones`"


def test_regions_come_from_the_partitions_and_cover_the_zone_data() -> None:
    assert {"us-east-1", "eu-west-1", "cn-north-1", "us-gov-west-1"} <= known_regions()
    assert not any(r.endswith("-global") for r in known_regions())


def test_offerings_are_real_subsets_of_the_regions_zones() -> None:
    zones = region_zones("us-east-1")
    assert zones and "us-east-1a" in zones
    for name in supported_instance_types():
        offered = offered_zones("us-east-1", name)
        assert offered is not None and set(offered) <= set(zones)
    assert offered_zones("xx-nowhere-1", "p5.48xlarge") is None


def test_capacity_blocks_are_for_accelerated_types_only() -> None:
    assert {"p5.48xlarge", "p5en.48xlarge"} <= CAPACITY_BLOCK_TYPES
    assert not {"g4dn.xlarge", "g5.xlarge", "m7i.xlarge"} & CAPACITY_BLOCK_TYPES


@pytest.mark.parametrize(
    ("overrides", "key", "needle"),
    [
        ({"aws:region": "us-east-9"}, "aws:region", "did you mean 'us-east-2'"),
        (
            {"availabilityZones": ["us-east-1a", "us-east-1z"], "subnets": None},
            "gpu-platform:availabilityZones",
            "do not exist",
        ),
        ({"clusterLogRetentionDays": 100}, "gpu-platform:clusterLogRetentionDays", "90, 120"),
        (
            {
                "gpuPools": [
                    {
                        "name": "b",
                        "instanceTypes": ["p5en.48xlarge"],
                        "efa": True,
                        "maxSize": 2,
                        "availabilityZones": ["us-east-1b"],
                    }
                ],
                "availabilityZones": ["us-east-1a", "us-east-1b"],
                "subnets": None,
            },
            "gpu-platform:gpuPools[0].availabilityZones",
            "p5en.48xlarge is not offered in us-east-1b",
        ),
        (
            {
                "gpuPools": [
                    {
                        "name": "b",
                        "instanceTypes": ["g5.xlarge"],
                        "capacityType": "CAPACITY_BLOCK",
                        "capacityReservationId": "cr-0123456789abcdef0",
                        "maxSize": 2,
                    }
                ]
            },
            "gpu-platform:gpuPools[0].instanceTypes",
            "Capacity Blocks are not sold for ['g5.xlarge']",
        ),
    ],
    ids=["region", "az", "retention", "not-offered", "capacity-block"],
)
def test_what_aws_refuses_is_refused_first(overrides, key, needle) -> None:
    with pytest.raises(ConfigError) as caught:
        platform("dev", **overrides)
    problems = dict(caught.value.problems)
    assert key in problems, problems
    assert needle in problems[key]


def test_an_efa_pool_defaults_to_the_first_az_that_offers_its_type() -> None:
    pool = {"name": "b", "instanceTypes": ["p5en.48xlarge"], "efa": True, "maxSize": 2}
    spec = platform(
        "prod",
        gpuPools=[pool],
        addons={"triton": False, "kubeflow": False},
        availabilityZones=["us-east-1b", "us-east-1c"],
        subnets=None,
    )
    assert spec.pools[0].azs == ["us-east-1c"]  # us-east-1b has no p5en
