"""Regenerate components/catalog/instances.json from AWS's DescribeInstanceTypes data.

`python -m scripts.catalog_instances [TYPE ...]` rewrites every type already in the catalog, plus
the TYPEs named, from the offline copy of DescribeInstanceTypes that moto ships
(`moto/ec2/resources/instance_types.json.gz`, a dev dependency: `make test` installs it). A test
checks the committed file against the same data, so the two cannot drift silently; the program
itself never needs moto. Give a new type a price in `prices.json` (or leave it unpriced: the plan
says so) and regenerate the AZ offerings with `python -m scripts.catalog_zones`.
"""

from __future__ import annotations

import gzip
import json
import sys
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parents[1] / "components" / "catalog" / "instances.json"


def describe_instance_types() -> dict[str, dict[str, Any]]:
    """moto's copy of DescribeInstanceTypes, keyed by instance type."""
    import moto

    raw = (resources.files(moto) / "ec2" / "resources" / "instance_types.json.gz").read_bytes()
    data: dict[str, dict[str, Any]] = json.loads(gzip.decompress(raw))
    return data


def entry(info: Mapping[str, Any]) -> dict[str, Any]:
    """The catalog entry of one DescribeInstanceTypes item."""
    name = str(info["InstanceType"])
    network = info["NetworkInfo"]
    gpus = info.get("GpuInfo", {}).get("Gpus", [])
    disks = info.get("InstanceStorageInfo", {}).get("Disks", [])
    cards = sorted(network["NetworkCards"], key=lambda c: c["NetworkCardIndex"])
    default_card = int(network.get("DefaultNetworkCardIndex", 0))
    by_index = {c["NetworkCardIndex"]: c for c in cards}
    return {
        "family": name.split(".")[0],
        "architecture": "arm64"
        if "arm64" in info["ProcessorInfo"]["SupportedArchitectures"]
        else "x86_64",
        "vcpus": info["VCpuInfo"]["DefaultVCpus"],
        "memory_mib": info["MemoryInfo"]["SizeInMiB"],
        "gpu_model": gpus[0]["Name"] if gpus else None,
        "gpu_count": sum(g["Count"] for g in gpus),
        "gpu_memory_mib": gpus[0]["MemoryInfo"]["SizeInMiB"] if gpus else 0,
        "network_performance": network["NetworkPerformance"],
        "network_bandwidth_gbps": float(sum(c["PeakBandwidthInGbps"] for c in cards)),
        "network_cards": network["MaximumNetworkCards"],
        "max_network_interfaces": network["MaximumNetworkInterfaces"],
        "max_interfaces_per_card": by_index[default_card]["MaximumNetworkInterfaces"],
        "ipv4_addresses_per_interface": network["Ipv4AddressesPerInterface"],
        "efa_supported": bool(network.get("EfaSupported", False)),
        "max_efa_interfaces": (network.get("EfaInfo") or {}).get("MaximumEfaInterfaces", 0),
        "default_network_card_index": default_card,
        "network_card_details": [
            {
                "index": c["NetworkCardIndex"],
                "max_interfaces": c["MaximumNetworkInterfaces"],
                "interface_types": list(c.get("InterfaceTypes", ["interface"])),
                "peak_bandwidth_gbps": float(c["PeakBandwidthInGbps"]),
            }
            for c in cards
        ],
        "instance_store_disks": sum(d["Count"] for d in disks),
        "instance_store_disk_gb": disks[0]["SizeInGB"] if disks else 0,
        "placement_group_strategies": list(
            info.get("PlacementGroupInfo", {}).get("SupportedStrategies", [])
        ),
    }


def catalog_document(names: Iterable[str], data: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The whole instances.json for these types; KeyError naming a type AWS's data lacks."""
    import moto

    missing = sorted(n for n in set(names) if n not in data)
    if missing:
        raise KeyError(f"not in DescribeInstanceTypes (moto {moto.__version__}): {missing}")
    return {
        "source": {
            "description": (
                "Hardware facts from EC2 DescribeInstanceTypes (AWS's own data), copied from the "
                f"offline copy shipped by moto {moto.__version__} "
                "(moto/ec2/resources/instance_types.json.gz) by scripts/catalog_instances.py, "
                "region us-east-1. network_bandwidth_gbps is the sum of "
                "NetworkCards[*].PeakBandwidthInGbps; max_interfaces_per_card is "
                "NetworkCards[DefaultNetworkCardIndex].MaximumNetworkInterfaces; "
                "network_card_details lists every card (NetworkCardIndex, "
                "MaximumNetworkInterfaces, InterfaceTypes, PeakBandwidthInGbps)."
            ),
            "api": "ec2:DescribeInstanceTypes",
            "region": "us-east-1",
            "extracted_with": f"moto {moto.__version__}",
        },
        "instance_types": {name: entry(data[name]) for name in sorted(set(names))},
    }


def render(document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    wanted = list(sys.argv[1:] if argv is None else argv)
    current = json.loads(OUT.read_text())["instance_types"]
    try:
        document = catalog_document([*current, *wanted], describe_instance_types())
    except KeyError as exc:
        print(f"catalog_instances: error: {exc.args[0]}", file=sys.stderr)
        return 2
    OUT.write_text(render(document))
    added = sorted(set(document["instance_types"]) - set(current))
    print(f"wrote {OUT} ({len(document['instance_types'])} types; added: {added or 'none'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
