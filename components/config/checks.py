"""Checks that span sections of the stack config (teams against namespaces, add-on prerequisites,
pool AZs against the stack's). Each returns (key path, message) pairs; the loader reports them
all at once."""

from __future__ import annotations

import ipaddress

from components.config.choices import EndpointAccess, PoolPurpose
from components.config.errors import PROJECT_NAMESPACE
from components.config.models import RESERVED_NAMESPACES, StackConfig


def cross_checks(config: StackConfig) -> list[tuple[str, str]]:
    """Checks that span sections (pool AZs against the stack's AZs, add-on prerequisites)."""
    problems: list[tuple[str, str]] = []
    addons = f"{PROJECT_NAMESPACE}:addons"
    seen: set[str] = set()
    for index, team in enumerate(config.teams):
        path = f"{PROJECT_NAMESPACE}:teams[{index}].name"
        if team.name in seen:
            problems.append((path, f"{team.name!r} is listed twice"))
        if team.name in RESERVED_NAMESPACES or team.name.startswith("kube-"):
            problems.append((path, f"{team.name!r} is a namespace the platform or Kubernetes uses"))
        if team.name == config.storage.training_namespace:
            problems.append(
                (path, f"{team.name!r} is the training namespace (storage.trainingNamespace)")
            )
        seen.add(team.name)
    if config.addons.triton:
        if not any(p.purpose is PoolPurpose.INFERENCE for p in config.gpu_pools):
            problems.append((f"{addons}.triton", "Triton needs a GPU pool with purpose: inference"))
        if not config.addons.observability:
            problems.append(
                (f"{addons}.triton", "Triton scales on Prometheus metrics: turn on observability")
            )
    for index, pool in enumerate(config.gpu_pools):
        path = f"{PROJECT_NAMESPACE}:gpuPools[{index}].availabilityZones"
        if pool.availability_zones is None:
            continue
        unknown = [az for az in pool.availability_zones if az not in config.availability_zones]
        if unknown:
            problems.append(
                (
                    path,
                    f"{unknown} not among the stack's availabilityZones "
                    f"{config.availability_zones}",
                )
            )
        if pool.efa and len(pool.availability_zones) != 1:
            problems.append(
                (path, f"an EFA pool lives in exactly one AZ (got {pool.availability_zones})")
            )
        if pool.capacity_reservation_id and len(pool.availability_zones) != 1:
            problems.append(
                (
                    path,
                    "a pool in a capacity reservation lives in the reservation's AZ only "
                    f"(got {pool.availability_zones})",
                )
            )
    problems.extend(api_reachability(config))
    problems.extend(address_plan(config))
    return problems


def _per_az_cidrs(
    path: str,
    given: dict[str, str],
    azs: list[str],
    parent: ipaddress.IPv4Network,
    parent_name: str,
    seen: list[tuple[str, ipaddress.IPv4Network]],
) -> list[tuple[str, str]]:
    """Pinned subnets of one kind: one per AZ, inside `parent`, none overlapping a subnet already
    `seen` (which they join)."""
    problems: list[tuple[str, str]] = []
    if given and sorted(given) != sorted(azs):
        problems.append((path, f"needs one CIDR per AZ of {azs}"))
    for az, cidr in sorted(given.items()):
        net = ipaddress.IPv4Network(cidr)
        if not net.subnet_of(parent):
            problems.append((f"{path}.{az}", f"{cidr} is outside {parent_name}"))
        clash = [name for name, other in seen if other.overlaps(net)]
        if clash:
            problems.append((f"{path}.{az}", f"{cidr} overlaps {clash[0]}"))
        seen.append((f"{az} {cidr}", net))
    return problems


def address_plan(config: StackConfig) -> list[tuple[str, str]]:
    """Pinned subnets: one per AZ, inside the VPC range, none overlapping another."""
    problems: list[tuple[str, str]] = []
    vpc = ipaddress.IPv4Network(config.vpc_cidr)
    seen: list[tuple[str, ipaddress.IPv4Network]] = []
    for key, alias in (("private_cidrs", "privateCidrs"), ("public_cidrs", "publicCidrs")):
        given: dict[str, str] = getattr(config.subnets, key)
        path = f"{PROJECT_NAMESPACE}:subnets.{alias}"
        problems += _per_az_cidrs(
            path, given, config.availability_zones, vpc, f"vpcCidr {config.vpc_cidr}", seen
        )
    problems.extend(_control_plane_subnets(config, seen))
    problems.extend(pod_network(config))
    return problems


