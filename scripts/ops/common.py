"""What every ops command shares: the report it returns, user-facing errors, stack loading."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.config import (
    ConfigError,
    StackConfig,
    load_stack_config,
    read_stack_file,
    stack_file,
)
from scripts.plan.tables import text_table


class OpsError(Exception):
    """A problem the user can fix (bad stack, bad option, a bucket owned by someone else).

    The CLI prints it as one `ops: error: ...` line and exits 2."""


@dataclass
class Report:
    """A command's outcome: `data` for `--json`, `lines` for the terminal, and the exit code."""

    data: dict[str, Any]
    lines: list[str] = field(default_factory=list)
    exit_code: int = 0


def load_stack(stack: str, config_file: Path | None = None) -> StackConfig:
    """The validated config of a stack (`stacks/Pulumi.<stack>.yaml` unless `config_file`)."""
    path = config_file or stack_file(stack)
    try:
        raw = read_stack_file(path)
    except ConfigError as exc:
        raise OpsError(str(exc)) from None
    try:
        return load_stack_config(raw)
    except ConfigError as exc:
        problems = "; ".join(f"{key}: {message}" for key, message in exc.problems)
        raise OpsError(f"invalid stack config ({path}): {problems}") from None


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """`--region`, `--profile` and `--json`, on every command."""
    group = parser.add_argument_group("common options")
    group.add_argument(
        "--region",
        help="AWS region (default: the stack's aws:region when a stack is given, else us-east-1)",
    )
    group.add_argument("--profile", help="AWS named profile (default: the usual credential chain)")
    group.add_argument(
        "--json",
        action="store_true",
        help="print a machine-readable JSON document on stdout instead of tables",
    )


def add_stack_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("stack", metavar="STACK", help="stack name (dev, staging, prod)")
    parser.add_argument(
        "--config-file",
        type=Path,
        help="stack config file to read instead of stacks/Pulumi.<STACK>.yaml",
    )


def table(headers: list[str], rows: list[list[str]]) -> list[str]:
    """A terminal table (see scripts.plan.tables.text_table)."""
    return text_table(headers, rows)


def usd(amount: float) -> str:
    """`$1,234.56`."""
    return f"${amount:,.2f}"
