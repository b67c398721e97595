"""The storage part of the capacity stage: size, throughput and monthly cost of each tier.

Hot: FSx for Lustre file systems in the document (capacity and per-unit throughput are inputs):
aggregate throughput, throughput per GPU node of the training pool at its maximum, and the time to
write one checkpoint of the configured size. Warm and cold: the buckets' configured expected sizes
(from the stack config, when the plan ran the program) priced at S3 Standard and at the last
storage class of their lifecycle. Prices come from the catalog's dated snapshot; a price the
snapshot lacks is shown as unpriced, never as zero.
"""

from __future__ import annotations

from typing import Any

from components.catalog.conventions import WORKING_SET_TAG
from components.config import StackConfig
from policies.pricing import fsx_price_key, price_or_none

LUSTRE = "aws:fsx/lustreFileSystem:LustreFileSystem"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
GIB_TO_GB = 1.073741824
"""Decimal GB per GiB, for throughput (MB/s). Storage is billed per binary GB: no conversion."""
S3_PRICE_KEYS = {
    "STANDARD": "s3_standard_gb_month",
    "STANDARD_IA": "s3_standard_ia_gb_month",
    "INTELLIGENT_TIERING": "s3_intelligent_tiering_gb_month",
    "GLACIER_IR": "s3_glacier_ir_gb_month",
    "GLACIER": "s3_glacier_flexible_gb_month",
    "DEEP_ARCHIVE": "s3_deep_archive_gb_month",
}


def hot_tier(
    states: list[dict[str, Any]], training_nodes_at_max: int, checkpoint_gib: float
) -> list[dict[str, Any]]:
    rows = []
    for state in states:
        if state["type"] != LUSTRE:
            continue
        inputs = state.get("inputs") or {}
        capacity_gib = int(inputs.get("storageCapacity") or 0)
        per_tib = int(inputs.get("perUnitStorageThroughput") or 0)
        aggregate_gbps = capacity_gib / 1024 * per_tib / 1000  # GB/s
        price = price_or_none(fsx_price_key(per_tib))
        tagged = ((inputs.get("tags") or {}).get(WORKING_SET_TAG)) or None
        working_set = float(tagged) if tagged is not None else None
        rows.append(
            {
                "name": state["urn"].rsplit("::", 1)[-1],
                "deploymentType": inputs.get("deploymentType"),
                "efaEnabled": bool(inputs.get("efaEnabled")),
                "metadataMode": (inputs.get("metadataConfiguration") or {}).get("mode"),
                "capacityGib": capacity_gib,
                "perUnitThroughputMBps": per_tib,
                "aggregateGBps": round(aggregate_gbps, 3),
                "perTrainingNodeGBps": (
                    round(aggregate_gbps / training_nodes_at_max, 3)
                    if training_nodes_at_max
                    else None
                ),
                "checkpointGib": checkpoint_gib or None,
                "checkpointWriteSeconds": (
                    round(checkpoint_gib * GIB_TO_GB / aggregate_gbps, 1)
                    if checkpoint_gib and aggregate_gbps
                    else None
                ),
                "monthlyUsd": round(capacity_gib * price, 2) if price is not None else None,
                "priceKey": fsx_price_key(per_tib),
                "workingSetGib": working_set,
                "workingSetShare": (
                    round(capacity_gib / working_set, 3) if working_set and capacity_gib else None
                ),
            }
        )
    return rows


def _final_class(document_states: list[dict[str, Any]], bucket: str) -> str:
    """The last transition's storage class in the bucket's lifecycle, from the document."""
    for state in document_states:
        if state["type"] == LIFECYCLE and state["urn"].endswith(f"-{bucket}"):
            rules = (state.get("inputs") or {}).get("rules") or []
            classes = [t["storageClass"] for r in rules for t in r.get("transitions") or []]
            if classes:
                return str(classes[-1])
    return "STANDARD"


def bucket_tiers(states: list[dict[str, Any]], config: StackConfig | None) -> list[dict[str, Any]]:
    if config is None:
        return []
    rows = []
    for name in ("datasets", "checkpoints", "models"):
        size = getattr(config.storage, name).expected_size_gib
        final = _final_class(states, name)
        warm = price_or_none(S3_PRICE_KEYS["STANDARD"])
        cold = price_or_none(S3_PRICE_KEYS.get(final, ""))
        rows.append(
            {
                "bucket": name,
                "expectedSizeGib": size,
                "finalStorageClass": final,
                "warmMonthlyUsd": round(size * warm, 2) if warm is not None else None,
                "missingPrices": [
                    key
                    for key, price in (
                        (S3_PRICE_KEYS["STANDARD"], warm),
                        (S3_PRICE_KEYS.get(final, f"s3_{final.lower()}_gb_month"), cold),
                    )
                    if price is None
                ],
                "coldFloorMonthlyUsd": (round(size * cold, 2) if cold is not None else None),
            }
        )
    return rows


