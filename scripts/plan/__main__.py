"""Offline plan: `python -m scripts.plan --stack dev [--config-file F] [--base F] [--json F] ...`.

Runs the real program (`stacks/__main__.py`) under the Pulumi SDK's mocks with the stack's config,
records a `pulumi preview --json`-shaped document, runs every stage on it and reports.
With `--base F` (an earlier preview document or a `pulumi stack export`) every step gets the op a
real preview would give against it (same, create, update, replace, delete).
With `--preview-json F` it skips the program and runs the stages on an existing preview document
(a real `pulumi preview --json` output works too); the stack comes from the document.

Exit codes: 0 ok; 1 a stage found a mandatory violation; 2 the config or the program is invalid
(nothing is written).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

from components.config import ConfigError, StackConfig, load_stack_config
from scripts.plan import background
from scripts.plan.diff import apply_base, read_base
from scripts.plan.pipeline import STAGES
from scripts.plan.report import MARKDOWN_LIMIT, markdown_report, terminal_report
from scripts.plan.runner import (
    PlanError,
    load_provider_modules,
    preview_document,
    read_stack_config,
    run_program,
    stack_config_path,
    tune_collector,
)
from scripts.plan.shape import preview_document_problem
from scripts.plan.stacks import NAME
from scripts.plan.stages import PlanContext, StageResult


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _document_stack(document: dict[str, Any]) -> str | None:
    """The stack a preview document belongs to: its `stack` key, else its URNs' stack part."""
    if isinstance(document.get("stack"), str) and document["stack"]:
        return str(document["stack"])
    for step in document.get("steps") or []:
        urn = step.get("urn") if isinstance(step, dict) else None
        if isinstance(urn, str) and urn.startswith("urn:pulumi:"):
            return urn.removeprefix("urn:pulumi:").split("::", 1)[0]
    return None


def _check_stack_name(stack: str, where: str = "") -> None:
    """Refuse what is not a stack name: it names `stacks/Pulumi.<stack>.yaml` and
    `policies/config/<stack>.json`, so a path or an empty name never reaches a file name."""
    if not NAME.fullmatch(stack):
        raise PlanError(
            f"{where}{stack!r} is not a stack name (letters, digits, '-', '_' and '.', starting "
            "with a letter or digit)"
        )


def read_preview_document(path: Path, stack: str | None) -> tuple[str, dict[str, Any]]:
    """A preview document and its stack (refusing a `stack` that contradicts it)."""
    try:
        document = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PlanError(f"cannot read preview document {path}: {exc}") from None
    if not isinstance(document, dict):
        raise PlanError(
            f"preview document {path} is not a JSON object "
            "(expected `pulumi preview --json` output)"
        )
    problem = preview_document_problem(document)
    if problem:
        raise PlanError(f"preview document {path}: {problem}")
    found = _document_stack(document)
    if stack is not None and found is not None and found != stack:
        raise PlanError(
            f"preview document {path} is of stack {found!r}, not {stack!r} (drop --stack)"
        )
    resolved = stack or found
    if resolved is None:
        raise PlanError(f"preview document {path} names no stack: give --stack")
    _check_stack_name(resolved, f"preview document {path}: ")
    document["stack"] = resolved
    return resolved, document


@contextlib.contextmanager
def _reading(source: str, doing: str = "") -> Iterator[None]:
    """A failure while reading a document from outside (`source`: a preview document, a base) is
    that document's fault: one PlanError naming it and what went wrong. Without such a source the
    document is the plan's own, and a failure is a bug in the plan, shown whole."""
    try:
        yield
    except PlanError:
        raise
    except Exception as exc:
        if not source:
            raise
        raise PlanError(
            f"{doing}cannot read {source}: {type(exc).__name__}: {exc} (a value of an unexpected "
            "type in its steps' inputs?)"
        ) from None


def plan(
    stack: str | None,
    config_file: Path | None = None,
    preview_json: Path | None = None,
    base: Path | None = None,
    parallel: bool = True,
) -> tuple[dict[str, Any], dict[str, tuple[str, StageResult]]]:
    """Produce the document with every stage's result under its key. Raises PlanError.

    `parallel`: hand the preview run and the pack's preview pass to a forked worker where one can
    be forked (`background.available()`); the result is the same without."""
    with contextlib.ExitStack() as cleanup:
        return _plan(stack, config_file, preview_json, base, parallel, cleanup)


