"""The policy pack's definition, shared by the CrossGuard entry point (`policies/__main__.py`)
and the offline plan, which drives the same policies through the analyzer protocol."""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, Policy

from policies import cost, iam, network, security, tagging

PACK_NAME = "gpu-platform-guardrails"
PACK_VERSION = "0.2.0"
"""Keep in step with `version` in policies/PulumiPolicy.yaml."""
ENFORCEMENT_LEVEL = EnforcementLevel.MANDATORY


def policies() -> list[Policy]:
    return [
        *tagging.POLICIES,
        *cost.POLICIES,
        *security.POLICIES,
        *iam.POLICIES,
        *network.POLICIES,
    ]
