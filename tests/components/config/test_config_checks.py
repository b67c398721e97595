"""Config checks that span keys: reservations, team namespaces, add-on prerequisites, lifecycles."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.config import ConfigError, load_stack_config
from tests.conftest import stack_raw_config

RESERVATION = "cr-0123456789abcdef0"


def problems(**overrides: Any) -> dict[str, str]:
    raw = stack_raw_config("prod")
    for key, value in overrides.items():
        raw[f"gpu-platform:{key}"] = value if isinstance(value, str) else json.dumps(value)
    with pytest.raises(ConfigError) as caught:
        load_stack_config(raw)
    return dict(caught.value.problems)


def p5_pool(**fields: Any) -> dict[str, Any]:
    return {"name": "h100", "instanceTypes": ["p5.48xlarge"], "maxSize": 2, **fields}


@pytest.mark.parametrize(
    ("teams", "fragment"),
    [
        ([{"name": "team-a", "gpuQuota": 1}, {"name": "team-a", "gpuQuota": 2}], "twice"),
        ([{"name": "monitoring", "gpuQuota": 1}], "platform"),
        ([{"name": "kube-team", "gpuQuota": 1}], "platform"),
        ([{"name": "training", "gpuQuota": 1}], "training namespace"),
    ],
)
def test_team_namespaces_must_be_unique_and_free(teams, fragment):
    found = problems(teams=teams)
    key = next(k for k in found if k.startswith("gpu-platform:teams["))
    assert key.endswith("].name") and fragment in found[key]


def test_a_pool_cannot_take_the_system_pools_name():
    found = problems(gpuPools=[p5_pool(name="system")])
    assert "system" in found["gpu-platform:gpuPools[0].name"]


def test_interface_endpoints_are_listed_once():
    found = problems(interfaceEndpoints=["sts", "sts"])
    assert "sts" in found["gpu-platform:interfaceEndpoints"]


@pytest.mark.parametrize("sharing", [{"timeSlicingReplicas": 2}, {"migProfile": "all-1g.10gb"}])
def test_bottlerocket_pools_cannot_use_the_operators_sharing(sharing):
    pool = p5_pool(amiType="BOTTLEROCKET_x86_64_NVIDIA", **sharing)
    found = problems(gpuPools=[pool])
    (key,) = [k for k in found if k.startswith("gpu-platform:gpuPools[0]")]
    assert "Bottlerocket" in found[key]


def test_a_reserved_pool_takes_one_type_and_lives_in_one_az():
    two_types = p5_pool(
        instanceTypes=["p5.48xlarge", "p5en.48xlarge"],
        capacityType="CAPACITY_BLOCK",
        capacityReservationId=RESERVATION,
    )
    found = problems(gpuPools=[two_types])
    assert "one instance type" in found["gpu-platform:gpuPools[0].capacityReservationId"]
    two_azs = p5_pool(
        capacityReservationId=RESERVATION, availabilityZones=["us-east-1a", "us-east-1b"]
    )
    found = problems(gpuPools=[two_azs])
    assert "reservation" in found["gpu-platform:gpuPools[0].availabilityZones"]


def test_a_reserved_pool_defaults_to_the_first_az():
    from components.config import GpuPool
    from components.resolve.pools import pool_azs

    pool = GpuPool.model_validate(p5_pool(capacityReservationId=RESERVATION))
    assert pool_azs(pool, ["us-east-1b", "us-east-1c"]) == ["us-east-1b"]


@pytest.mark.parametrize(
    ("transitions", "fragment"),
    [
        (
            [{"days": 30, "storageClass": "GLACIER"}, {"days": 60, "storageClass": "STANDARD_IA"}],
            "colder",
        ),
        (
            [{"days": 30, "storageClass": "STANDARD_IA"}, {"days": 40, "storageClass": "GLACIER"}],
            "30 days",
        ),
    ],
)
def test_lifecycle_steps_only_go_colder_and_respect_the_ia_minimum(transitions, fragment):
    found = problems(storage={"datasets": {"transitions": transitions}})
    assert fragment in found["gpu-platform:storage.datasets.transitions"]


def test_triton_needs_an_inference_pool_and_observability():
    found = problems(addons={"triton": True, "observability": False})
    assert "observability" in found["gpu-platform:addons.triton"]