def training_nodes_at_max(pools: list[dict[str, Any]]) -> int:
    """Max nodes of the training pools (EFA pools first, as the hot tier sits in their AZ)."""
    efa = [p for p in pools if p.get("efa")]
    chosen = efa or [p for p in pools if p.get("purpose") == "training"]
    return sum(int(p["maxSize"]) for p in chosen)


def storage_section(
    states: list[dict[str, Any]], pools: list[dict[str, Any]], config: StackConfig | None
) -> dict[str, Any]:
    checkpoint = config.storage.checkpoint_size_gib if config else 0.0
    hot = hot_tier(states, training_nodes_at_max(pools), checkpoint)
    buckets = bucket_tiers(states, config)

    def total(values: list[float | None]) -> float | None:
        return None if any(v is None for v in values) else round(sum(v or 0 for v in values), 2)

    return {
        "hot": hot,
        "buckets": buckets,
        "monthlyUsdByTier": {
            "hot": total([h["monthlyUsd"] for h in hot]),
            "warm": total([b["warmMonthlyUsd"] for b in buckets]),
            "coldFloor": total([b["coldFloorMonthlyUsd"] for b in buckets]),
        },
        "unpriced": sorted(
            {h["priceKey"] for h in hot if h["monthlyUsd"] is None}
            | {key for b in buckets for key in b["missingPrices"]}
        ),
    }


def render(section: dict[str, Any], table: Any) -> list[str]:
    def usd(value: float | None) -> str:
        return "unpriced" if value is None else f"${value:,.2f}"

    lines: list[str] = []
    for h in section["hot"]:
        share = h.get("workingSetShare")
        if share is not None and share < 1:
            lines.append(
                f"{h['name']}: {h['capacityGib']} GiB holds {share:.0%} of the "
                f"{h['workingSetGib']:g} GiB working set; the scheduled release frees files "
                "unread for storage.fsx.releaseAfterDays, which come back from S3 on first read"
            )
    if section["hot"]:
        lines += table(
            [
                "file system",
                "EFA",
                "capacity",
                "working set",
                "MB/s/TiB",
                "GB/s",
                "GB/s per node",
                "checkpoint",
                "month",
            ],
            [
                [
                    h["name"],
                    f"yes ({h['metadataMode']} metadata)" if h.get("efaEnabled") else "no",
                    f"{h['capacityGib']} GiB",
                    "-" if h["workingSetGib"] is None else f"{h['workingSetGib']:g} GiB",
                    str(h["perUnitThroughputMBps"]),
                    f"{h['aggregateGBps']:g}",
                    "-" if h["perTrainingNodeGBps"] is None else f"{h['perTrainingNodeGBps']:g}",
                    (
                        "-"
                        if h["checkpointWriteSeconds"] is None
                        else f"{h['checkpointGib']:g} GiB in {h['checkpointWriteSeconds']:g} s"
                    ),
                    usd(h["monthlyUsd"]),
                ]
                for h in section["hot"]
            ],
        )
        lines.append("")
    if section["buckets"]:
        lines += table(
            ["bucket", "expected size", "warm (S3 Standard)", "cold floor", "last class"],
            [
                [
                    b["bucket"],
                    f"{b['expectedSizeGib']:g} GiB",
                    usd(b["warmMonthlyUsd"]),
                    usd(b["coldFloorMonthlyUsd"]),
                    b["finalStorageClass"],
                ]
                for b in section["buckets"]
            ],
        )
        lines.append("")
    tiers = section["monthlyUsdByTier"]
    lines.append(
        f"Storage per month: hot {usd(tiers['hot'])}, warm {usd(tiers['warm'])}, "
        f"cold floor {usd(tiers['coldFloor'])}"
    )
    if section["unpriced"]:
        lines.append(
            f"Unpriced (not in the price snapshot): {', '.join(section['unpriced'])}; "
            "refresh with `python -m scripts.ops prices refresh`"
        )
    return lines
