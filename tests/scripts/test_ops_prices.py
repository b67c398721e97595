"""`ops prices refresh`: Pricing API and spot price history through botocore Stubber.

Never touches the real `components/catalog/prices.json`: every run writes to `--output` or is a
dry run, and a test checks the real file is byte-for-byte unchanged.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber

from components.catalog import supported_instance_types
from scripts.ops import prices
from scripts.ops.aws import Aws
from tests.scripts.test_ops_support import isolate_aws_env, make_aws, run_ops

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
TYPES = list(supported_instance_types())
NEW_P5_PRICE = "49.3200000000"
NOT_LISTED = "m5.large"
UNPRICED = "p5e.48xlarge"
"""A catalog type the snapshot has no price for (the Pricing API stub returns none either)."""
NOT_FOUND = sorted([NOT_LISTED, UNPRICED])


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_aws_env(monkeypatch, tmp_path)
    monkeypatch.setattr(prices, "now", lambda: NOW)


@pytest.fixture
def real_prices() -> Any:
    """The real prices file must come out of every test untouched."""
    before = prices.PRICES_FILE.read_bytes()
    yield json.loads(before)
    assert prices.PRICES_FILE.read_bytes() == before


def price_list_entry(
    instance_type: str, usd: str, market: str = "OnDemand", region: str = "us-east-1"
) -> str:
    """One PriceList item as get_products returns it: a JSON document in a string."""
    sku = "ABCDEFGHJKLMNPQR"
    product = {
        "product": {
            "productFamily": "Compute Instance",
            "attributes": {
                "instanceType": instance_type,
                "regionCode": region,
                "location": "US East (N. Virginia)",
                "locationType": "AWS Region",
                "operatingSystem": "Linux",
                "tenancy": "Shared",
                "preInstalledSw": "NA",
                "capacitystatus": "Used",
                "licenseModel": "No License required",
                "usagetype": f"BoxUsage:{instance_type}",
                "operation": "RunInstances",
                "marketoption": market,
                "servicecode": "AmazonEC2",
                "currentGeneration": "Yes",
            },
            "sku": sku,
        },
        "serviceCode": "AmazonEC2",
        "terms": {
            "OnDemand": {
                f"{sku}.JRTCKXETXF": {
                    "priceDimensions": {
                        f"{sku}.JRTCKXETXF.6YS6EN2CT7": {
                            "unit": "Hrs",
                            "endRange": "Inf",
                            "description": f"${usd} per On Demand Linux {instance_type} Hour",
                            "appliesTo": [],
                            "rateCode": f"{sku}.JRTCKXETXF.6YS6EN2CT7",
                            "beginRange": "0",
                            "pricePerUnit": {"USD": usd},
                        }
                    },
                    "sku": sku,
                    "effectiveDate": "2026-11-01T00:00:00Z",
                    "offerTermCode": "JRTCKXETXF",
                    "termAttributes": {},
                }
            },
            "Reserved": {
                f"{sku}.4NA7Y494T4": {
                    "priceDimensions": {
                        f"{sku}.4NA7Y494T4.6YS6EN2CT7": {
                            "unit": "Hrs",
                            "description": "Linux/UNIX (Amazon VPC), 1yr No Upfront",
                            "pricePerUnit": {"USD": "0.0100000000"},
                        }
                    },
                    "termAttributes": {
                        "LeaseContractLength": "1yr",
                        "OfferingClass": "standard",
                        "PurchaseOption": "No Upfront",
                    },
                }
            },
        },
        "version": "20261115000000",
        "publicationDate": "2026-11-15T00:00:00Z",
    }
    return json.dumps(product)


def expected_filters(instance_type: str, region: str = "us-east-1") -> list[dict[str, str]]:
    return [
        {"Type": "TERM_MATCH", "Field": "instanceType", "Value": instance_type},
        {"Type": "TERM_MATCH", "Field": "regionCode", "Value": region},
        {"Type": "TERM_MATCH", "Field": "operatingSystem", "Value": "Linux"},
        {"Type": "TERM_MATCH", "Field": "tenancy", "Value": "Shared"},
        {"Type": "TERM_MATCH", "Field": "preInstalledSw", "Value": "NA"},
        {"Type": "TERM_MATCH", "Field": "capacitystatus", "Value": "Used"},
    ]


def spot(instance_type: str, az: str, usd: str, minutes_ago: int) -> dict[str, Any]:
    return {
        "AvailabilityZone": az,
        "InstanceType": instance_type,
        "ProductDescription": "Linux/UNIX",
        "SpotPrice": usd,
        "Timestamp": NOW - timedelta(minutes=minutes_ago),
    }


SPOT_HISTORY = [
    spot("p5.48xlarge", "us-east-1a", "12.0000", 55),  # superseded by the newer 1a price
    spot("p5.48xlarge", "us-east-1a", "18.5000", 5),
    spot("p5.48xlarge", "us-east-1b", "19.0000", 30),
    spot("p5.48xlarge", "us-east-1c", "25.1000", 10),
    spot("g4dn.xlarge", "us-east-1a", "0.2155", 20),
    spot("g4dn.xlarge", "us-east-1b", "0.2001", 40),
    spot("g4dn.xlarge", "us-east-1c", "0.2500", 15),
]


def service_entry(
    service_code: str,
    usage_type: str,
    unit: str,
    tiers: list[tuple[str, str]],
    attributes: dict[str, str] | None = None,
    sku: str = "SVCSKU0000000001",
) -> str:
    """One service PriceList item as get_products returns it: a JSON document in a string.
    `tiers` are (beginRange, USD) of the OnDemand term's price dimensions."""
    dimensions = {}
    for i, (begin, usd) in enumerate(tiers):
        code = f"{sku}.JRTCKXETXF.{i:010d}"
        dimensions[code] = {
            "unit": unit,
            "endRange": "Inf" if i == len(tiers) - 1 else tiers[i + 1][0],
            "description": f"${usd} per {unit} {usage_type}",
            "appliesTo": [],
            "rateCode": code,
            "beginRange": begin,
            "pricePerUnit": {"USD": usd},
        }
    product = {
        "product": {
            "productFamily": (attributes or {}).get("productFamily", "Storage"),
            "attributes": {
                "regionCode": "us-east-1",
                "location": "US East (N. Virginia)",
                "locationType": "AWS Region",
                "usagetype": usage_type,
                "servicecode": service_code,
                **(attributes or {}),
            },
            "sku": sku,
        },
        "serviceCode": service_code,
        "terms": {
            "OnDemand": {
                f"{sku}.JRTCKXETXF": {
                    "priceDimensions": dimensions,
                    "sku": sku,
                    "effectiveDate": "2026-11-01T00:00:00Z",
                    "offerTermCode": "JRTCKXETXF",
                    "termAttributes": {},
                }
            }
        },
        "version": "20261115000000",
        "publicationDate": "2026-11-15T00:00:00Z",
    }
    return json.dumps(product)