def _plan(
    stack: str | None,
    config_file: Path | None,
    preview_json: Path | None,
    base: Path | None,
    parallel: bool,
    cleanup: contextlib.ExitStack,
) -> tuple[dict[str, Any], dict[str, tuple[str, StageResult]]]:
    config: StackConfig | None = None
    worker: background.Worker | None = None
    if stack is not None:
        _check_stack_name(stack)
    if preview_json is not None:
        if config_file is not None:
            raise PlanError(
                "--config-file cannot be used with --preview-json (the document is already planned)"
            )
        stack, document = read_preview_document(preview_json, stack)
    else:
        stack = stack or "dev"
        path = config_file or stack_config_path(stack)
        raw = read_stack_config(path)
        try:
            config = load_stack_config(raw)
        except ConfigError as exc:
            raise PlanError(f"invalid stack config ({path}):\n{exc}") from None
        _progress(f"plan: running stacks/__main__.py for stack {stack!r} under mocks ({path.name})")
        started = time.perf_counter()
        if parallel and background.available():
            load_provider_modules()  # once, before the fork: both processes share them
            worker = cleanup.enter_context(background.Worker())
        run = run_program(stack, raw, worker=worker)
        document = preview_document(run)
        beside = " (the preview run in a second process)" if run.preview_in_worker else ""
        _progress(
            f"plan: {len(document['steps'])} steps recorded in "
            f"{time.perf_counter() - started:.1f}s{beside}"
        )
    if base is not None:
        base_state = read_base(base)
        if base_state.stack is not None and base_state.stack != stack:
            raise PlanError(f"base {base} is of stack {base_state.stack!r}, not {stack!r}")
        with _reading(f"base {base}"):
            apply_base(document, base_state)
        _progress(f"plan: against base {base} ({base_state.kind}): {document['changeSummary']}")
    context = PlanContext(stack=stack, document=document, config=config, worker=worker)
    results: dict[str, tuple[str, StageResult]] = {}
    sources = (("preview document", preview_json), ("base", base))
    read_from = " and ".join(f"{what} {path}" for what, path in sources if path)
    for stage in STAGES:
        started = time.perf_counter()
        with _reading(read_from, f"stage {stage.key}: "):
            result = stage.run(context)
        document[stage.key] = result.data
        results[stage.key] = (stage.title, result)
        _progress(f"plan: stage {stage.key} done in {time.perf_counter() - started:.2f}s")
    return document, results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.plan", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--stack", help="stack name (default: dev; with --preview-json: the document's stack)"
    )
    parser.add_argument(
        "--config-file", type=Path, help="stack config to use instead of stacks/Pulumi.<stack>.yaml"
    )
    parser.add_argument("--json", type=Path, help="write the preview document here")
    parser.add_argument("--markdown", type=Path, help="write a pull-request summary here")
    parser.add_argument(
        "--preview-json", type=Path, help="run the stages on this preview document instead"
    )
    parser.add_argument(
        "--base",
        type=Path,
        help="plan against this earlier preview document or `pulumi stack export` file",
    )
    parser.add_argument(
        "--markdown-limit",
        type=int,
        default=MARKDOWN_LIMIT,
        help=f"longest Markdown report in characters (default {MARKDOWN_LIMIT}, GitHub's limit)",
    )
    parser.add_argument("--quiet", action="store_true", help="print only the result line")
    parser.add_argument(
        "--serial",
        action="store_true",
        help="do everything in this process (default: the preview run and the pack's preview "
        "pass go to a second process where the machine has a second CPU)",
    )
    args = parser.parse_args(argv)
    if args.markdown_limit < 1:
        print(
            f"plan: error: --markdown-limit must be a positive number of characters "
            f"(got {args.markdown_limit})",
            file=sys.stderr,
        )
        return 2

    try:
        document, results = plan(
            args.stack, args.config_file, args.preview_json, args.base, parallel=not args.serial
        )
    except PlanError as exc:
        print(f"plan: error: {exc}", file=sys.stderr)
        return 2

    text = terminal_report(document, results)
    print(text.splitlines()[-1] if args.quiet else text, end="" if not args.quiet else "\n")
    outputs: list[tuple[Path, str]] = []
    if args.json:
        outputs.append((args.json, json.dumps(document, indent=2, sort_keys=False) + "\n"))
    if args.markdown:
        outputs.append((args.markdown, markdown_report(document, results, args.markdown_limit)))
    for path, content in outputs:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
        except OSError as exc:
            print(f"plan: error: cannot write {path}: {exc.strerror or exc}", file=sys.stderr)
            return 2
        _progress(f"plan: wrote {path}")
    blocked = any(result.blocking for _, result in results.values())
    return 1 if blocked else 0


def exit_now(code: int) -> NoReturn:
    """Leave with `code` once the output is flushed, without tearing the interpreter down: the
    plan holds the SDK's whole object graph, and freeing it module by module takes about a second
    of a prod plan for nothing (every file the plan writes is closed by then)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    tune_collector()
    exit_now(main())
