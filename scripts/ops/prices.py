"""`prices refresh`: refresh the catalog's price snapshot from AWS.

On-demand: the AWS Pricing API (`get_products`, served from us-east-1) for every catalog instance
type in the target region (Linux, shared tenancy, no pre-installed software, capacity status Used),
reading the OnDemand term's USD price per hour. Spot: EC2 `describe_spot_price_history` over the
last hour (Linux/UNIX), the latest price per AZ and then the lowest across AZs.

The result is written into `components/catalog/prices.json` (or `--output FILE`), keeping its
structure: `instances` prices and `snapshot.instances` (date, region, source) are updated, a `spot`
section and `snapshot.spot` are added or replaced; service prices are left alone. A type the
Pricing API returns nothing for keeps its old price and is reported. `--dry-run` prints the changes
and writes nothing.

Offline, `--from FILE` reads the on-demand prices instead from a copy of
aws/karpenter-provider-aws `pkg/providers/pricing/zz_generated.pricing_aws.go` (AWS's Pricing API
data as Karpenter ships it; `--commit SHA` records which commit in the snapshot's source). No AWS
call is made. The snapshot date is the file's `generated at` date and the region its header's
(or `--region`, when the file has that region's map). Every catalog type gets the file's price;
a type the file lacks loses its old price (prices are never mixed from two sources) and is
reported unpriced, which the plan then says.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import components.catalog as catalog
from scripts.ops.aws import Aws
from scripts.ops.common import OpsError, Report, table

PRICES_FILE = Path(catalog.__file__).resolve().parent / "prices.json"
PRICING_REGION = "us-east-1"
"""The Pricing API endpoint (it also answers for every other region's prices)."""
SPOT_PRODUCT = "Linux/UNIX"
SPOT_WINDOW = timedelta(hours=1)


def now() -> datetime:
    """The current time, UTC (a function so tests can pin it)."""
    return datetime.now(UTC)


def pricing_filters(instance_type: str, region: str) -> list[dict[str, str]]:
    """Filters that leave exactly the Linux, shared-tenancy, on-demand product of a type."""
    terms = {
        "instanceType": instance_type,
        "regionCode": region,
        "operatingSystem": "Linux",
        "tenancy": "Shared",
        "preInstalledSw": "NA",
        "capacitystatus": "Used",
    }
    return [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in terms.items()]


def _on_demand_usd(product: Mapping[str, Any]) -> list[Decimal]:
    """Hourly USD prices in a product's OnDemand terms (zero prices left out)."""
    found = []
    for term in (product.get("terms", {}).get("OnDemand") or {}).values():
        for dimension in (term.get("priceDimensions") or {}).values():
            if str(dimension.get("unit", "")).lower() not in ("hrs", "hours", "hour"):
                continue
            try:
                price = Decimal(str(dimension["pricePerUnit"]["USD"]))
            except (KeyError, InvalidOperation):
                continue
            if price > 0:
                found.append(price)
    return found


def parse_on_demand(price_list: Iterable[str]) -> Decimal | None:
    """The on-demand USD/hour in a `get_products` PriceList (JSON strings), or None.

    Only plain box usage launched by RunInstances counts (not Capacity Block or dedicated
    usage types); when several products remain, the lowest price wins."""
    candidates: list[Decimal] = []
    for raw in price_list:
        product = json.loads(raw) if isinstance(raw, str) else raw
        attributes = product.get("product", {}).get("attributes", {})
        if "BoxUsage" not in attributes.get("usagetype", "BoxUsage"):
            continue
        if attributes.get("operation", "RunInstances") != "RunInstances":
            continue
        if attributes.get("marketoption", "OnDemand") != "OnDemand":
            continue
        candidates += _on_demand_usd(product)
    return min(candidates) if candidates else None


def fetch_on_demand(aws: Aws, types: Iterable[str], region: str) -> dict[str, Decimal | None]:
    client = aws.client("pricing", region=PRICING_REGION)
    prices: dict[str, Decimal | None] = {}
    for name in types:
        price_list: list[str] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {
                "ServiceCode": "AmazonEC2",
                "Filters": pricing_filters(name, region),
                "FormatVersion": "aws_v1",
            }
            if token:
                kwargs["NextToken"] = token
            response = client.get_products(**kwargs)
            price_list += response.get("PriceList", [])
            token = response.get("NextToken")
            if not token:
                break
        prices[name] = parse_on_demand(price_list)
    return prices


def lowest_spot(history: Iterable[Mapping[str, Any]]) -> dict[str, tuple[Decimal, str]]:
    """Per type the lowest of each AZ's latest spot price, with that AZ."""
    latest: dict[tuple[str, str], tuple[datetime, Decimal]] = {}
    for item in history:
        key = (item["InstanceType"], item["AvailabilityZone"])
        stamp = item["Timestamp"]
        price = Decimal(str(item["SpotPrice"]))
        if key not in latest or stamp > latest[key][0]:
            latest[key] = (stamp, price)
    lowest: dict[str, tuple[Decimal, str]] = {}
    for (kind, az), (_, price) in sorted(latest.items()):
        if kind not in lowest or price < lowest[kind][0]:
            lowest[kind] = (price, az)
    return lowest


def fetch_spot(aws: Aws, types: list[str]) -> dict[str, tuple[Decimal, str]]:
    paginator = aws.client("ec2").get_paginator("describe_spot_price_history")
    history: list[Mapping[str, Any]] = []
    for page in paginator.paginate(
        InstanceTypes=types,
        ProductDescriptions=[SPOT_PRODUCT],
        StartTime=now() - SPOT_WINDOW,
    ):
        history += page.get("SpotPriceHistory", [])
    return lowest_spot(history)


def _number(value: Decimal) -> float | int:
    number = float(value)
    return int(number) if number.is_integer() else number


def _change(old: float | None, new: float) -> str:
    if old is None:
        return "new"
    if old == 0 or old == new:
        return ""
    return f"{100 * (new - old) / old:+.1f}%"


def refresh(
    aws: Aws, region: str, source_file: Path = PRICES_FILE
) -> tuple[dict[str, Any], Report]:
    """The refreshed prices document and a report of what changed (nothing is written)."""
    try:
        document: dict[str, Any] = json.loads(source_file.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise OpsError(f"cannot read {source_file}: {exc}") from None
    names = list(catalog.supported_instance_types())
    on_demand = fetch_on_demand(aws, names, region)
    spot = fetch_spot(aws, names)
    today = now().date().isoformat()

    old_prices: dict[str, Any] = document.get("instances", {})
    new_prices = dict(old_prices)
    rows, changes, missing = [], [], []
    for name in names:
        price = on_demand.get(name)
        old = old_prices.get(name)
        if price is None:
            missing.append(name)
            rows.append([name, f"{old}" if old is not None else "-", "(not found, kept)", ""])
            continue
        new = _number(price)
        new_prices[name] = new
        if old != new:
            changes.append({"instanceType": name, "old": old, "new": new})
        rows.append([name, f"{old}" if old is not None else "-", f"{new}", _change(old, new)])

    spot_prices = {name: _number(spot[name][0]) for name in names if name in spot}
    spot_rows = []
    for name in names:
        if name not in spot:
            spot_rows.append([name, "-", "", "no spot price"])
            continue
        price, az = spot[name]
        od = new_prices.get(name)
        saving = f"{100 * (1 - float(price) / float(od)):.0f}%" if od else ""
        spot_rows.append([name, f"{_number(price)}", az, saving])

    document["instances"] = dict(sorted(new_prices.items()))
    snapshot = document.setdefault("snapshot", {})
    snapshot["instances"] = {
        "date": today,
        "region": region,
        "source": f"AWS Pricing API get_products, {region}",
    }
    snapshot["spot"] = {
        "date": today,
        "region": region,
        "source": (
            f"EC2 DescribeSpotPriceHistory, {SPOT_PRODUCT}, latest price per AZ over the last "
            f"hour, lowest across AZs, {region}"
        ),
    }
    document["spot"] = spot_prices

    lines = [
        f"prices: {len(names)} instance types, region {region}, snapshot {today}",
        "",
        "On-demand (USD/hour):",
        *table(["type", "old", "new", "change"], rows),
        "",
        "Spot (USD/hour, lowest across AZs):",
        *table(["type", "spot", "az", "below on-demand"], spot_rows),
        "",
        f"{len(changes)} on-demand prices changed, {len(missing)} not found"
        + (f" ({', '.join(missing)})" if missing else "")
        + f", {len(spot_prices)} spot prices",
    ]
    data = {
        "region": region,
        "date": today,
        "changes": changes,
        "notFound": missing,
        "instances": document["instances"],
        "spot": spot_prices,
        "spotAvailabilityZones": {name: spot[name][1] for name in spot_prices},
    }
    return document, Report(data=data, lines=lines)


KARPENTER_PATH = "pkg/providers/pricing/zz_generated.pricing_aws.go"
_GENERATED = re.compile(r"//\s*generated at ((\d{4}-\d{2}-\d{2})T[\d:]+Z) for ([a-z0-9-]+)")
_REGION_MAP = re.compile(r'^\s*"([a-z]{2}(?:-[a-z]+)+-\d)"\s*:\s*\{', re.MULTILINE)
_PRICE = re.compile(r'"([a-z0-9-]+\.[a-z0-9-]+)"\s*:\s*([0-9]+(?:\.[0-9]+)?)')


def parse_karpenter(text: str) -> tuple[str, str, str, dict[str, dict[str, Decimal]]]:
    """(generated time, date, header region, {region: {instance type: USD/hour}}) of Karpenter's
    generated on-demand price file; OpsError when the text is not one."""
    header = _GENERATED.search(text)
    if header is None or "InitialOnDemandPricesAWS" not in text:
        raise OpsError(
            f"not a karpenter {KARPENTER_PATH} file: no InitialOnDemandPricesAWS map with a "
            "'generated at <time> for <region>' header"
        )
    starts = list(_REGION_MAP.finditer(text))
    regions: dict[str, dict[str, Decimal]] = {}
    for i, match in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(text)
        body = text[match.end() : end]
        regions[match.group(1)] = {name: Decimal(usd) for name, usd in _PRICE.findall(body)}
    if not regions:
        raise OpsError(f"no region price map in the {KARPENTER_PATH} file")
    return header.group(1), header.group(2), header.group(3), regions


def refresh_from_karpenter(
    path: Path,
    region: str | None = None,
    commit: str | None = None,
    source_file: Path = PRICES_FILE,
) -> tuple[dict[str, Any], Report]:
    """The prices document with every catalog type's on-demand price from Karpenter's file
    (nothing is written) and a report of what changed."""
    try:
        text = path.read_text()
        document: dict[str, Any] = json.loads(source_file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise OpsError(f"cannot read {exc}") from None
    stamp, generated, header_region, regions = parse_karpenter(text)
    region = region or header_region
    if region not in regions:
        raise OpsError(f"{path} has no prices for {region} (it has: {', '.join(sorted(regions))})")
    table_for_region = regions[region]
    names = list(catalog.supported_instance_types())
    old_prices: dict[str, Any] = document.get("instances", {})
    new_prices: dict[str, Any] = {}
    rows, changes, missing = [], [], []
    for name in names:
        old = old_prices.get(name)
        price = table_for_region.get(name)
        if price is None:
            missing.append(name)
            rows.append([name, f"{old}" if old is not None else "-", "(not in the file)", ""])
            if old is not None:
                changes.append({"instanceType": name, "old": old, "new": None})
            continue
        new = _number(price)
        new_prices[name] = new
        if old != new:
            changes.append({"instanceType": name, "old": old, "new": new})
        rows.append([name, f"{old}" if old is not None else "-", f"{new}", _change(old, new)])
    at = f", commit {commit}" if commit else ""
    document["instances"] = dict(sorted(new_prices.items()))
    document.setdefault("snapshot", {})["instances"] = {
        "date": generated,
        "region": region,
        "source": (
            f"aws/karpenter-provider-aws {KARPENTER_PATH} (InitialOnDemandPricesAWS, header "
            f"'generated at {stamp} for {header_region}'{at}); Linux, shared tenancy, "
            "on-demand, USD/hour"
        ),
    }
    lines = [
        f"prices: {len(names)} instance types from {path}, region {region}, generated {generated}",
        "",
        "On-demand (USD/hour):",
        *table(["type", "old", "new", "change"], rows),
        "",
        f"{len(changes)} on-demand prices changed, {len(missing)} not in the file"
        + (f" (unpriced: {', '.join(missing)})" if missing else ""),
    ]
    data = {
        "region": region,
        "date": generated,
        "source": str(path),
        "commit": commit,
        "changes": changes,
        "notFound": missing,
        "instances": document["instances"],
    }
    return document, Report(data=data, lines=lines)


def handle(args: argparse.Namespace, aws: Aws) -> Report:
    if args.from_file is not None:
        document, report = refresh_from_karpenter(args.from_file, args.region, args.commit)
    else:
        if args.commit:
            raise OpsError("--commit goes with --from (the commit of the karpenter file)")
        document, report = refresh(aws, aws.region)
    target: Path = args.output or PRICES_FILE
    if args.dry_run:
        report.lines.append("dry run: nothing written")
        report.data["written"] = None
        return report
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(document, indent=2) + "\n")
    except OSError as exc:
        raise OpsError(f"cannot write {target}: {exc}") from None
    report.lines.append(f"written: {target}")
    report.data["written"] = str(target)
    return report


def register(
    subparsers: Any, common: argparse.ArgumentParser, stack: argparse.ArgumentParser
) -> None:
    _ = stack
    prices = subparsers.add_parser("prices", help="instance price snapshot")
    sub = prices.add_subparsers(dest="prices_command", required=True, metavar="COMMAND")
    parser = sub.add_parser(
        "refresh",
        parents=[common],
        help="refresh components/catalog/prices.json from the Pricing API and spot history",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--dry-run", action="store_true", help="print the changes, write nothing")
    parser.add_argument(
        "--output",
        type=Path,
        help="write the refreshed document here instead of components/catalog/prices.json",
    )
    parser.add_argument(
        "--from",
        dest="from_file",
        type=Path,
        metavar="FILE",
        help=f"offline: on-demand prices from a copy of karpenter-provider-aws {KARPENTER_PATH}",
    )
    parser.add_argument(
        "--commit",
        metavar="SHA",
        help="with --from: the karpenter-provider-aws commit the file was taken at (recorded)",
    )
    parser.set_defaults(handler=handle)