def _fsx(tier: int, usd: str, sku: str = "FSXSKU0000000001") -> str:
    attributes = {
        "productFamily": "Storage",
        "fileSystemType": "Lustre",
        "storageType": "SSD",
        "throughputCapacity": str(tier),
    }
    return service_entry(
        "AmazonFSx", f"USE1-Storage.SSD.{tier}", "GB-Mo", [("0", usd)], attributes, sku
    )


SERVICE_RESPONSES: dict[str, list[str]] = {
    "eks_cluster_hour": [
        service_entry("AmazonEKS", "USE1-AmazonEKS-Hours:perCluster", "Hours", [("0", "0.10")]),
        # The extended support line answers the same filters: not this price.
        service_entry("AmazonEKS", "USE1-AmazonEKS-Hours:extendedSupport", "Hours", [("0", "0.5")]),
    ],
    "eks_cluster_extended_support_hour": [
        service_entry("AmazonEKS", "USE1-AmazonEKS-Hours:perCluster", "Hours", [("0", "0.10")]),
        service_entry("AmazonEKS", "USE1-AmazonEKS-Hours:extendedSupport", "Hours", [("0", "0.5")]),
    ],
    "nat_gateway_hour": [
        service_entry("AmazonEC2", "NatGateway-Hours", "Hrs", [("0", "0.0450000000")]),
        service_entry("AmazonEC2", "NatGateway-Bytes", "GB", [("0", "0.0450000000")]),
    ],
    "nat_gateway_gb": [
        service_entry("AmazonEC2", "NatGateway-Hours", "Hrs", [("0", "0.0450000000")]),
        service_entry("AmazonEC2", "NatGateway-Bytes", "GB", [("0", "0.0480000000")]),
    ],
    "vpc_interface_endpoint_az_hour": [
        service_entry("AmazonVPC", "USE1-VpcEndpoint-Hours", "Hrs", [("0", "0.0100000000")]),
        service_entry("AmazonVPC", "USE1-VpcEndpoint-Bytes", "GB", [("0", "0.0100000000")]),
    ],
    "fsx_lustre_persistent2_125_gb_month": [_fsx(125, "0.1450000000")],
    "fsx_lustre_persistent2_250_gb_month": [_fsx(250, "0.2100000000")],
    # Two products answer: ambiguous, so not priced.
    "fsx_lustre_persistent2_500_gb_month": [
        _fsx(500, "0.3400000000"),
        _fsx(500, "0.3900000000", sku="FSXSKU0000000002"),
    ],
    "fsx_lustre_persistent2_1000_gb_month": [],
    "s3_standard_gb_month": [
        service_entry(
            "AmazonS3",
            "TimedStorage-ByteHrs",
            "GB-Mo",
            [("0", "0.0230000000"), ("51200", "0.0220000000"), ("512000", "0.0210000000")],
            {"volumeType": "Standard"},
        )
    ],
    "s3_standard_ia_gb_month": [
        service_entry("AmazonS3", "TimedStorage-SIA-ByteHrs", "GB-Mo", [("0", "0.0125000000")])
    ],
    "s3_intelligent_tiering_gb_month": [
        service_entry("AmazonS3", "TimedStorage-INT-FA-ByteHrs", "GB-Mo", [("0", "0.0230000000")])
    ],
    "s3_glacier_ir_gb_month": [
        service_entry("AmazonS3", "TimedStorage-GIR-ByteHrs", "GB-Mo", [("0", "0.0040000000")])
    ],
    "s3_glacier_flexible_gb_month": [
        service_entry("AmazonS3", "TimedStorage-GlacierByteHrs", "GB-Mo", [("0", "0.0036000000")])
    ],
    "s3_deep_archive_gb_month": [
        service_entry(
            "AmazonS3GlacierDeepArchive",
            "TimedStorage-GDA-ByteHrs",
            "GB-Mo",
            [("0", "0.0009900000")],
        )
    ],
    "ebs_gp3_gb_month": [
        service_entry("AmazonEC2", "EBS:VolumeUsage.gp3", "GB-Mo", [("0", "0.0800000000")])
    ],
    "cloudwatch_logs_ingest_gb": [
        service_entry("AmazonCloudWatch", "USE1-DataProcessing-Bytes", "GB", [("0", "0.50")]),
        service_entry("AmazonCloudWatch", "USE1-DataProcessingIA-Bytes", "GB", [("0", "0.25")]),
    ],
    "kms_key_month": [],  # not found: the old price is kept
}
SERVICES_NOT_FOUND = [
    "fsx_lustre_persistent2_500_gb_month",
    "fsx_lustre_persistent2_1000_gb_month",
    "kms_key_month",
]


