"""Where things exist: AWS regions, their availability zones, and which zones offer each catalog
instance type; and the instance types Capacity Blocks for ML are sold for.

Zones and offerings come from `zones.json` (AWS's DescribeInstanceTypeOfferings data as moto
ships it; regenerate with `python -m scripts.catalog_zones`, checked against that data by
tests/components/catalog/test_zones.py). Regions come from botocore's partition list
(`botocore/data/partitions.json`), read as data. Only the standard library is imported.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any, Final

CAPACITY_BLOCK_TYPES: Final = frozenset(
    {
        "p4d.24xlarge",
        "p5.4xlarge",
        "p5.48xlarge",
        "p5e.48xlarge",
        "p5en.48xlarge",
        "p6-b200.48xlarge",
        "p6-b300.48xlarge",
        "trn1.32xlarge",
        "trn2.48xlarge",
    }
)
"""Instance types Capacity Blocks for ML are offered for (EC2 user guide, "Capacity Blocks for
ML", supported instance types; trn types listed for completeness, the catalog has none)."""


@lru_cache(maxsize=1)
def _zones() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        resources.files(__package__).joinpath("zones.json").read_text(encoding="utf-8")
    )
    return data["regions"]  # type: ignore[no-any-return]


@lru_cache(maxsize=1)
def known_regions() -> frozenset[str]:
    """Every region of every AWS partition botocore knows (None-free), or the zone data's
    regions when botocore's data cannot be read."""
    try:
        text = resources.files("botocore").joinpath("data", "partitions.json").read_text()
    except (ModuleNotFoundError, FileNotFoundError, OSError):
        return frozenset(_zones())
    partitions = json.loads(text)["partitions"]
    return frozenset(
        name for p in partitions for name in p.get("regions", {}) if not name.endswith("-global")
    ) | frozenset(_zones())


def region_zones(region: str) -> tuple[str, ...] | None:
    """The region's availability zones, or None when the zone data does not cover it."""
    entry = _zones().get(region)
    return tuple(entry["zones"]) if entry else None


def offered_zones(region: str, instance_type: str) -> tuple[str, ...] | None:
    """The zones of `region` that offer `instance_type` (empty: none), or None when the zone
    data does not cover the region."""
    entry = _zones().get(region)
    if entry is None:
        return None
    return tuple(entry["offerings"].get(instance_type, ()))
