"""Resolve the network: subnets sized for the largest fleet, NAT placement, endpoint services."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace

from components.config import PROJECT_NAMESPACE, ConfigError, NatGateways, StackConfig
from components.resolve.pools import footprints
from components.resolve.sizing import (
    PodSubnetPlan,
    SubnetPlan,
    SubnetPlanError,
    ip_demand_per_az,
    layout_control_plane,
    node_ip_demand,
    plan_pod_subnets,
    plan_subnets,
    pod_ip_demand,
)


@dataclass(frozen=True)
class FlowLogSpec:
    retention_days: int
    traffic_type: str
    """ACCEPT | REJECT | ALL."""
    protect: bool = False
    """Protect and retain the flow log group (prod)."""


@dataclass(frozen=True)
class ExistingVpcSpec:
    vpc_id: str
    private_subnet_ids: dict[str, str]
    """AZ -> subnet id, in the stack's AZ order."""
    pod_subnet_ids: dict[str, str] = field(default_factory=dict)
    """AZ -> pod subnet id (custom networking), in the stack's AZ order; empty without."""


@dataclass(frozen=True)
class TransitSpec:
    transit_gateway_id: str
    routed_cidrs: tuple[str, ...]
    """Routed through the gateway from every private subnet (the deployer's networks)."""


@dataclass(frozen=True)
class NetworkSpec:
    """A VPC over 2-3 AZs: one private and one public subnet each, NAT, endpoints, flow logs."""

    region: str
    vpc_cidr: str
    subnets: tuple[SubnetPlan, ...]
    """One per AZ, in the stack's AZ order."""
    nat_azs: tuple[str, ...]
    """AZs that get a NAT gateway (AZs without one route through the first)."""
    interface_services: tuple[str, ...]
    """Interface endpoint service names (`com.amazonaws.<region>.<service>`)."""
    s3_service: str
    flow_logs: FlowLogSpec | None
    name_prefix: str
    """Prefix of `Name` tags (the cluster name)."""
    existing: ExistingVpcSpec | None = None
    """Set: use this VPC and its subnets; nothing but flow logs is created."""
    transit: TransitSpec | None = None
    pod_cidr: str | None = None
    """Secondary VPC range for pods (custom networking); None without `podNetwork`."""
    pod_subnets: tuple[PodSubnetPlan, ...] = ()
    """One per AZ, in the stack's AZ order, carved from `pod_cidr`."""

    @property
    def azs(self) -> tuple[str, ...]:
        if self.existing is not None:
            return tuple(self.existing.private_subnet_ids)
        return tuple(s.az for s in self.subnets)

    @property
    def custom_networking(self) -> bool:
        """Pods take their addresses from pod subnets, not from the node subnets."""
        return bool(self.pod_subnets) or bool(self.existing and self.existing.pod_subnet_ids)

    @property
    def dedicated_control_plane(self) -> bool:
        """The EKS control plane has subnets of its own."""
        return any(s.control_plane_cidr for s in self.subnets)


def resolve_network(config: StackConfig, name_prefix: str) -> NetworkSpec:
    """Pure: size and place subnets, decide NAT placement and endpoint service names."""
    azs = list(config.availability_zones)
    fleet = footprints(config.system_pool, config.gpu_pools, azs, config.region)
    custom = config.custom_networking
    demand = ip_demand_per_az(fleet, azs, lambda t: node_ip_demand(t, custom))
    existing = None
    subnets: list[SubnetPlan] = []
    pod_subnets: list[PodSubnetPlan] = []
    if config.existing_vpc is not None:
        given = config.existing_vpc.private_subnet_ids
        pods = config.existing_vpc.pod_subnet_ids
        existing = ExistingVpcSpec(
            config.existing_vpc.vpc_id,
            {az: given[az] for az in azs},
            {az: pods[az] for az in azs} if pods else {},
        )
    else:
        pinned = config.subnets
        try:
            subnets = plan_subnets(
                config.vpc_cidr, demand, pinned.private_cidrs, pinned.public_cidrs
            )
        except SubnetPlanError as exc:
            key = "subnets.privateCidrs" if pinned.private_cidrs else "vpcCidr"
            raise ConfigError([(f"{PROJECT_NAMESPACE}:{key}", str(exc))]) from None
        if pinned.control_plane:
            subnets = _with_control_plane(config, subnets)
        if config.pod_network is not None:
            key = "podNetwork.subnetCidrs" if config.pod_network.subnet_cidrs else "podNetwork.cidr"
            try:
                pod_subnets = plan_pod_subnets(
                    config.pod_network.cidr,
                    ip_demand_per_az(fleet, azs, pod_ip_demand),
                    config.pod_network.subnet_cidrs,
                )
            except SubnetPlanError as exc:
                raise ConfigError([(f"{PROJECT_NAMESPACE}:{key}", str(exc))]) from None
    access = config.api_access
    transit = (
        TransitSpec(access.transit_gateway_id, tuple(access.source_cidrs))
        if access.transit_gateway_id is not None
        else None
    )
    nat_azs = azs if config.nat_gateways is NatGateways.ONE_PER_AZ else azs[:1]
    domain = f"com.amazonaws.{config.region}"
    flow = config.flow_logs
    return NetworkSpec(
        region=config.region,
        vpc_cidr=config.vpc_cidr,
        subnets=tuple(subnets),
        nat_azs=tuple(nat_azs),
        interface_services=tuple(f"{domain}.{svc.value}" for svc in config.interface_endpoints),
        s3_service=f"{domain}.s3",
        flow_logs=(
            FlowLogSpec(flow.retention_days, flow.traffic_type, config.protect)
            if flow.enabled
            else None
        ),
        name_prefix=name_prefix,
        existing=existing,
        transit=transit,
        pod_cidr=config.pod_network.cidr if config.pod_network and not existing else None,
        pod_subnets=tuple(pod_subnets),
    )


def _with_control_plane(config: StackConfig, subnets: list[SubnetPlan]) -> list[SubnetPlan]:
    """The subnets with their AZ's control-plane subnet: pinned, or derived from the fixed plan
    and checked against the subnets actually in use (pinned ones may sit anywhere)."""
    pinned = config.subnets.control_plane_cidrs
    key = f"{PROJECT_NAMESPACE}:subnets.controlPlaneCidrs"
    if pinned:
        chosen = dict(pinned)
    else:
        try:
            chosen = layout_control_plane(config.vpc_cidr, [s.az for s in subnets])
        except SubnetPlanError as exc:
            raise ConfigError([(key, str(exc))]) from None
    used = [(f"{s.az} {c}", c) for s in subnets for c in (s.private_cidr, s.public_cidr)]
    for az, cidr in chosen.items():
        net = ipaddress.IPv4Network(cidr)
        clash = [name for name, other in used if net.overlaps(ipaddress.IPv4Network(other))]
        if clash:
            origin = "pinned" if pinned else "derived"
            raise ConfigError(
                [
                    (
                        f"{key}.{az}" if pinned else key,
                        f"the {origin} control-plane subnet {cidr} of {az} overlaps the subnet "
                        f"{clash[0]}" + ("" if pinned else ": pin subnets.controlPlaneCidrs"),
                    )
                ]
            )
    return [replace(s, control_plane_cidr=chosen[s.az]) for s in subnets]