def expected_service_filters(key: str) -> list[dict[str, str]]:
    attributes = {
        "eks_cluster_hour": [("productFamily", "Compute")],
        "eks_cluster_extended_support_hour": [("productFamily", "Compute")],
        "nat_gateway_hour": [("productFamily", "NAT Gateway")],
        "nat_gateway_gb": [("productFamily", "NAT Gateway")],
        "vpc_interface_endpoint_az_hour": [("productFamily", "VpcEndpoint")],
        "s3_standard_gb_month": [("volumeType", "Standard")],
        "s3_intelligent_tiering_gb_month": [("storageClass", "Intelligent-Tiering")],
        "ebs_gp3_gb_month": [("productFamily", "Storage"), ("volumeApiName", "gp3")],
        "cloudwatch_logs_ingest_gb": [("productFamily", "Data Payload")],
        "kms_key_month": [("productFamily", "Encryption Key")],
    }
    terms = [("regionCode", "us-east-1"), ("locationType", "AWS Region")]
    if key.startswith("fsx_lustre_persistent2_"):
        tier = key.split("_")[3]
        terms += [
            ("productFamily", "Storage"),
            ("fileSystemType", "Lustre"),
            ("storageType", "SSD"),
            ("throughputCapacity", tier),
        ]
    else:
        terms += attributes.get(key, [])
    return [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in terms]


