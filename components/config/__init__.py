"""Typed stack configuration: everything a stack file (`stacks/Pulumi.<env>.yaml`) may set.

- `choices`: closed choices (enums);
- `models`: the pydantic models, defaults on the fields;
- `loading`: reading a stack file as the Pulumi CLI does, validating the raw map, translating
  errors into `gpu-platform:<key path>: ...` lines with did-you-mean hints;
- `checks`: rules that span sections.

Layer rule: this package imports only the catalog and the pinned versions (layer 1).
"""

from components.config.choices import (
    AccessPolicy,
    AuditTrail,
    CapacityType,
    EndpointAccess,
    Environment,
    GpuAmiType,
    InterfaceEndpoint,
    LogType,
    NatGateways,
    PoolPurpose,
    StorageClass,
)
from components.config.errors import PROJECT_NAMESPACE, REGION_KEY, ConfigError
from components.config.loading import load_stack_config, read_stack_file, stack_file
from components.config.models import (
    RESERVED_NAMESPACES,
    AccessEntry,
    Addons,
    Audit,
    BucketConfig,
    FlowLogs,
    FsxConfig,
    GpuNeed,
    GpuPool,
    StackConfig,
    StorageConfig,
    SystemPool,
    Team,
    Transition,
    TritonConfig,
)

__all__ = [
    "PROJECT_NAMESPACE",
    "REGION_KEY",
    "RESERVED_NAMESPACES",
    "AccessEntry",
    "AccessPolicy",
    "Addons",
    "Audit",
    "AuditTrail",
    "BucketConfig",
    "CapacityType",
    "ConfigError",
    "EndpointAccess",
    "Environment",
    "FlowLogs",
    "FsxConfig",
    "GpuAmiType",
    "GpuNeed",
    "GpuPool",
    "InterfaceEndpoint",
    "LogType",
    "NatGateways",
    "PoolPurpose",
    "StackConfig",
    "StorageClass",
    "StorageConfig",
    "SystemPool",
    "Team",
    "Transition",
    "TritonConfig",
    "load_stack_config",
    "read_stack_file",
    "stack_file",
]