RFC_6598 = "100.64.0.0/10"
RFC_1918 = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")


def _control_plane_subnets(
    config: StackConfig, seen: list[tuple[str, ipaddress.IPv4Network]]
) -> list[tuple[str, str]]:
    """Pinned control-plane subnets: one per AZ (EKS wants subnets in two AZs at least; the
    stack has two or three), inside the VPC, clear of the pinned node and public subnets."""
    problems: list[tuple[str, str]] = []
    subnets = config.subnets
    path = f"{PROJECT_NAMESPACE}:subnets.controlPlaneCidrs"
    if config.existing_vpc is not None and subnets.control_plane:
        problems.append(
            (
                f"{PROJECT_NAMESPACE}:subnets",
                "dedicated control-plane subnets are carved from a VPC this stack creates: "
                "remove subnets.dedicatedControlPlane and subnets.controlPlaneCidrs with "
                "existingVpc",
            )
        )
        return problems
    vpc = ipaddress.IPv4Network(config.vpc_cidr)
    problems += _per_az_cidrs(
        path,
        subnets.control_plane_cidrs,
        config.availability_zones,
        vpc,
        f"vpcCidr {config.vpc_cidr}",
        seen,
    )
    return problems


def secondary_range_allowed(vpc_cidr: str, cidr: str) -> bool:
    """AWS's rule for a secondary IPv4 range, as this platform applies it: RFC 6598
    (100.64.0.0/10) with any primary range, or a range of the same RFC 1918 block as the
    primary (a secondary range from another RFC 1918 block is refused)."""
    net, vpc = ipaddress.IPv4Network(cidr), ipaddress.IPv4Network(vpc_cidr)
    if net.subnet_of(ipaddress.IPv4Network(RFC_6598)):
        return True
    return any(
        net.subnet_of(block) and vpc.subnet_of(block)
        for block in map(ipaddress.IPv4Network, RFC_1918)
    )


def pod_network(config: StackConfig) -> list[tuple[str, str]]:
    """The pod range: allowed as a secondary VPC range, clear of every other range the stack
    knows; pinned pod subnets one per AZ inside it, none overlapping another. With an existing
    VPC, pods' subnets are given as ids instead."""
    ns = PROJECT_NAMESPACE
    problems: list[tuple[str, str]] = []
    existing = config.existing_vpc
    if existing is not None and existing.pod_subnet_ids:
        pod_azs = sorted(existing.pod_subnet_ids)
        if pod_azs != sorted(config.availability_zones):
            problems.append(
                (
                    f"{ns}:existingVpc.podSubnetIds",
                    f"needs exactly one subnet per availabilityZones "
                    f"{config.availability_zones} (got {pod_azs})",
                )
            )
        nodes = set(existing.private_subnet_ids.values())
        clash = sorted(set(existing.pod_subnet_ids.values()) & nodes)
        if clash:
            problems.append(
                (
                    f"{ns}:existingVpc.podSubnetIds",
                    f"{clash} are also node subnets (existingVpc.privateSubnetIds): pod subnets "
                    "are separate subnets",
                )
            )
    pods = config.pod_network
    if pods is None:
        return problems
    path = f"{ns}:podNetwork"
    if existing is not None:
        problems.append(
            (
                path,
                "an existing VPC's ranges are its owner's: remove podNetwork and give the pod "
                "subnets as existingVpc.podSubnetIds",
            )
        )
        return problems
    net = ipaddress.IPv4Network(pods.cidr)
    if not secondary_range_allowed(config.vpc_cidr, pods.cidr):
        problems.append(
            (
                f"{path}.cidr",
                f"{pods.cidr} cannot be a secondary range of vpcCidr {config.vpc_cidr}: use "
                f"RFC 6598 ({RFC_6598}, for example 100.64.0.0/16) or a range of the RFC 1918 "
                "block vpcCidr is in",
            )
        )
    others = [("vpcCidr", config.vpc_cidr)]
    others += [("apiAccess.sourceCidrs", c) for c in config.api_access.source_cidrs]
    for key, other in others:
        if net.overlaps(ipaddress.IPv4Network(other)):
            problems.append((f"{path}.cidr", f"{pods.cidr} overlaps {key} {other}"))
    problems += _per_az_cidrs(
        f"{path}.subnetCidrs", pods.subnet_cidrs, config.availability_zones, net, pods.cidr, []
    )
    return problems


