"""Closed choices of the stack config (enums), shared by the models, resolve and builders."""

from __future__ import annotations

from enum import StrEnum


class Environment(StrEnum):
    DEV = "dev"
    STAGING = "staging"
    PROD = "prod"


class EndpointAccess(StrEnum):
    """Who reaches the Kubernetes API endpoint."""

    PUBLIC = "public"
    """Public endpoint (restricted by `publicAccessCidrs`) plus private access from the VPC."""
    PRIVATE = "private"
    """Private endpoint only: reachable from the VPC (or peered networks / VPN)."""


class NatGateways(StrEnum):
    SINGLE = "single"
    """One NAT gateway for all AZs: cheaper, but an AZ outage cuts egress for the others."""
    ONE_PER_AZ = "one_per_az"
    """One NAT gateway per AZ: what production wants."""


class CapacityType(StrEnum):
    ON_DEMAND = "ON_DEMAND"
    SPOT = "SPOT"
    CAPACITY_BLOCK = "CAPACITY_BLOCK"


class GpuAmiType(StrEnum):
    """EKS accelerated AMI types (AL2 reached end of support on 2025-11-26 and is not offered)."""

    AL2023_NVIDIA = "AL2023_x86_64_NVIDIA"
    BOTTLEROCKET_NVIDIA = "BOTTLEROCKET_x86_64_NVIDIA"


class PoolPurpose(StrEnum):
    TRAINING = "training"
    INFERENCE = "inference"
    BATCH = "batch"


class LogType(StrEnum):
    API = "api"
    AUDIT = "audit"
    AUTHENTICATOR = "authenticator"
    CONTROLLER_MANAGER = "controllerManager"
    SCHEDULER = "scheduler"


class AccessPolicy(StrEnum):
    """EKS access policies an access entry may be granted (short names)."""

    CLUSTER_ADMIN = "cluster-admin"
    ADMIN = "admin"
    EDIT = "edit"
    VIEW = "view"


class InterfaceEndpoint(StrEnum):
    """VPC interface endpoints the network may create (service after `com.amazonaws.<region>.`)."""

    ECR_API = "ecr.api"
    ECR_DKR = "ecr.dkr"
    STS = "sts"
    EC2 = "ec2"
    LOGS = "logs"
    ELASTICLOADBALANCING = "elasticloadbalancing"
    AUTOSCALING = "autoscaling"
    EKS_AUTH = "eks-auth"


class StorageClass(StrEnum):
    """S3 storage classes a lifecycle rule may transition to."""

    STANDARD_IA = "STANDARD_IA"
    INTELLIGENT_TIERING = "INTELLIGENT_TIERING"
    GLACIER_IR = "GLACIER_IR"
    GLACIER = "GLACIER"
    DEEP_ARCHIVE = "DEEP_ARCHIVE"


class AuditTrail(StrEnum):
    """Where the stack's API activity and S3 data events are recorded."""

    STACK = "stack"
    """A CloudTrail trail of this stack's own (KMS-encrypted, its own log bucket)."""
    ORGANIZATION = "organization"
    """An existing organisation trail already records this account (`audit.organizationTrailArn`);
    the stack creates no trail and records which one covers it."""
    OFF = "off"
    """No trail."""
