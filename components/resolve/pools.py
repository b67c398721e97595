"""Pure facts about node pools that several components need (sizing, node groups, capacity)."""

from __future__ import annotations

from collections.abc import Sequence

from components.catalog import InstanceType, get_instance_type, types_meeting
from components.catalog.zones import offered_zones
from components.config import CapacityType, GpuPool, PoolPurpose, SystemPool
from components.resolve.sizing import PoolFootprint


def pool_instance_types(pool: GpuPool) -> list[InstanceType]:
    """Explicit types, or the cheapest priced catalog types meeting the pool's GPU need that have
    the cheapest one's vCPUs and memory: the Cluster Autoscaler builds an empty group's node
    template from its first type, so a pool that mixed sizes would be scaled for the wrong one."""
    if pool.instance_types:
        return [get_instance_type(name) for name in pool.instance_types]
    need = pool.gpu_need
    assert need is not None  # the config model requires one of the two
    found = types_meeting(
        gpu_model=need.gpu_model,
        min_gpus=need.gpus_per_node,
        max_gpus=need.gpus_per_node,
        min_gpu_memory_gib=need.min_gpu_memory_gib,
    )
    if not found:
        return []
    # An unpriced type (no citable price) cannot be known to be among the cheapest: derive
    # from priced types when there are any.
    found = tuple(t for t in found if t.priced) or found
    first = found[0]
    alike = [t for t in found if (t.vcpus, t.memory_mib) == (first.vcpus, first.memory_mib)]
    return alike[: need.max_instance_types]


def pool_azs(pool: GpuPool, stack_azs: Sequence[str], region: str | None = None) -> list[str]:
    """The pool's AZs: as configured, else one AZ for EFA pools and pools in a capacity
    reservation (the first of the stack's AZs that offers the pool's type, in AWS's offering
    data for `region`), else all of them."""
    if pool.availability_zones:
        return list(pool.availability_zones)
    single = pool.efa or pool.capacity_reservation_id is not None
    if not single:
        return list(stack_azs)
    if region is not None:
        types = [t.name for t in pool_instance_types(pool)]
        for az in stack_azs:
            if all(az in (offered_zones(region, t) or (az,)) for t in types):
                return [az]
    return [stack_azs[0]]


def offering_problems(types: Sequence[InstanceType], azs: Sequence[str], region: str) -> list[str]:
    """AZs where none of the pool's types is offered, or, for a one-AZ pool, types missing from
    it (AWS's offering data; empty when the data does not cover the region)."""
    problems = []
    for az in azs:
        missing = [t.name for t in types if az not in (offered_zones(region, t.name) or (az,))]
        if missing and (len(azs) == 1 or len(missing) == len(types)):
            where = {t: offered_zones(region, t) for t in missing}
            problems += [
                f"{t} is not offered in {az} (offered in: {', '.join(z) or 'none of ' + region})"
                for t, z in where.items()
                if z is not None
            ]
    return problems


def footprints(
    system: SystemPool,
    gpu_pools: Sequence[GpuPool],
    stack_azs: Sequence[str],
    region: str | None = None,
) -> list[PoolFootprint]:
    """Every pool at its maximum, for subnet sizing."""
    result = [
        PoolFootprint(
            name="system",
            instance_types=[get_instance_type(n) for n in system.instance_types],
            max_size=system.max_size,
            availability_zones=list(stack_azs),
        )
    ]
    result += [
        PoolFootprint(
            name=pool.name,
            instance_types=pool_instance_types(pool),
            max_size=pool.max_size,
            availability_zones=pool_azs(pool, stack_azs, region),
            balanced=pool.capacity_type is not CapacityType.SPOT,
        )
        for pool in gpu_pools
    ]
    return result


def training_az(
    gpu_pools: Sequence[GpuPool], stack_azs: Sequence[str], region: str | None = None
) -> str:
    """The AZ of the hot storage tier: the first EFA pool's, else the first training pool's,
    else the stack's first AZ (cross-AZ Lustre traffic costs money and latency)."""
    for wanted in (lambda p: p.efa, lambda p: p.purpose is PoolPurpose.TRAINING):
        for pool in gpu_pools:
            if wanted(pool):
                return pool_azs(pool, stack_azs, region)[0]
    return stack_azs[0]
