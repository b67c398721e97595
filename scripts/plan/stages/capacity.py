"""Capacity stage: what the node pools add up to, read from the preview document.

Per pool: GPUs at min and max size, EFA bandwidth configured against the hardware's maximum.
Per subnet: addresses the pools can take at maximum scale (VPC CNI prefix delegation) against the
subnet's usable addresses; with custom networking (subnets tagged `gpu-platform/subnet-role: pods`
in the document) a node takes one address from its node subnet and its pods' addresses from the
pod subnet of the node subnet's AZ. Per EC2 service quota: vCPUs the pools need at maximum
(quotas count vCPUs of running instances; Capacity Block instances are reserved and counted
apart).

It reads only the document, so it works on a real `pulumi preview --json` too: node groups, their
launch templates (found through `propertyDependencies`) and subnets. Instance facts come from the
catalog; a type the catalog does not know is reported as unknown.
"""

from __future__ import annotations

import ipaddress
import math
from collections import defaultdict
from typing import Any

from components.catalog import (
    VCPU_QUOTAS,
    InstanceType,
    UnknownInstanceTypeError,
    get_instance_type,
    vcpus_by_quota,
)
from components.catalog.conventions import POD_SUBNET_ROLE, SUBNET_ROLE_TAG
from components.resolve.sizing import node_ip_demand, pod_ip_demand, usable_addresses
from scripts.plan.stages.base import PlanContext, StageResult, states
from scripts.plan.stages.storage import render as render_storage
from scripts.plan.stages.storage import storage_section

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
SUBNET = "aws:ec2/subnet:Subnet"
POOL_LABEL = "gpu-platform/pool"


def _deps(state: dict[str, Any], prop: str) -> list[str]:
    return list((state.get("propertyDependencies") or {}).get(prop) or [])


def _pool(state: dict[str, Any], by_urn: dict[str, dict[str, Any]]) -> dict[str, Any]:
    inputs = state.get("inputs") or {}
    template = next((by_urn[u] for u in _deps(state, "launchTemplate") if u in by_urn), None)
    template_inputs = (template or {}).get("inputs") or {}
    names = list(inputs.get("instanceTypes") or [])
    if not names and template_inputs.get("instanceType"):
        names = [template_inputs["instanceType"]]
    types: list[InstanceType] = []
    unknown: list[str] = []
    for name in names:
        try:
            types.append(get_instance_type(name))
        except UnknownInstanceTypeError:
            unknown.append(name)
    scaling = inputs.get("scalingConfig") or {}
    pool = {
        "name": (inputs.get("labels") or {}).get(POOL_LABEL) or state["urn"].rsplit("::", 1)[-1],
        "purpose": (inputs.get("labels") or {}).get("gpu-platform/purpose"),
        "urn": state["urn"],
        "capacityType": inputs.get("capacityType") or "ON_DEMAND",
        "instanceTypes": names,
        "unknownInstanceTypes": unknown,
        "minSize": int(scaling.get("minSize") or 0),
        "maxSize": int(scaling.get("maxSize") or 0),
        "subnets": _deps(state, "subnetIds"),
        "gpuModel": None,
        "gpusPerNode": 0,
        "gpusAtMin": 0,
        "gpusAtMax": 0,
        "efa": None,
        "types": types,
    }
    if types:
        gpus = min(t.gpu_count for t in types)
        models = sorted({t.gpu_model for t in types if t.gpu_model})
        pool.update(
            gpuModel=", ".join(models) or None,
            gpusPerNode=gpus,
            gpusAtMin=gpus * pool["minSize"],
            gpusAtMax=max(t.gpu_count for t in types) * pool["maxSize"],
        )
    interfaces = template_inputs.get("networkInterfaces") or []
    efa = [i for i in interfaces if i.get("interfaceType") in ("efa", "efa-only")]
    if efa and types:
        # EFA bandwidth per card (PeakBandwidthInGbps): the cards that carry an EFA device
        # against every card that can take one (p6-b300's card 0 takes ENA only).
        def efa_gbps(t: InstanceType) -> float:
            return sum(c.peak_bandwidth_gbps for c in t.cards if c.efa_capable)

        hardware = min(types, key=efa_gbps)
        speeds = {c.index: c.peak_bandwidth_gbps for c in hardware.cards if c.efa_capable}
        cards = {int(i.get("networkCardIndex") or 0) for i in efa}
        configured = sum(speeds.get(card, 0.0) for card in cards)
        maximum = efa_gbps(hardware)
        pool["efa"] = {
            "devices": len(efa),
            "cardsWithEfa": len(cards),
            "networkCards": hardware.network_cards,
            "efaCapableCards": len(speeds),
            "configuredGbps": round(configured, 1),
            "maxGbps": maximum,
            "percent": round(100 * configured / maximum, 1) if maximum else 0.0,
        }
    return pool


