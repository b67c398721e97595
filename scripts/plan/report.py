"""Render a planned document: a resource tree for the terminal, a summary for a pull request."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from scripts.plan.stages import StageResult, is_provider, states

# Inputs worth showing beside a resource in the tree (engine property names).
_HIGHLIGHTS: dict[str, tuple[str, ...]] = {
    "aws:ec2/vpc:Vpc": ("cidrBlock",),
    "aws:ec2/subnet:Subnet": ("cidrBlock", "availabilityZone"),
    "aws:eks/cluster:Cluster": ("name", "version"),
    "aws:eks/addon:Addon": ("addonName", "addonVersion"),
    "aws:eks/nodeGroup:NodeGroup": ("instanceTypes", "capacityType", "amiType", "scalingConfig"),
    "aws:ec2/vpcEndpoint:VpcEndpoint": ("serviceName",),
    "aws:cloudwatch/logGroup:LogGroup": ("retentionInDays",),
    "kubernetes:helm.sh/v3:Release": ("chart", "version"),
}


def _short_type(kind: str) -> str:
    """`aws:ec2/vpc:Vpc` -> `aws:ec2:Vpc`, `gpuplatform:index:Network` -> `Network`."""
    if kind.startswith("gpuplatform:index:"):
        return kind.rsplit(":", 1)[1]
    package, module, name = [*kind.split(":"), "", ""][:3]
    return f"{package}:{module.split('/')[0]}:{name}"


def _highlight(state: dict[str, Any]) -> str:
    keys = _HIGHLIGHTS.get(state["type"], ())
    inputs = state.get("inputs") or {}
    parts = []
    for key in keys:
        if key in inputs:
            value = inputs[key]
            if isinstance(value, dict):
                value = " ".join(f"{k}={v}" for k, v in sorted(value.items()))
            elif isinstance(value, list):
                value = ",".join(str(v) for v in value)
            parts.append(f"{key}={value}")
    return ("  " + " ".join(parts)) if parts else ""


def _name(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


def tree(document: dict[str, Any]) -> list[str]:
    """The resources as a tree under the stack root, providers listed first."""
    all_states = states(document)
    children: dict[str, list[dict[str, Any]]] = defaultdict(list)
    roots: list[dict[str, Any]] = []
    for state in all_states:
        if is_provider(state) and not state.get("parent"):
            continue
        if state.get("parent"):
            children[state["parent"]].append(state)
        else:
            roots.append(state)
    lines = [
        f"provider  {_name(s['urn'])} ({s['type']})"
        for s in all_states
        if is_provider(s) and not s.get("parent")
    ]

    def walk(state: dict[str, Any], prefix: str, last: bool, top: bool) -> None:
        flags = " [protected]" if state.get("protect") else ""
        label = f"{_short_type(state['type'])}  {_name(state['urn'])}{flags}{_highlight(state)}"
        if top:
            lines.append(label)
            child_prefix = ""
        else:
            lines.append(f"{prefix}{'└─ ' if last else '├─ '}{label}")
            child_prefix = prefix + ("   " if last else "│  ")
        kids = children.get(state["urn"], [])
        kids = sorted(
            kids, key=lambda s: (not s["type"].startswith("gpuplatform:"), s["type"], s["urn"])
        )
        for index, kid in enumerate(kids):
            walk(kid, child_prefix, index == len(kids) - 1, False)

    for root in roots:
        walk(root, "", True, True)
    return lines


def type_counts(document: dict[str, Any]) -> list[tuple[str, int]]:
    counts = Counter(s["type"] for s in states(document) if s.get("custom"))
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def cloud_resources(document: dict[str, Any]) -> int:
    """The one resource count the reports show: cloud resources (custom, not providers)."""
    return sum(n for _, n in type_counts(document))


def _ops_phrase(document: dict[str, Any], results: dict[str, tuple[str, StageResult]]) -> str:
    changes = results.get("changes")
    if changes is not None:
        return str(changes[1].data.get("summaryLine", ""))
    return ""


def terminal_report(document: dict[str, Any], results: dict[str, tuple[str, StageResult]]) -> str:
    lines = [f"Offline plan of stack {document.get('stack')} ({document.get('project')})", ""]
    lines += tree(document)
    lines += ["", f"{_plural(cloud_resources(document), 'cloud resource')}", ""]
    for key, (title, result) in results.items():
        lines.append(f"== {title} ({key})")
        lines += result.terminal
        lines.append("")
    blocking = [b for _, r in results.values() for b in r.blocking]
    lines.append(
        f"RESULT: blocked by {_plural(len(blocking), 'mandatory finding')}"
        if blocking
        else "RESULT: ok"
    )
    return "\n".join(lines) + "\n"


MARKDOWN_LIMIT = 65536
"""GitHub's limit on the body of a pull-request comment, in characters."""


def _details(summary: str, body: list[str]) -> list[str]:
    return [f"<details><summary>{summary}</summary>", "", *body, "", "</details>", ""]


def markdown_report(
    document: dict[str, Any],
    results: dict[str, tuple[str, StageResult]],
    limit: int = MARKDOWN_LIMIT,
) -> str:
    """The pull-request comment: verdict, change summary, blocking findings, then details.

    Sections are whole units: when the report would exceed `limit` characters, whole detail
    sections are dropped (the last first) and a note says which; a table, code block or
    `<details>` is never cut."""
    blocking = [(title, b) for title, r in results.values() for b in r.blocking]
    verdict = "blocked" if blocking else "ok"
    summary = _ops_phrase(document, results)
    head = [
        f"### Offline plan: `{document.get('stack')}` ({verdict})",
        "",
        *(["**" + summary + "**", ""] if summary else []),
    ]
    if blocking:
        head += [f"**{_plural(len(blocking), 'blocking violation')}:**", ""]
        head += [f"- {title}: {message}" for title, message in blocking]
        head.append("")
    head += [f"{_plural(cloud_resources(document), 'cloud resource')} in the plan.", ""]
    sections: list[tuple[str, list[str]]] = []
    for _key, (title, result) in results.items():
        if result.markdown:
            sections.append((title, _details(title, result.markdown)))
    custom = type_counts(document)
    sections.append(
        (
            "Resources by type",
            _details(
                "Resources by type",
                ["| type | count |", "|---|---:|", *(f"| `{k}` | {n} |" for k, n in custom)],
            ),
        )
    )
    sections.append(("Resource tree", _details("Resource tree", ["```", *tree(document), "```"])))

    def render(kept: list[tuple[str, list[str]]], dropped: list[str]) -> str:
        lines = list(head)
        for _title, body in kept:
            lines += body
        if dropped:
            lines += [
                f"_Left out to fit the {limit:,}-character comment limit: "
                + ", ".join(dropped)
                + " (the JSON document has everything)._",
                "",
            ]
        return "\n".join(lines)

    kept = list(sections)
    dropped: list[str] = []
    text = render(kept, dropped)
    while len(text) > limit and kept:
        title, _ = kept.pop()
        dropped.insert(0, title)
        text = render(kept, dropped)
    return text
