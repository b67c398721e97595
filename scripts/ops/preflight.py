"""`preflight STACK`: can this AWS account and region run the stack? A go/no-go table.

Checks, for the system pool and every GPU pool of the stack:

- quota: each EC2 vCPU service quota the pools need at their maximum size
  (`components.catalog.vcpus_by_quota`) against the account's applied value (the AWS default when
  no value was ever applied);
- offered: every instance type of every pool is offered in each of the pool's AZs (a type missing
  from an AZ is only a warning when the pool's other types cover that AZ);
- efa: EFA pools' types support EFA and have as many network cards as the catalog says;
- reservation: a pool's capacity reservation (ODCR or Capacity Block) exists, is active or
  scheduled, is for one of the pool's types and sits in one of the pool's AZs;
- subnet: with `existingVpc`, each private subnet is in its VPC and AZ and has the free addresses
  its AZ's fleet needs at maximum size;
- eks-version: EKS offers the stack's Kubernetes version in the region;
- addon: every managed add-on build pinned in components/versions.py is offered for that version
  (`describe-addon-versions`); an unpinned add-on reports the default build EKS will install.

Exit code 1 when any check says no-go, 0 otherwise (warnings do not fail).
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

from botocore.exceptions import ClientError

from components import versions
from components.catalog import VCPU_QUOTAS, InstanceType, get_instance_type, vcpus_by_quota
from components.config import StackConfig
from components.resolve.pools import footprints, pool_azs, pool_instance_types
from components.resolve.sizing import (
    ip_demand_per_az,
    node_ip_demand,
    pod_ip_demand,
    required_addresses,
)
from scripts.ops.aws import Aws, error_code
from scripts.ops.common import Report, table

GO = "go"
NO_GO = "no-go"
WARN = "warn"
QUOTA_NAMES = {code: name for code, name in VCPU_QUOTAS.values()}
USABLE_RESERVATION_STATES = ("active", "scheduled")


@dataclass(frozen=True)
class Pool:
    """What preflight needs to know about one node group."""

    name: str
    capacity_type: str
    types: tuple[InstanceType, ...]
    max_size: int
    azs: tuple[str, ...]
    efa: bool = False
    reservation_id: str | None = None


@dataclass(frozen=True)
class Check:
    check: str
    subject: str
    result: str
    detail: str


def stack_pools(config: StackConfig) -> list[Pool]:
    """The system pool and every GPU pool, with their resolved instance types and AZs."""
    system = config.system_pool
    pools = [
        Pool(
            name="system",
            capacity_type="ON_DEMAND",
            types=tuple(get_instance_type(n) for n in system.instance_types),
            max_size=system.max_size,
            azs=tuple(config.availability_zones),
        )
    ]
    for pool in config.gpu_pools:
        pools.append(
            Pool(
                name=pool.name,
                capacity_type=pool.capacity_type.value,
                types=tuple(pool_instance_types(pool)),
                max_size=pool.max_size,
                azs=tuple(pool_azs(pool, config.availability_zones, config.region)),
                efa=pool.efa,
                reservation_id=pool.capacity_reservation_id,
            )
        )
    return pools


# --------------------------------------------------------------------------- quotas


def _quota_value(client: Any, code: str) -> tuple[float, bool]:
    """(value, is_default): the applied quota, or AWS's default when none was ever applied."""
    try:
        quota = client.get_service_quota(ServiceCode="ec2", QuotaCode=code)["Quota"]
        return float(quota["Value"]), False
    except ClientError as exc:
        if error_code(exc) != "NoSuchResourceException":
            raise
    quota = client.get_aws_default_service_quota(ServiceCode="ec2", QuotaCode=code)["Quota"]
    return float(quota["Value"]), True


def check_quotas(aws: Aws, pools: Sequence[Pool]) -> list[Check]:
    needs = vcpus_by_quota([(p.capacity_type, list(p.types), p.max_size) for p in pools])
    by_pool: dict[str, list[str]] = defaultdict(list)
    for pool in pools:
        for code, vcpus in vcpus_by_quota(
            [(pool.capacity_type, list(pool.types), pool.max_size)]
        ).items():
            by_pool[code].append(f"{pool.name} {vcpus}")
    client = aws.client("service-quotas")
    checks = []
    for code in sorted(needs):
        need = needs[code]
        value, default = _quota_value(client, code)
        detail = (
            f"need {need:,} vCPUs at max size ({', '.join(by_pool[code])}), "
            f"{'default ' if default else ''}quota {value:,.0f}"
        )
        ok = value >= need
        if not ok:
            detail += f": request an increase to {need:,}"
        checks.append(
            Check(
                "quota", f"{code} {QUOTA_NAMES.get(code, '')}".strip(), GO if ok else NO_GO, detail
            )
        )
    return checks