class CapacityStage:
    """GPUs, EFA bandwidth, subnet addresses and vCPU quotas at the pools' min and max sizes."""

    key = "capacity"
    title = "Capacity"

    def run(self, context: PlanContext) -> StageResult:
        all_states = states(context.document)
        by_urn = {s["urn"]: s for s in all_states}
        pools = [_pool(s, by_urn) for s in all_states if s["type"] == NODE_GROUP]
        pools.sort(key=lambda p: p["name"])

        pod_subnets = {
            (s.get("inputs") or {}).get("availabilityZone"): s["urn"]
            for s in all_states
            if s["type"] == SUBNET
            and ((s.get("inputs") or {}).get("tags") or {}).get(SUBNET_ROLE_TAG) == POD_SUBNET_ROLE
        }
        custom = bool(pod_subnets)
        demand: dict[str, int] = defaultdict(int)
        reserved_vcpus = 0
        blocking: list[str] = []
        for pool in pools:
            types: list[InstanceType] = pool["types"]
            if not types:
                continue
            subnets = pool["subnets"] or []
            if subnets:
                per_node = max(node_ip_demand(t, custom) for t in types)
                pods_per_node = max(pod_ip_demand(t) for t in types) if custom else 0
                # Spot capacity follows spare capacity: all nodes may land in one subnet.
                spread = pool["capacityType"] != "SPOT"
                nodes = math.ceil(pool["maxSize"] / len(subnets)) if spread else pool["maxSize"]
                for subnet in subnets:
                    demand[subnet] += nodes * per_node
                    az = ((by_urn.get(subnet) or {}).get("inputs") or {}).get("availabilityZone")
                    if custom and az in pod_subnets:
                        demand[pod_subnets[az]] += nodes * pods_per_node
            if pool["capacityType"] == "CAPACITY_BLOCK":
                reserved_vcpus += pool["maxSize"] * max(t.vcpus for t in types)

        subnet_rows = []
        for urn in sorted(demand):
            subnet = by_urn.get(urn)
            cidr = ((subnet or {}).get("inputs") or {}).get("cidrBlock")
            usable = usable_addresses(ipaddress.IPv4Network(cidr).prefixlen) if cidr else None
            row = {
                "urn": urn,
                "name": urn.rsplit("::", 1)[-1],
                "az": ((subnet or {}).get("inputs") or {}).get("availabilityZone"),
                "cidr": cidr,
                "usableAddresses": usable,
                "addressesAtMax": demand[urn],
                "percent": round(100 * demand[urn] / usable, 1) if usable else None,
            }
            if usable is not None and demand[urn] > usable:
                blocking.append(
                    f"subnet {row['name']} ({cidr}) has {usable} usable addresses; "
                    f"the pools can take {demand[urn]} at maximum scale"
                )
            subnet_rows.append(row)

        needed = vcpus_by_quota([(p["capacityType"], p["types"], p["maxSize"]) for p in pools])
        quota_rows = [
            {"code": code, "name": name, "market": market, "vcpusAtMax": needed[code]}
            for (market, _), (code, name) in VCPU_QUOTAS.items()
            if code in needed
        ]
        for pool in pools:
            if pool["unknownInstanceTypes"]:
                blocking.append(
                    f"pool {pool['name']}: instance types not in the catalog "
                    f"{pool['unknownInstanceTypes']} (capacity unknown)"
                )
        data = {
            "pools": [{k: v for k, v in p.items() if k != "types"} for p in pools],
            "subnets": subnet_rows,
            "quotas": quota_rows,
            "reservedVcpusAtMax": reserved_vcpus,
            "storage": storage_section(all_states, pools, context.config),
            "totals": {
                "gpusAtMin": sum(p["gpusAtMin"] for p in pools),
                "gpusAtMax": sum(p["gpusAtMax"] for p in pools),
            },
        }
        return StageResult.rendered(data, self._render, blocking)

    @staticmethod
    def _render(data: dict[str, Any], table: Any) -> list[str]:
        pool_rows = []
        for p in data["pools"]:
            efa = p["efa"]
            pool_rows.append(
                [
                    p["name"],
                    p["capacityType"],
                    ",".join(p["instanceTypes"]),
                    f"{p['minSize']}-{p['maxSize']}",
                    f"{p['gpusAtMin']}-{p['gpusAtMax']}",
                    p["gpuModel"] or "-",
                    (
                        f"{efa['devices']} dev, {efa['configuredGbps']:g}/{efa['maxGbps']:g} Gbps "
                        f"({efa['percent']:g}%)"
                        if efa
                        else "-"
                    ),
                ]
            )
        lines: list[str] = table(
            ["pool", "capacity", "instance types", "nodes", "GPUs", "GPU", "EFA"], pool_rows
        )
        totals = data["totals"]
        lines += [
            "",
            f"GPUs: {totals['gpusAtMin']} at minimum, {totals['gpusAtMax']} at maximum",
            "",
        ]
        lines += table(
            ["subnet", "AZ", "CIDR", "addresses at max", "usable", "used"],
            [
                [
                    s["name"],
                    s["az"] or "-",
                    s["cidr"] or "-",
                    str(s["addressesAtMax"]),
                    str(s["usableAddresses"] or "-"),
                    f"{s['percent']:g}%" if s["percent"] is not None else "-",
                ]
                for s in data["subnets"]
            ],
        )
        lines.append("")
        lines += table(
            ["quota", "name", "vCPUs at max"],
            [[q["code"], q["name"], str(q["vcpusAtMax"])] for q in data["quotas"]],
        )
        if data["reservedVcpusAtMax"]:
            lines.append(
                f"Capacity Block vCPUs (reserved, not counted): {data['reservedVcpusAtMax']}"
            )
        lines += ["", *render_storage(data["storage"], table)]
        return lines
