"""Resolve the network: subnets sized for the largest fleet, NAT placement, endpoint services."""

from __future__ import annotations

from dataclasses import dataclass

from components.config import PROJECT_NAMESPACE, ConfigError, NatGateways, StackConfig
from components.resolve.pools import footprints
from components.resolve.sizing import SubnetPlan, SubnetPlanError, ip_demand_per_az, plan_subnets


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

    @property
    def azs(self) -> tuple[str, ...]:
        if self.existing is not None:
            return tuple(self.existing.private_subnet_ids)
        return tuple(s.az for s in self.subnets)


def resolve_network(config: StackConfig, name_prefix: str) -> NetworkSpec:
    """Pure: size and place subnets, decide NAT placement and endpoint service names."""
    azs = list(config.availability_zones)
    demand = ip_demand_per_az(
        footprints(config.system_pool, config.gpu_pools, azs, config.region), azs
    )
    existing = None
    subnets: list[SubnetPlan] = []
    if config.existing_vpc is not None:
        given = config.existing_vpc.private_subnet_ids
        existing = ExistingVpcSpec(config.existing_vpc.vpc_id, {az: given[az] for az in azs})
    else:
        pinned = config.subnets
        try:
            subnets = plan_subnets(
                config.vpc_cidr, demand, pinned.private_cidrs, pinned.public_cidrs
            )
        except SubnetPlanError as exc:
            key = "subnets.privateCidrs" if pinned.private_cidrs else "vpcCidr"
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
    )
