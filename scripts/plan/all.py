"""`make plan-all`: the offline plan of every shipped stack, one line each, then a summary.

Each stack is planned in its own process (`python -m scripts.plan --stack S --quiet`), so one
stack's failure never hides another's. A failing stack's error lines are printed under its line;
the summary names every stack that failed. Exit 0 when every stack plans clean, else 1 when one
is blocked by a mandatory finding only, else 2.
"""

from __future__ import annotations

import subprocess
import sys

from scripts.plan.stacks import ROOT, shipped_stacks


def main(argv: list[str] | None = None) -> int:
    stacks = list(argv if argv is not None else sys.argv[1:]) or shipped_stacks()
    failed: dict[str, int] = {}
    width = max((len(s) for s in stacks), default=0)
    for stack in stacks:
        result = subprocess.run(
            [sys.executable, "-m", "scripts.plan", "--stack", stack, "--quiet"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        last = (result.stdout.strip().splitlines() or [""])[-1]
        print(f"{stack:<{width}}  {last or 'no result'}", flush=True)
        if result.returncode != 0:
            failed[stack] = result.returncode
            # Progress lines start with "plan: "; the error is "plan: error: ..." and the lines
            # that continue it (a config error lists every problem on its own line).
            errors = [
                line
                for line in result.stderr.splitlines()
                if line.strip()
                and (line.startswith("plan: error") or not line.startswith("plan: "))
            ]
            if result.returncode == 1 and not errors:
                errors = [f"see `make plan STACK={stack}` for the findings"]
            for line in errors or result.stderr.strip().splitlines()[-5:]:
                print(f"{'':<{width}}    {line}", flush=True)
    if not failed:
        noun = "stack plans" if len(stacks) == 1 else "stacks plan"
        print(f"plan-all: {len(stacks)} of {len(stacks)} {noun} clean")
        return 0
    print(
        f"plan-all: {len(failed)} of {len(stacks)} {'stack' if len(stacks) == 1 else 'stacks'} "
        "failed: " + ", ".join(f"{s} (exit {code})" for s, code in failed.items())
    )
    return 2 if any(code == 2 for code in failed.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
