"""Render the training templates of a stack: `python -m scripts.training render --stack prod`.

Writes the restartable runtime, the TrainJob templates (EFA pool, spot pool) and the NCCL
all-reduce acceptance test (see workloads/training.py) to `--out DIR`, or to stdout, to apply
with kubectl.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

from components import versions
from components.catalog.conventions import FSX_CLAIM
from components.config import ConfigError, load_stack_config, read_stack_file, stack_file
from components.resolve import resolve_platform
from components.resolve.software import queue_training
from components.resolve.training import DEFAULT_BUSBW_FLOOR_GBPS, resolve_training
from workloads.training import render


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.training", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("render", help="write the TrainJob template and the NCCL acceptance test")
    cmd.add_argument("--stack", default="prod")
    cmd.add_argument("--nodes", type=int, default=2)
    cmd.add_argument(
        "--busbw-floor-gbps",
        type=float,
        default=None,
        help=(
            "all-reduce bus bandwidth floor at 1 GiB (default on p5: "
            f"{DEFAULT_BUSBW_FLOOR_GBPS:g}, 90%% of AWS's published figure; other sizes scale)"
        ),
    )
    cmd.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    try:
        config = load_stack_config(read_stack_file(stack_file(args.stack)))
        platform = resolve_platform(config, "gpu-platform", args.stack)
        claim = FSX_CLAIM if platform.storage.fsx is not None else None
        spec = resolve_training(
            config,
            platform.pools,
            versions.TRAINING_IMAGE,
            claim,
            nodes=args.nodes,
            floor_gbps=args.busbw_floor_gbps,
            suspend=False,
        )
        if platform.kueue is not None:
            spec = queue_training(spec, platform.kueue)
        files = render(spec)
    except ConfigError as exc:
        print(f"training: error: {exc}", file=sys.stderr)
        return 2
    for name, manifests in files.items():
        text = yaml.safe_dump_all(manifests, sort_keys=False)
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / name).write_text(text)
            print(f"wrote {args.out / name}", file=sys.stderr)
        else:
            print(f"# {name}\n{text}---")
    print(json.dumps({"files": sorted(files)}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