# --------------------------------------------------------------------------- offerings


def check_offerings(aws: Aws, pools: Sequence[Pool]) -> list[Check]:
    names = sorted({t.name for p in pools for t in p.types})
    offered: dict[str, set[str]] = defaultdict(set)
    paginator = aws.client("ec2").get_paginator("describe_instance_type_offerings")
    for page in paginator.paginate(
        LocationType="availability-zone",
        Filters=[{"Name": "instance-type", "Values": names}],
    ):
        for offering in page["InstanceTypeOfferings"]:
            offered[offering["InstanceType"]].add(offering["Location"])
    checks = []
    for pool in pools:
        for kind in pool.types:
            missing = [az for az in pool.azs if az not in offered[kind.name]]
            subject = f"{pool.name}: {kind.name}"
            if not missing:
                checks.append(Check("offered", subject, GO, f"in {', '.join(pool.azs)}"))
                continue
            others = [t.name for t in pool.types if t.name != kind.name]
            covered = all(any(az in offered[o] for o in others) for az in missing)
            detail = f"not offered in {', '.join(missing)}"
            if covered:
                checks.append(
                    Check("offered", subject, WARN, detail + " (the pool's other types cover it)")
                )
            else:
                checks.append(Check("offered", subject, NO_GO, detail))
    return checks


# --------------------------------------------------------------------------- EFA


def check_efa(aws: Aws, pools: Sequence[Pool]) -> list[Check]:
    efa_pools = [p for p in pools if p.efa]
    if not efa_pools:
        return []
    names = sorted({t.name for p in efa_pools for t in p.types})
    client = aws.client("ec2")
    info: dict[str, dict[str, Any]] = {}
    for name in names:  # one call per type: an unknown type fails only its own check
        try:
            found = client.describe_instance_types(InstanceTypes=[name])["InstanceTypes"]
        except ClientError as exc:
            if error_code(exc) != "InvalidInstanceType":
                raise
            found = []
        info.update({item["InstanceType"]: item for item in found})
    checks = []
    for pool in efa_pools:
        for kind in pool.types:
            subject = f"{pool.name}: {kind.name}"
            item = info.get(kind.name)
            if item is None:
                checks.append(Check("efa", subject, NO_GO, "EC2 does not know this type here"))
                continue
            network = item.get("NetworkInfo", {})
            cards = int(network.get("MaximumNetworkCards") or 1)
            if not network.get("EfaSupported"):
                checks.append(Check("efa", subject, NO_GO, "EC2 reports no EFA support"))
            elif cards != kind.network_cards:
                checks.append(
                    Check(
                        "efa",
                        subject,
                        NO_GO,
                        f"EC2 reports {cards} network cards, the catalog {kind.network_cards}: "
                        "the launch template would ask for devices that do not exist",
                    )
                )
            else:
                checks.append(Check("efa", subject, GO, f"EFA on {cards} network cards"))
    return checks


# --------------------------------------------------------------------------- reservations


