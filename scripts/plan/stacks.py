"""The shipped stacks (`stacks/Pulumi.<name>.yaml`), for `make plan-all` and the CI matrix.

`python -m scripts.plan.stacks` prints them as a JSON list (the workflows' `fromJSON` matrix);
`--markdown-limit N` prints instead the longest Markdown report each plan may write so that N
plans fit one pull-request comment. Standard library only: CI runs it before any install.
`--runners` prints each stack's deploy runner labels (`deployer.runnerLabels`, read as the
program reads the stack file; `["ubuntu-latest"]` when a stack declares none), for the deploy
workflow's `runs-on`; it needs the project's virtualenv (`make venv`).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
"""Stack names the Pulumi CLI accepts (and that are safe in a shell word)."""
COMMENT_LIMIT = 65536
"""GitHub's limit on a comment body, in characters."""
COMMENT_OVERHEAD = 2000
"""Room for the comment's own heading and the per-stack lines around the reports."""


def shipped_stacks(root: Path = ROOT) -> list[str]:
    names = sorted(
        p.name.removeprefix("Pulumi.").removesuffix(".yaml")
        for p in (root / "stacks").glob("Pulumi.*.yaml")
    )
    bad = [n for n in names if not NAME.fullmatch(n)]
    if bad:
        raise ValueError(f"stack file names that are not stack names: {', '.join(bad)}")
    return names


HOSTED = ["ubuntu-latest"]


def runner_labels(stacks: list[str]) -> dict[str, list[str]]:
    """stack -> the runner labels its deploy job runs on (self-hosted runners whose egress the
    stack declares as a deployer source; GitHub-hosted where it declares none)."""
    from components.config import ConfigError, load_stack_config, read_stack_file, stack_file

    labels: dict[str, list[str]] = {}
    for stack in stacks:
        try:
            config = load_stack_config(read_stack_file(stack_file(stack)))
        except ConfigError as exc:
            raise ValueError(f"{stack}: {exc}") from None
        labels[stack] = list(config.deployer.runner_labels) or HOSTED
    return labels


def markdown_limit(reports: int) -> int:
    """The longest report each of `reports` plans may write to share one comment."""
    return (COMMENT_LIMIT - COMMENT_OVERHEAD) // max(reports, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.plan.stacks", description=__doc__)
    parser.add_argument(
        "--markdown-limit",
        type=int,
        metavar="PLANS_PER_STACK",
        help="print the Markdown limit for this many reports per stack instead",
    )
    parser.add_argument(
        "--runners", action="store_true", help="print each stack's deploy runner labels instead"
    )
    args = parser.parse_args(argv)
    try:
        stacks = shipped_stacks()
    except ValueError as exc:
        print(f"stacks: error: {exc}", file=sys.stderr)
        return 2
    if args.runners:
        try:
            print(json.dumps(runner_labels(stacks)))
        except ValueError as exc:
            print(f"stacks: error: {exc}", file=sys.stderr)
            return 2
        return 0
    if args.markdown_limit is not None:
        print(markdown_limit(len(stacks) * max(args.markdown_limit, 1)))
    else:
        print(json.dumps(stacks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
