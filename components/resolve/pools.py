"""Pure facts about node pools that several components need (sizing, node groups, capacity)."""

from __future__ import annotations

from collections.abc import Sequence

from components.catalog import InstanceType, get_instance_type, types_meeting
from components.config import CapacityType, GpuPool, PoolPurpose, SystemPool
from components.resolve.sizing import PoolFootprint


def pool_instance_types(pool: GpuPool) -> list[InstanceType]:
    """Explicit types, or the cheapest catalog types meeting the pool's GPU need that have the
    cheapest one's vCPUs and memory: the Cluster Autoscaler builds an empty group's node
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
    first = found[0]
    alike = [t for t in found if (t.vcpus, t.memory_mib) == (first.vcpus, first.memory_mib)]
    return alike[: need.max_instance_types]


def pool_azs(pool: GpuPool, stack_azs: Sequence[str]) -> list[str]:
    """The pool's AZs: as configured, else the first AZ for EFA pools and pools in a capacity
    reservation (one AZ), else all of them."""
    if pool.availability_zones:
        return list(pool.availability_zones)
    single = pool.efa or pool.capacity_reservation_id is not None
    return [stack_azs[0]] if single else list(stack_azs)


def footprints(
    system: SystemPool, gpu_pools: Sequence[GpuPool], stack_azs: Sequence[str]
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
            availability_zones=pool_azs(pool, stack_azs),
            balanced=pool.capacity_type is not CapacityType.SPOT,
        )
        for pool in gpu_pools
    ]
    return result


def training_az(gpu_pools: Sequence[GpuPool], stack_azs: Sequence[str]) -> str:
    """The AZ of the hot storage tier: the first EFA pool's, else the first training pool's,
    else the stack's first AZ (cross-AZ Lustre traffic costs money and latency)."""
    for wanted in (lambda p: p.efa, lambda p: p.purpose is PoolPurpose.TRAINING):
        for pool in gpu_pools:
            if wanted(pool):
                return pool_azs(pool, stack_azs)[0]
    return stack_azs[0]