SERVICE_CODES = {
    "eks": "AmazonEKS",
    "nat": "AmazonEC2",
    "vpc": "AmazonVPC",
    "fsx": "AmazonFSx",
    "ebs": "AmazonEC2",
    "cloudwatch": "AmazonCloudWatch",
    "kms": "awskms",
}


def service_code(key: str) -> str:
    if key == "s3_deep_archive_gb_month":
        return "AmazonS3GlacierDeepArchive"
    if key.startswith("s3_"):
        return "AmazonS3"
    return SERVICE_CODES[key.split("_")[0]]


def stub_aws(real: dict[str, Any]) -> tuple[Aws, Stubber, Stubber]:
    aws = make_aws()
    pricing = Stubber(aws.client("pricing", region="us-east-1"))
    for name in TYPES:
        if name == NOT_LISTED or name not in real["instances"]:
            price_list: list[str] = []
        elif name == "p5.48xlarge":
            # A Capacity Block product beside the on-demand one must not win.
            price_list = [
                price_list_entry(name, "31.4640000000", market="CapacityBlock"),
                price_list_entry(name, NEW_P5_PRICE),
            ]
        else:
            price_list = [price_list_entry(name, f"{real['instances'][name]:.10f}")]
        pricing.add_response(
            "get_products",
            {"PriceList": price_list, "FormatVersion": "aws_v1"},
            expected_params={
                "ServiceCode": "AmazonEC2",
                "Filters": expected_filters(name),
                "FormatVersion": "aws_v1",
            },
        )
    for key, price_list in SERVICE_RESPONSES.items():
        pricing.add_response(
            "get_products",
            {"PriceList": price_list, "FormatVersion": "aws_v1"},
            expected_params={
                "ServiceCode": service_code(key),
                "Filters": expected_service_filters(key),
                "FormatVersion": "aws_v1",
            },
        )
    pricing.activate()
    ec2 = Stubber(aws.client("ec2"))
    ec2.add_response(
        "describe_spot_price_history",
        {"SpotPriceHistory": SPOT_HISTORY},
        expected_params={
            "InstanceTypes": TYPES,
            "ProductDescriptions": ["Linux/UNIX"],
            "StartTime": NOW - timedelta(hours=1),
        },
    )
    ec2.activate()
    return aws, pricing, ec2


def test_parse_on_demand_reads_the_usd_price_of_the_on_demand_term() -> None:
    assert str(prices.parse_on_demand([price_list_entry("p5.48xlarge", "55.0400000000")])) == (
        "55.0400000000"
    )
    assert prices.parse_on_demand([]) is None
    capacity_block_only = [price_list_entry("p5.48xlarge", "31.46", market="CapacityBlock")]
    assert prices.parse_on_demand(capacity_block_only) is None