def _day(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.strftime("%Y-%m-%d %H:%M UTC") if isinstance(value, datetime) else str(value)
    return str(value)


def check_reservations(aws: Aws, pools: Sequence[Pool]) -> list[Check]:
    checks = []
    client = aws.client("ec2")
    for pool in pools:
        if pool.reservation_id is None:
            continue
        subject = f"{pool.name}: {pool.reservation_id}"
        try:
            found = client.describe_capacity_reservations(
                CapacityReservationIds=[pool.reservation_id]
            )["CapacityReservations"]
        except ClientError as exc:
            if not error_code(exc).startswith("InvalidCapacityReservationId"):
                raise
            found = []
        if not found:
            checks.append(
                Check(
                    "reservation", subject, NO_GO, f"no such capacity reservation in {aws.region}"
                )
            )
            continue
        reservation = found[0]
        state = reservation.get("State", "?")
        kind = reservation.get("InstanceType", "?")
        az = reservation.get("AvailabilityZone", "?")
        count = int(reservation.get("TotalInstanceCount") or 0)
        problems = []
        if state not in USABLE_RESERVATION_STATES:
            problems.append(f"state is {state} (needs active or scheduled)")
        if kind not in {t.name for t in pool.types}:
            problems.append(
                f"it reserves {kind}, the pool runs {', '.join(t.name for t in pool.types)}"
            )
        if az not in pool.azs:
            problems.append(f"it is in {az}, the pool in {', '.join(pool.azs)}")
        span = ""
        if reservation.get("StartDate") or reservation.get("EndDate"):
            span = (
                f", {_day(reservation.get('StartDate', '?'))} to "
                f"{_day(reservation.get('EndDate', 'no end'))}"
            )
        summary = (
            f"{state} {reservation.get('ReservationType', 'default')} reservation, "
            f"{count} x {kind} in {az}{span}"
        )
        if problems:
            checks.append(Check("reservation", subject, NO_GO, "; ".join(problems)))
        elif pool.capacity_type == "CAPACITY_BLOCK" and count < pool.max_size:
            checks.append(
                Check(
                    "reservation",
                    subject,
                    WARN,
                    f"{summary}; pool maxSize {pool.max_size} exceeds the block's {count}",
                )
            )
        else:
            checks.append(Check("reservation", subject, GO, summary))
    return checks


# --------------------------------------------------------------------------- EKS version


def check_eks_version(aws: Aws, version: str) -> list[Check]:
    client = aws.client("eks")
    subject = f"Kubernetes {version}"
    if not hasattr(client, "describe_cluster_versions"):  # older botocore
        addons = client.describe_addon_versions(kubernetesVersion=version).get("addons") or []
        if addons:
            return [Check("eks-version", subject, GO, f"{len(addons)} add-ons built for it")]
        return [Check("eks-version", subject, NO_GO, f"EKS has no add-ons for {version}")]
    found = [
        v
        for v in client.describe_cluster_versions(clusterVersions=[version]).get(
            "clusterVersions", []
        )
        if v.get("clusterVersion") == version
    ]
    if not found:
        return [
            Check("eks-version", subject, NO_GO, f"EKS does not offer {version} in {aws.region}")
        ]
    item = found[0]
    status = str(item.get("versionStatus") or item.get("status") or "").upper().replace("-", "_")
    if status == "STANDARD_SUPPORT":
        end = item.get("endOfStandardSupportDate")
        detail = "standard support" + (f" until {_day(end)[:10]}" if end else "")
        return [Check("eks-version", subject, GO, detail)]
    if status == "EXTENDED_SUPPORT":
        end = item.get("endOfExtendedSupportDate")
        detail = (
            "extended support only (control plane $0.60/h instead of $0.10/h)"
            + (f" until {_day(end)[:10]}" if end else "")
            + ": plan an upgrade"
        )
        return [Check("eks-version", subject, WARN, detail)]
    return [Check("eks-version", subject, NO_GO, f"status {status or 'unknown'}")]


# --------------------------------------------------------------------------- existing VPC


def check_existing_subnets(aws: Aws, config: StackConfig) -> list[Check]:
    """With `existingVpc`: each private subnet is in the VPC and AZ it is given for, and has the
    free addresses its AZ's fleet needs at maximum size (the same rule as the address plan).
    With `existingVpc.podSubnetIds` (custom networking) the node subnets need the nodes' own
    addresses only, and each pod subnet is checked the same way against its AZ's pods."""
    existing = config.existing_vpc
    if existing is None:
        return []
    azs = list(config.availability_zones)
    fleet = footprints(config.system_pool, config.gpu_pools, azs, config.region)
    custom = bool(existing.pod_subnet_ids)
    groups = [
        ("subnet", existing.private_subnet_ids, "the fleet", lambda t: node_ip_demand(t, custom))
    ]
    if custom:
        groups.append(("pod-subnet", existing.pod_subnet_ids, "its pods", pod_ip_demand))
    ids = [given[az] for _, given, _, _ in groups for az in azs]
    found = {
        s["SubnetId"]: s
        for s in aws.client("ec2").describe_subnets(SubnetIds=ids).get("Subnets", [])
    }
    checks = []
    for kind, given, what, per_node in groups:
        demand = ip_demand_per_az(fleet, azs, per_node)
        for az in azs:
            subnet_id = given[az]
            subnet = found.get(subnet_id)
            subject = f"{az} {subnet_id}"
            if subnet is None:
                checks.append(Check(kind, subject, NO_GO, "not found"))
                continue
            problems = []
            if subnet.get("VpcId") != existing.vpc_id:
                problems.append(f"it is in {subnet.get('VpcId')}, not {existing.vpc_id}")
            if subnet.get("AvailabilityZone") != az:
                problems.append(f"it is in {subnet.get('AvailabilityZone')}, not {az}")
            free = int(subnet.get("AvailableIpAddressCount", 0))
            need = required_addresses(demand[az])
            detail = f"{free:,} free addresses, {what} needs {need:,} at maximum size"
            if free < need:
                problems.append(detail)
            result = NO_GO if problems else GO
            checks.append(Check(kind, subject, result, "; ".join(problems) or detail))
    return checks


# --------------------------------------------------------------------------- add-on builds

ADDON_FIELDS = {
    "vpc-cni": "vpc_cni",
    "coredns": "coredns",
    "kube-proxy": "kube_proxy",
    "eks-pod-identity-agent": "pod_identity_agent",
    "aws-ebs-csi-driver": "ebs_csi_driver",
    "aws-fsx-csi-driver": "fsx_csi_driver",
    "eks-node-monitoring-agent": "node_monitoring_agent",
    "aws-mountpoint-s3-csi-driver": "mountpoint_s3_csi_driver",
}
"""EKS add-on name -> field of `versions.AddonVersions`."""


def stack_addons(config: StackConfig) -> dict[str, str | None]:
    """The managed add-ons the stack installs and their pinned builds (None: EKS's default)."""
    pinned = versions.EKS_ADDONS[config.kubernetes_version]
    wanted = dict(ADDON_FIELDS)
    if not config.storage.fsx.enabled:
        del wanted["aws-fsx-csi-driver"]
    if not config.gpu_pools:
        del wanted["eks-node-monitoring-agent"]
    if not config.storage.mountpoint.enabled:
        del wanted["aws-mountpoint-s3-csi-driver"]
    return {name: getattr(pinned, field) for name, field in wanted.items()}


def check_addons(aws: Aws, config: StackConfig) -> list[Check]:
    client = aws.client("eks")
    version = config.kubernetes_version
    checks = []
    for name, pinned in stack_addons(config).items():
        offered: list[str] = []
        default = None
        response = client.describe_addon_versions(addonName=name, kubernetesVersion=version)
        for addon in response.get("addons") or []:
            for build in addon.get("addonVersions") or []:
                for compat in build.get("compatibilities") or []:
                    if compat.get("clusterVersion") != version:
                        continue
                    offered.append(build["addonVersion"])
                    if compat.get("defaultVersion"):
                        default = build["addonVersion"]
        subject = f"{name} for {version}"
        if pinned is None:
            detail = f"unpinned: EKS installs its default build {default or '(none listed)'}"
            checks.append(Check("addon", subject, GO if default else NO_GO, detail))
        elif pinned in offered:
            checks.append(Check("addon", subject, GO, f"{pinned} offered"))
        else:
            newest = ", ".join(sorted(offered, reverse=True)[:3]) or "none"
            checks.append(
                Check("addon", subject, NO_GO, f"{pinned} is not offered (offered: {newest})")
            )
    return checks


# --------------------------------------------------------------------------- command


def run_preflight(aws: Aws, stack: str, config: StackConfig) -> Report:
    pools = stack_pools(config)
    checks = [
        *check_quotas(aws, pools),
        *check_offerings(aws, pools),
        *check_efa(aws, pools),
        *check_reservations(aws, pools),
        *check_existing_subnets(aws, config),
    ]
    version = check_eks_version(aws, config.kubernetes_version)
    checks += version
    # Add-on builds are per Kubernetes version: only worth asking about an offered one.
    if all(c.result != NO_GO for c in version):
        checks += check_addons(aws, config)
    no_go = [c for c in checks if c.result == NO_GO]
    warnings = [c for c in checks if c.result == WARN]
    result = NO_GO if no_go else GO
    lines = [
        f"preflight: stack {stack}, region {aws.region}, "
        f"{len(pools)} pools, Kubernetes {config.kubernetes_version}",
        "",
        *table(
            ["check", "subject", "result", "detail"],
            [[c.check, c.subject, c.result, c.detail] for c in checks],
        ),
        "",
        f"RESULT: {result} ({len(checks)} checks, {len(no_go)} no-go, {len(warnings)} warnings)",
    ]
    data = {
        "stack": stack,
        "region": aws.region,
        "result": result,
        "checks": [asdict(c) for c in checks],
    }
    return Report(data=data, lines=lines, exit_code=1 if no_go else 0)


def handle(args: argparse.Namespace, aws: Aws) -> Report:
    return run_preflight(aws, args.stack, args.config)


def register(
    subparsers: Any, common: argparse.ArgumentParser, stack: argparse.ArgumentParser
) -> None:
    parser = subparsers.add_parser(
        "preflight",
        parents=[stack, common],
        help="go/no-go checks: quotas, offerings, EFA, reservations, EKS version, add-ons",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(handler=handle)