def _within(cidr: str, ranges: list[str]) -> bool:
    net = ipaddress.IPv4Network(cidr)
    return any(net.subnet_of(ipaddress.IPv4Network(r)) for r in ranges)


def api_reachability(config: StackConfig) -> list[tuple[str, str]]:
    """The deployer (Pulumi's Kubernetes provider) must reach the API on the first `pulumi up`,
    from a network that exists before the stack. Refuse configs where it cannot."""
    ns = PROJECT_NAMESPACE
    problems: list[tuple[str, str]] = []
    access, deployer, existing = config.api_access, config.deployer, config.existing_vpc
    for index, entry in enumerate(config.access_entries):
        if entry.principal_arn == deployer.principal_arn:
            problems.append(
                (
                    f"{ns}:accessEntries[{index}].principalArn",
                    f"{entry.principal_arn} is deployer.principalArn, which already gets the "
                    "cluster-admin entry (EKS refuses a second entry for one principal)",
                )
            )
    if existing is not None:
        azs, given = config.availability_zones, sorted(existing.private_subnet_ids)
        if sorted(azs) != given:
            problems.append(
                (
                    f"{ns}:existingVpc.privateSubnetIds",
                    f"needs exactly one subnet per availabilityZones {azs} (got {given})",
                )
            )
        if access.transit_gateway_id is not None:
            problems.append(
                (
                    f"{ns}:apiAccess.transitGatewayId",
                    "routing of an existing VPC is its owner's: remove it with existingVpc",
                )
            )
    if config.endpoint_access is EndpointAccess.PRIVATE:
        if "public_access_cidrs" in config.model_fields_set:
            problems.append(
                (f"{ns}:publicAccessCidrs", "has no effect on a private endpoint: remove it")
            )
        if not access.source_cidrs and not access.source_security_group_ids:
            problems.append(
                (
                    f"{ns}:apiAccess",
                    "a private endpoint needs a way in for the deployer: set "
                    f"{ns}:apiAccess.sourceCidrs (with apiAccess.transitGatewayId, or "
                    f"existingVpc) or {ns}:apiAccess.sourceSecurityGroupIds (with existingVpc)",
                )
            )
        if existing is None:
            if access.source_security_group_ids:
                problems.append(
                    (
                        f"{ns}:apiAccess.sourceSecurityGroupIds",
                        "security groups of a VPC this stack creates cannot exist before it: "
                        "use existingVpc, or apiAccess.sourceCidrs",
                    )
                )
            inside = [c for c in access.source_cidrs if _overlaps(c, config.vpc_cidr)]
            if inside:
                problems.append(
                    (
                        f"{ns}:apiAccess.sourceCidrs",
                        f"{inside} overlap vpcCidr {config.vpc_cidr}: the deployer's network "
                        "must exist before the stack creates its VPC",
                    )
                )
            if access.source_cidrs and access.transit_gateway_id is None:
                problems.append(
                    (
                        f"{ns}:apiAccess.transitGatewayId",
                        f"the new VPC has no route back to {access.source_cidrs}: name the "
                        "transit gateway of the deployer's network, or use existingVpc",
                    )
                )
        outside = [c for c in deployer.egress_cidrs if not _within(c, access.source_cidrs)]
        if outside and not access.source_security_group_ids:
            problems.append(
                (
                    f"{ns}:deployer.egressCidrs",
                    f"{outside} are not within apiAccess.sourceCidrs {access.source_cidrs}",
                )
            )
    else:
        outside = [c for c in deployer.egress_cidrs if not _within(c, config.public_access_cidrs)]
        if outside:
            problems.append(
                (
                    f"{ns}:deployer.egressCidrs",
                    f"{outside} are not within publicAccessCidrs {config.public_access_cidrs}",
                )
            )
        if not deployer.runner_labels and not _within("0.0.0.0/0", config.public_access_cidrs):
            problems.append(
                (
                    f"{ns}:deployer.runnerLabels",
                    "without self-hosted runners the deployer comes from anywhere on the "
                    "internet, outside publicAccessCidrs: set deployer.runnerLabels and "
                    "deployer.egressCidrs",
                )
            )
        if access.source_cidrs or access.source_security_group_ids:
            problems.append(
                (f"{ns}:apiAccess", "applies to a private endpoint (endpointAccess: private)")
            )
    return problems


def _overlaps(a: str, b: str) -> bool:
    return ipaddress.IPv4Network(a).overlaps(ipaddress.IPv4Network(b))