def test_refresh_writes_prices_date_and_spot_to_the_output_file(
    real_prices: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    aws, pricing, ec2 = stub_aws(real_prices)
    out = tmp_path / "prices.json"

    run = run_ops(capsys, ["prices", "refresh", "--output", str(out)], aws)

    assert run.code == 0, run.err
    pricing.assert_no_pending_responses()
    ec2.assert_no_pending_responses()
    written = json.loads(out.read_text())
    assert written["instances"]["p5.48xlarge"] == 49.32
    assert written["instances"]["g4dn.xlarge"] == real_prices["instances"]["g4dn.xlarge"]
    assert written["instances"][NOT_LISTED] == real_prices["instances"][NOT_LISTED]  # kept
    assert written["snapshot"]["instances"] == {
        "date": "2026-11-22",
        "region": "us-east-1",
        "source": "AWS Pricing API get_products, us-east-1",
    }
    # Spot: the latest price per AZ, then the lowest across AZs.
    assert written["spot"] == {"g4dn.xlarge": 0.2001, "p5.48xlarge": 18.5}
    assert written["snapshot"]["spot"]["date"] == "2026-11-22"
    assert "DescribeSpotPriceHistory" in written["snapshot"]["spot"]["source"]
    # Structure kept: same key order, same format.
    assert list(written)[:3] == list(real_prices)[:3]
    assert out.read_text() == json.dumps(written, indent=2) + "\n"
    p5_line = next(line for line in run.out.splitlines() if line.startswith("p5.48xlarge "))
    assert "55.04" in p5_line and "49.32" in p5_line and "-10.4%" in p5_line
    assert UNPRICED not in written["instances"]  # still unpriced
    assert f"1 on-demand prices changed, 2 not found ({', '.join(NOT_FOUND)})" in run.out
    assert f"written: {out}" in run.out


def test_refresh_writes_service_prices_with_their_filters_and_keeps_what_it_cannot_find(
    real_prices: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    aws, pricing, _ = stub_aws(real_prices)
    out = tmp_path / "prices.json"

    run = run_ops(capsys, ["prices", "refresh", "--output", str(out)], aws)

    assert run.code == 0, run.err
    pricing.assert_no_pending_responses()
    services = json.loads(out.read_text())["services"]
    usd = {key: entry["usd"] for key, entry in services.items()}
    assert usd["eks_cluster_hour"] == 0.1  # not the extended support line beside it
    assert usd["eks_cluster_extended_support_hour"] == 0.6  # the surcharge plus the cluster-hour
    assert usd["nat_gateway_hour"] == 0.045
    assert usd["nat_gateway_gb"] == 0.048  # changed
    assert usd["s3_standard_gb_month"] == 0.023  # the first tier
    assert usd["cloudwatch_logs_ingest_gb"] == 0.5  # not the infrequent access class
    assert usd["fsx_lustre_persistent2_250_gb_month"] == 0.21  # a new tier
    # Ambiguous or absent: an old price is kept with its source, a new tier stays unpriced.
    assert services["kms_key_month"] == real_prices["services"]["kms_key_month"]
    assert "fsx_lustre_persistent2_500_gb_month" not in services
    assert "fsx_lustre_persistent2_1000_gb_month" not in services
    nat = services["nat_gateway_gb"]
    assert nat["unit"] == "USD per GB processed by a NAT gateway"
    assert nat["source"] == (
        "AWS Price List API get_products, 2026-11-22, AmazonEC2 regionCode=us-east-1, "
        "productFamily=NAT Gateway, usagetype *NatGateway-Bytes"
    )
    assert services["fsx_lustre_persistent2_250_gb_month"]["source"].endswith(
        "AmazonFSx regionCode=us-east-1, productFamily=Storage, fileSystemType=Lustre, "
        "storageType=SSD, throughputCapacity=250"
    )
    snapshot = json.loads(out.read_text())["snapshot"]["services"]
    assert snapshot["date"] == "2026-11-22"
    assert snapshot["region"] == "us-east-1"
    assert f"kept from the earlier snapshot: {', '.join(SERVICES_NOT_FOUND)}" in snapshot["source"]
    rows = {line.split()[0]: line.split(None, 1)[1] for line in run.out.splitlines() if line}
    assert rows["fsx_lustre_persistent2_500_gb_month"].split() == [
        "-",
        "(2",
        "products",
        "match,",
        "unpriced)",
    ]
    assert rows["kms_key_month"].split() == ["1.0", "(not", "found,", "kept)"]
    assert rows["nat_gateway_gb"].split() == ["0.045", "0.048", "+6.7%"]
    assert f"2 service prices changed, 3 not found ({', '.join(SERVICES_NOT_FOUND)})" in run.out


def test_parse_service_takes_one_product_and_its_first_tier() -> None:
    product = prices.SERVICE_PRODUCTS["s3_standard_gb_month"]
    tiered = service_entry(
        "AmazonS3", "USE2-TimedStorage-ByteHrs", "GB-Mo", [("0", "0.023"), ("51200", "0.022")]
    )
    price, matched = prices.parse_service([tiered], product)
    assert (str(price), matched) == ("0.023", 1)
    other_class = service_entry("AmazonS3", "TimedStorage-SIA-ByteHrs", "GB-Mo", [("0", "0.0125")])
    assert prices.parse_service([other_class], product) == (None, 0)
    assert prices.parse_service([tiered, tiered], product) == (None, 2)
    wrong_unit = service_entry("AmazonS3", "TimedStorage-ByteHrs", "Requests", [("0", "0.1")])
    assert prices.parse_service([wrong_unit], product) == (None, 0)


def test_dry_run_prints_changes_and_writes_nothing(
    real_prices: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    aws, _, _ = stub_aws(real_prices)
    out = tmp_path / "prices.json"

    run = run_ops(capsys, ["prices", "refresh", "--dry-run", "--output", str(out), "--json"], aws)

    assert run.code == 0
    assert not out.exists()
    report = json.loads(run.out)
    assert report["written"] is None
    assert report["changes"] == [{"instanceType": "p5.48xlarge", "old": 55.04, "new": 49.32}]
    assert report["notFound"] == NOT_FOUND
    assert report["spotAvailabilityZones"] == {
        "g4dn.xlarge": "us-east-1b",
        "p5.48xlarge": "us-east-1a",
    }
    assert {"service": "nat_gateway_gb", "old": 0.045, "new": 0.048} in report["serviceChanges"]
    assert {"service": "fsx_lustre_persistent2_250_gb_month", "old": None, "new": 0.21} in (
        report["serviceChanges"]
    )
    assert report["servicesNotFound"] == SERVICES_NOT_FOUND


# ------------------------------------------------------------------ offline: --from karpenter file

KARPENTER_COMMIT = "6fc13b5236fd04fd16ff3f9dc7490d0813994099"
LEFT_OUT = ("m5.large", "p5e.48xlarge")
"""Catalog types the fixture file has no price for."""


def karpenter_file(tmp_path: Path, prices_by_region: dict[str, dict[str, float]]) -> Path:
    """A small copy of karpenter-provider-aws zz_generated.pricing_aws.go, in its layout."""
    lines = [
        "//go:build !ignore_autogenerated",
        "",
        "package pricing",
        "",
        "// generated at 2026-07-20T13:44:30Z for us-east-1",
        "",
        'import ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"',
        "",
        "var InitialOnDemandPricesAWS = map[string]map[ec2types.InstanceType]float64{",
    ]
    for region, table in prices_by_region.items():
        lines += [f"\t// {region}", f'\t"{region}": {{']
        families: dict[str, list[str]] = {}
        for name, usd in sorted(table.items()):
            families.setdefault(name.split(".")[0], []).append(f'"{name}": {usd:.6f}')
        for family, items in families.items():
            lines += [f"\t\t// {family} family", "\t\t" + ", ".join(items) + ","]
        lines.append("\t},")
    lines.append("}")
    path = tmp_path / "zz_generated.pricing_aws.go"
    path.write_text("\n".join(lines) + "\n")
    return path


def fixture_prices(real: dict[str, Any]) -> dict[str, float]:
    table = {n: float(real["instances"][n]) for n in TYPES if n in real["instances"]}
    table = {n: p for n, p in table.items() if n not in LEFT_OUT}
    table["p5.48xlarge"] = 49.32
    table["a1.large"] = 0.051  # not in the catalog: ignored
    return table


def test_refresh_from_a_karpenter_file_rewrites_the_instance_prices_offline(
    real_prices: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = karpenter_file(tmp_path, {"us-east-1": fixture_prices(real_prices)})
    out = tmp_path / "prices.json"
    argv = ["prices", "refresh", "--from", str(source), "--commit", KARPENTER_COMMIT]

    run = run_ops(capsys, [*argv, "--output", str(out)], make_aws())  # no stub: no AWS call

    assert run.code == 0, run.err
    written = json.loads(out.read_text())
    assert written["instances"]["p5.48xlarge"] == 49.32
    assert written["instances"]["g4dn.xlarge"] == real_prices["instances"]["g4dn.xlarge"]
    assert "a1.large" not in written["instances"]
    for name in LEFT_OUT:  # never kept from another source: unpriced, and said so
        assert name not in written["instances"]
    assert written["snapshot"]["instances"] == {
        "date": "2026-07-20",
        "region": "us-east-1",
        "source": (
            "aws/karpenter-provider-aws pkg/providers/pricing/zz_generated.pricing_aws.go "
            "(InitialOnDemandPricesAWS, header 'generated at 2026-07-20T13:44:30Z for "
            f"us-east-1', commit {KARPENTER_COMMIT}); Linux, shared tenancy, on-demand, USD/hour"
        ),
    }
    assert written["services"] == real_prices["services"]
    assert out.read_text() == json.dumps(written, indent=2) + "\n"
    assert "2 not in the file (unpriced: m5.large, p5e.48xlarge)" in run.out


def test_refresh_from_a_karpenter_file_reports_changes_as_json(
    real_prices: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = karpenter_file(tmp_path, {"us-east-1": fixture_prices(real_prices)})
    run = run_ops(capsys, ["prices", "refresh", "--from", str(source), "--dry-run", "--json"])
    assert run.code == 0, run.err
    report = json.loads(run.out)
    assert report["written"] is None
    assert report["notFound"] == list(LEFT_OUT)
    assert {"instanceType": "p5.48xlarge", "old": 55.04, "new": 49.32} in report["changes"]
    assert {"instanceType": "m5.large", "old": 0.096, "new": None} in report["changes"]


def test_refresh_from_a_karpenter_file_takes_another_region_when_the_file_has_it(
    real_prices: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = karpenter_file(
        tmp_path,
        {"us-east-1": fixture_prices(real_prices), "eu-west-1": {"g5.xlarge": 1.123}},
    )
    out = tmp_path / "prices.json"
    argv = ["prices", "refresh", "--from", str(source), "--region", "eu-west-1"]
    run = run_ops(capsys, [*argv, "--output", str(out)])
    assert run.code == 0, run.err
    written = json.loads(out.read_text())
    assert written["instances"] == {"g5.xlarge": 1.123}
    assert written["snapshot"]["instances"]["region"] == "eu-west-1"


def test_refresh_from_a_karpenter_file_refuses_a_region_it_lacks(
    real_prices: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = karpenter_file(tmp_path, {"us-east-1": fixture_prices(real_prices)})
    run = run_ops(
        capsys, ["prices", "refresh", "--from", str(source), "--region", "eu-west-1", "--dry-run"]
    )
    assert run.code == 2
    assert "has no prices for eu-west-1 (it has: us-east-1)" in run.err


def test_refresh_from_a_file_that_is_not_karpenters_is_an_error(
    real_prices: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bogus = tmp_path / "prices.go"
    bogus.write_text("package pricing\n")
    run = run_ops(capsys, ["prices", "refresh", "--from", str(bogus), "--dry-run"])
    assert run.code == 2
    assert "not a karpenter" in run.err
    run = run_ops(capsys, ["prices", "refresh", "--commit", KARPENTER_COMMIT, "--dry-run"])
    assert run.code == 2
    assert "--commit goes with --from" in run.err
    missing = tmp_path / "absent.go"
    run = run_ops(capsys, ["prices", "refresh", "--from", str(missing), "--dry-run"])
    assert run.code == 2
    assert f"cannot read {missing}: No such file or directory" in run.err


def test_refresh_looks_up_every_service_price_of_the_catalog() -> None:
    from components.catalog import OPTIONAL_SERVICE_PRICE_KEYS, SERVICE_PRICE_KEYS

    assert set(prices.SERVICE_PRODUCTS) == set(SERVICE_PRICE_KEYS) | set(
        OPTIONAL_SERVICE_PRICE_KEYS
    )
    assert set(SERVICE_RESPONSES) == set(prices.SERVICE_PRODUCTS)
