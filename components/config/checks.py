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


def address_plan(config: StackConfig) -> list[tuple[str, str]]:
    """Pinned subnets: one per AZ, inside the VPC range, none overlapping another."""
    problems: list[tuple[str, str]] = []
    vpc = ipaddress.IPv4Network(config.vpc_cidr)
    seen: list[tuple[str, ipaddress.IPv4Network]] = []
    for key, alias in (("private_cidrs", "privateCidrs"), ("public_cidrs", "publicCidrs")):
        given: dict[str, str] = getattr(config.subnets, key)
        path = f"{PROJECT_NAMESPACE}:subnets.{alias}"
        if given and sorted(given) != sorted(config.availability_zones):
            problems.append((path, f"needs one CIDR per AZ of {config.availability_zones}"))
        for az, cidr in sorted(given.items()):
            net = ipaddress.IPv4Network(cidr)
            if not net.subnet_of(vpc):
                problems.append((f"{path}.{az}", f"{cidr} is outside vpcCidr {config.vpc_cidr}"))
            clash = [name for name, other in seen if other.overlaps(net)]
            if clash:
                problems.append((f"{path}.{az}", f"{cidr} overlaps {clash[0]}"))
            seen.append((f"{az} {cidr}", net))
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
