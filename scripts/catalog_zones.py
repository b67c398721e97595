"""Regenerate components/catalog/zones.json: every region's availability zones and, for each
catalog instance type, the zones that offer it.

`python -m scripts.catalog_zones` reads AWS's DescribeInstanceTypeOfferings data as moto ships it
offline (a dev dependency: `make test` installs it); a test checks the committed file against the
same data, so the two cannot drift silently. The program itself never needs moto.
"""

from __future__ import annotations

import gzip
import json
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from components.catalog import supported_instance_types

OUT = Path(__file__).resolve().parents[1] / "components" / "catalog" / "zones.json"
SOURCE = "moto/ec2/resources/instance_type_offerings/availability-zone (AWS EC2 data)"


def zone_data() -> dict[str, Any]:
    """{"source", "regions": {region: {"zones": [...], "offerings": {type: [zones]}}}}."""
    import moto

    folder = resources.files(moto) / "ec2" / "resources" / "instance_type_offerings"
    wanted = set(supported_instance_types())
    regions: dict[str, Any] = {}
    for entry in sorted((folder / "availability-zone").iterdir(), key=lambda p: p.name):
        region = entry.name.removesuffix(".json.gz").removesuffix(".json")
        raw = entry.read_bytes()
        rows = json.loads(gzip.decompress(raw) if entry.name.endswith(".gz") else raw)
        zones = sorted({row["Location"] for row in rows})
        offerings: dict[str, list[str]] = {}
        for row in rows:
            if row["InstanceType"] in wanted:
                offerings.setdefault(row["InstanceType"], []).append(row["Location"])
        regions[region] = {
            "zones": zones,
            "offerings": {k: sorted(v) for k, v in sorted(offerings.items())},
        }
    return {"source": f"{SOURCE}, moto {moto.__version__}", "regions": regions}


def main() -> int:
    OUT.write_text(json.dumps(zone_data(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
