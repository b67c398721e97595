"""Changes stage: what the plan does to what is deployed, and what it would destroy.

It reads the ops of the document's steps (set by `--base`, see scripts/plan/diff.py, or present in
a real `pulumi preview --json`): the count of each op, every changed resource with the properties
that change it, and a blocking finding for each replacement or deletion of a foundation or
stateful resource (VPC, subnet, EKS cluster, a node group that holds a reservation, FSx file
system, bucket, KMS key, audit and flow log groups) that the stack's allow list does not name.

The allow list is `policies/changes/<stack>.json`: `{"allowReplace": [urn, ...], "allowDelete":
[urn, ...]}`; a missing file allows nothing. The cost before (the old states) and after (the new
ones) is priced with the same code as the cost stage, per resource and in total.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from policies.pricing import SCALES
from scripts.plan.diff import DELETE_OPS, REPLACE_OPS, base_document
from scripts.plan.runner import ROOT, PlanError
from scripts.plan.stages.base import PlanContext, StageResult
from scripts.plan.stages.cost import cost_report

ALLOW_DIR = ROOT / "policies" / "changes"
SYMBOLS = (("create", "+"), ("update", "~"), ("replace", "±"), ("delete", "-"))

_DESTROYS = {
    "aws:ec2/vpc:Vpc": (
        "the VPC and everything in it: subnets, route tables, NAT and internet gateways, "
        "endpoints, security groups, nodes and the cluster's network interfaces"
    ),
    "aws:ec2/subnet:Subnet": (
        "the subnet and the network interfaces in it: nodes, the control plane's interfaces, "
        "NAT gateways, endpoints and FSx; the new range must not overlap the live one"
    ),
    "aws:eks/cluster:Cluster": (
        "the control plane and its etcd: every Kubernetes object, secret and workload, and "
        "every node group attached to it"
    ),
    "aws:eks/nodeGroup:NodeGroup": (
        "the node group's instances and its hold on the capacity reservation or Capacity Block: "
        "the capacity may not be had again"
    ),
    "aws:fsx/lustreFileSystem:LustreFileSystem": (
        "the file system and every file on it not yet exported to S3 (hot datasets, "
        "checkpoints in flight)"
    ),
    "aws:s3/bucket:Bucket": (
        "the bucket and its objects (datasets, checkpoints, models), every version included"
    ),
    "aws:kms/key:Key": (
        "the key (after its deletion window): everything encrypted with it (cluster secrets, "
        "buckets, file systems, logs) becomes unreadable"
    ),
    "aws:cloudwatch/logGroup:LogGroup": "the retained log events (control-plane audit, flow logs)",
    "aws:cloudtrail/trail:Trail": (
        "the audit record while it is gone: API calls and S3 data events go unrecorded between "
        "the delete and the new trail"
    ),
}


def _inputs(state: dict[str, Any]) -> dict[str, Any]:
    inputs = state.get("inputs")
    return inputs if isinstance(inputs, dict) else {}


def holds_reservation(state: dict[str, Any], by_urn: dict[str, dict[str, Any]]) -> bool:
    """A node group on a Capacity Block, or launched from a template with a capacity
    reservation specification."""
    inputs = _inputs(state)
    if inputs.get("capacityType") == "CAPACITY_BLOCK":
        return True
    deps = (state.get("propertyDependencies") or {}).get("launchTemplate") or []
    for urn in deps:
        template = by_urn.get(urn)
        if template and _inputs(template).get("capacityReservationSpecification"):
            return True
    return False


def destroys(state: dict[str, Any], by_urn: dict[str, dict[str, Any]]) -> str | None:
    """What replacing or deleting this resource destroys, when it is a foundation or stateful
    resource; None otherwise."""
    kind = state.get("type", "")
    if kind == "aws:eks/nodeGroup:NodeGroup" and not holds_reservation(state, by_urn):
        return None
    return _DESTROYS.get(kind)


def allow_list(stack: str, directory: Path | None = None) -> dict[str, set[str]]:
    path = (directory or ALLOW_DIR) / f"{stack}.json"
    if not path.is_file():
        return {"allowReplace": set(), "allowDelete": set()}
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PlanError(f"cannot read change allow list {path}: {exc}") from None
    if not isinstance(data, dict):
        raise PlanError(f"{path}: expected an object with allowReplace and allowDelete")
    unknown = sorted(set(data) - {"allowReplace", "allowDelete"})
    if unknown:
        raise PlanError(f"{path}: unknown key {unknown[0]} (allowReplace, allowDelete)")
    out: dict[str, set[str]] = {}
    for key in ("allowReplace", "allowDelete"):
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise PlanError(f"{path}: {key} must be a list of URNs")
        out[key] = set(value)
    return out


def _op(step: dict[str, Any]) -> str:
    op = str(step.get("op", "create"))
    if op in REPLACE_OPS:
        return "replace"
    if op in DELETE_OPS:
        return "delete"
    return op


def _cost_delta(document: dict[str, Any]) -> dict[str, Any] | None:
    before_doc = base_document(document)
    if not before_doc["steps"]:
        return None
    before, after = cost_report(before_doc), cost_report(document)
    old = {r["urn"]: r for r in before["resources"]}
    new = {r["urn"]: r for r in after["resources"]}
    rows = []
    for urn in sorted(set(old) | set(new)):
        was = old.get(urn, {}).get("monthlyUsd") or dict.fromkeys(SCALES, 0.0)
        now = new.get(urn, {}).get("monthlyUsd") or dict.fromkeys(SCALES, 0.0)
        if any(round(was[s], 2) != round(now[s], 2) for s in SCALES):
            rows.append(
                {
                    "urn": urn,
                    "name": (new.get(urn) or old.get(urn) or {}).get("name", urn),
                    "before": was,
                    "after": now,
                    "delta": {s: round(now[s] - was[s], 2) for s in SCALES},
                }
            )
    rows.sort(key=lambda r: -abs(r["delta"]["worst"]))
    totals = {
        s: {
            "before": before["totals"][s],
            "after": after["totals"][s],
            "delta": round(after["totals"][s] - before["totals"][s], 2),
        }
        for s in SCALES
    }
    return {"totals": totals, "resources": rows, "unpriced": after["unpriced"]}


def changes_report(document: dict[str, Any], stack: str) -> dict[str, Any]:
    steps = [s for s in document.get("steps", []) if isinstance(s, dict)]
    counts = {op: 0 for op, _ in SYMBOLS}
    counts["same"] = 0
    by_urn: dict[str, dict[str, Any]] = {}
    for step in steps:
        for key in ("oldState", "newState"):
            state = step.get(key)
            if isinstance(state, dict) and "urn" in state:
                by_urn.setdefault(state["urn"], state)
    for step in steps:  # new states win for the lookup of launch templates
        if isinstance(step.get("newState"), dict):
            by_urn[step["newState"]["urn"]] = step["newState"]
    allowed = allow_list(stack)
    changes: list[dict[str, Any]] = []
    blocked: list[dict[str, Any]] = []
    allowed_hits: list[dict[str, Any]] = []
    refused: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for step in steps:
        op = _op(step)
        if op not in counts:
            continue
        state = step.get("newState") or step.get("oldState") or {}
        urn = step.get("urn") or state.get("urn", "")
        if (urn, op) in seen:  # create-replacement + delete-replaced count as one replace
            continue
        seen.add((urn, op))
        if not state.get("custom", True) or str(state.get("type", "")).startswith("pulumi:"):
            continue  # the counts are of cloud resources, as in the rest of the report
        counts[op] += 1
        if op in ("same", "create"):
            continue
        entry = {
            "urn": urn,
            "type": state.get("type", ""),
            "op": op,
            "diffReasons": list(step.get("diffReasons") or []),
            "replaceReasons": list(step.get("replaceReasons") or []),
        }
        changes.append(entry)
        if step.get("immutableChanges"):
            refused.append({**entry, "paths": list(step["immutableChanges"])})
        if op not in ("replace", "delete"):
            continue
        old_state = step.get("oldState") or state
        what = destroys(old_state, by_urn) or destroys(state, by_urn)
        if what is None:
            continue
        key = "allowReplace" if op == "replace" else "allowDelete"
        finding = {**entry, "destroys": what}
        (allowed_hits if urn in allowed[key] else blocked).append(finding)
    return {
        "base": document.get("base"),
        "summary": counts,
        "changes": changes,
        "blocked": blocked,
        "allowed": allowed_hits,
        "refusedUpdates": refused,
        "allowList": f"policies/changes/{stack}.json",
        "cost": _cost_delta(document),
    }


def _usd(value: float, signed: bool = False) -> str:
    text = f"${abs(value):,.0f}"
    if signed:
        return ("+" if value >= 0 else "-") + text
    return text


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def summary_line(data: dict[str, Any]) -> str:
    """`+10 ~5 ±2 -0; 2 replacements blocked; worst case +$1,932/month (+75%)`."""
    counts = data["summary"]
    parts = [" ".join(f"{sym}{counts.get(op, 0)}" for op, sym in SYMBOLS)]
    blocked = data["blocked"]
    replacements = sum(1 for b in blocked if b["op"] == "replace")
    deletions = sum(1 for b in blocked if b["op"] == "delete")
    if replacements:
        parts.append(f"{_plural(replacements, 'replacement')} blocked")
    if deletions:
        parts.append(f"{_plural(deletions, 'deletion')} blocked")
    cost = data.get("cost")
    if cost:
        worst = cost["totals"]["worst"]
        delta = worst["delta"]
        pct = (
            f" ({'+' if delta >= 0 else '-'}{abs(100 * delta / worst['before']):.0f}%)"
            if (worst["before"])
            else ""
        )
        parts.append(f"worst case {_usd(delta, signed=True)}/month{pct}")
    return "; ".join(parts)


def blocking_message(finding: dict[str, Any], allow_file: str) -> str:
    what = "replaces" if finding["op"] == "replace" else "deletes"
    because = (
        f" (replaceReasons: {', '.join(finding['replaceReasons'])})"
        if finding["replaceReasons"]
        else ""
    )
    key = "allowReplace" if finding["op"] == "replace" else "allowDelete"
    return (
        f"{finding['urn']}: this change {what} it{because}, destroying {finding['destroys']}. "
        f"If that is intended, name the URN under {key} in {allow_file}"
    )


class ChangesStage:
    """Ops against the base, dangerous replacements and deletions, cost before and after."""

    key = "changes"
    title = "Changes against the base"

    def run(self, context: PlanContext) -> StageResult:
        data = changes_report(context.document, context.stack)
        blocking = [blocking_message(b, data["allowList"]) for b in data["blocked"]]
        data["summaryLine"] = summary_line(data)
        return StageResult.rendered(data, self._render, blocking)

    @staticmethod
    def _render(data: dict[str, Any], table: Any) -> list[str]:
        base = data.get("base")
        if base:
            count = _plural(base["resources"], "resource")
            head = f"against {base['kind']} {base['path']} ({count})"
        elif data["summary"]["same"] or len(data["changes"]):
            head = "ops as given in the preview document"
        else:
            head = "no base: every resource is created (plan against one with --base FILE)"
        lines = [data["summaryLine"], head]
        for finding in data["allowed"]:
            lines.append(f"allowed by {data['allowList']}: {finding['op']} {finding['urn']}")
        for finding in data.get("refusedUpdates", []):
            lines.append(
                f"warning: {finding['urn']} changes {', '.join(finding['paths'])}, which the API "
                "server refuses to change in place: the update fails (delete and recreate it)"
            )
        if data["changes"]:
            lines.append("")
            lines += table(
                ["op", "resource", "type", "properties"],
                [
                    [
                        c["op"],
                        c["urn"].rsplit("::", 1)[-1],
                        c["type"],
                        ", ".join(
                            f"{p} (replaces)" if p in c["replaceReasons"] else p
                            for p in (c["diffReasons"] or c["replaceReasons"])
                        )
                        or "-",
                    ]
                    for c in data["changes"]
                ],
            )
        cost = data.get("cost")
        if cost:
            lines.append("")
            lines += table(
                ["monthly (USD)", "before", "after", "difference"],
                [
                    [
                        scale if scale != "worst" else "worst case",
                        _usd(cost["totals"][scale]["before"]),
                        _usd(cost["totals"][scale]["after"]),
                        _usd(cost["totals"][scale]["delta"], signed=True),
                    ]
                    for scale in SCALES
                ],
            )
            if cost["resources"]:
                lines.append("")
                lines += table(
                    [
                        "resource",
                        "idle diff",
                        "expected diff",
                        "worst before",
                        "worst after",
                        "worst diff",
                    ],
                    [
                        [
                            r["name"],
                            _usd(r["delta"]["idle"], signed=True),
                            _usd(r["delta"]["expected"], signed=True),
                            _usd(r["before"]["worst"]),
                            _usd(r["after"]["worst"]),
                            _usd(r["delta"]["worst"], signed=True),
                        ]
                        for r in cost["resources"][:15]
                    ],
                )
                if len(cost["resources"]) > 15:
                    lines.append(f"... and {len(cost['resources']) - 15} more in the JSON document")
        return lines
