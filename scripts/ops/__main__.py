"""`python -m scripts.ops <command>`: operations commands against a real AWS account.

Commands: `preflight STACK`, `prices refresh`, `backend bootstrap`, `cost report STACK`.
Every command takes `--region`, `--profile` and `--json`.

Exit codes: 0 done (preflight: every check go or warn); 1 preflight found a no-go;
2 an error, reported as one `ops: error: ...` line on stderr (no credentials, access denied,
throttling, an invalid stack config, ...).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from scripts.ops import backend, cost, preflight, prices
from scripts.ops.aws import DEFAULT_REGION, Aws, describe_aws_error
from scripts.ops.common import OpsError, Report, add_common_options, add_stack_argument, load_stack

COMMANDS = (preflight, prices, backend, cost)


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    add_common_options(common)
    stack = argparse.ArgumentParser(add_help=False)
    add_stack_argument(stack)
    parser = argparse.ArgumentParser(
        prog="python -m scripts.ops",
        description="Operations commands against a real AWS account.",
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.register(subparsers, common, stack)
    return parser


def _error(message: str) -> int:
    print(f"ops: error: {message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None, *, aws: Aws | None = None) -> int:
    """Run one command. `aws` replaces the session built from --region/--profile (tests)."""
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace, Aws], Report] = args.handler
    try:
        args.config = load_stack(args.stack, args.config_file) if "stack" in args else None
        region = args.region or (args.config.region if args.config else DEFAULT_REGION)
        session = aws or Aws(region=region, profile=args.profile)
        try:
            report = handler(args, session)
        except (BotoCoreError, ClientError) as exc:
            return _error(describe_aws_error(exc, session.last_call))
    except OpsError as exc:
        return _error(" ".join(str(exc).split()))
    except (BotoCoreError, ClientError) as exc:  # e.g. an unknown --profile
        return _error(describe_aws_error(exc))
    if args.json:
        print(json.dumps(_jsonable(report.data), indent=2))
    else:
        print("\n".join(report.lines))
    return report.exit_code


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


if __name__ == "__main__":
    sys.exit(main())
