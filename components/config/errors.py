"""The config namespace and the one error type every config problem becomes."""

from __future__ import annotations

PROJECT_NAMESPACE = "gpu-platform"
"""Config namespace: the project name in Pulumi.yaml (`pulumi config set <key>` writes here)."""

REGION_KEY = "aws:region"


class ConfigError(ValueError):
    """Invalid stack config. `problems` holds (key path, message) pairs; str() is one per line."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("\n".join(f"{path}: {message}" for path, message in problems))
