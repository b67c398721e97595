"""`ops preflight`: EC2 data from moto, Service Quotas and EKS versions through botocore Stubber.

moto answers the instance type offerings and DescribeInstanceTypes from AWS's own data. It has no
EC2 vCPU quotas (its Service Quotas only knows `vpc`), no capacity reservations and no
DescribeClusterVersions: those come from Stubbers (or `stub_operation` for the one EC2 call).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from botocore.stub import Stubber
from moto import mock_aws

from components import versions
from scripts.ops.aws import Aws
from scripts.ops.preflight import stack_pools
from tests.conftest import ROOT
from tests.scripts.test_ops_support import isolate_aws_env, make_aws, run_ops, stub_operation

PROD_NEEDS = {"L-1216C47A": 24, "L-3819A6DF": 32, "L-417A185B": 768, "L-DB2E81BA": 48}
"""vCPUs the prod stack needs at max size per quota code (checked below against the catalog)."""
RESERVATION = "cr-0123456789abcdef0"


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_aws_env(monkeypatch, tmp_path)


@pytest.fixture(scope="module")
def _moto() -> Iterator[None]:
    """One moto EC2 backend for the module: the tests only read AWS's instance data."""
    with mock_aws():
        yield


@pytest.fixture
def aws(_moto: None) -> Aws:
    return make_aws()


def quota(code: str, value: float) -> dict[str, Any]:
    return {"Quota": {"ServiceCode": "ec2", "QuotaCode": code, "Value": value, "Unit": "None"}}


def stub_quotas(aws: Aws, values: dict[str, float]) -> Stubber:
    stubber = Stubber(aws.client("service-quotas"))
    for code in sorted(values):
        stubber.add_response(
            "get_service_quota",
            quota(code, values[code]),
            expected_params={"ServiceCode": "ec2", "QuotaCode": code},
        )
    stubber.activate()
    return stubber


def addon_builds(version: str, builds: list[str], default: str | None) -> dict[str, Any]:
    return {
        "addons": [
            {
                "addonName": "x",
                "addonVersions": [
                    {
                        "addonVersion": build,
                        "compatibilities": [
                            {"clusterVersion": version, "defaultVersion": build == default}
                        ],
                    }
                    for build in builds
                ],
            }
        ]
    }


def stub_eks(
    aws: Aws,
    version: str = "1.36",
    status: str = "STANDARD_SUPPORT",
    stack: str = "prod",
    offered: dict[str, list[str]] | None = None,
) -> Stubber:
    """DescribeClusterVersions, then DescribeAddonVersions for each add-on of `stack`: by default
    each offers its pinned build (or, unpinned, one default build)."""
    from scripts.ops.common import load_stack
    from scripts.ops.preflight import stack_addons

    stubber = Stubber(aws.client("eks"))
    versions = (
        []
        if status == "MISSING"
        else [
            {
                "clusterVersion": version,
                "clusterType": "eks",
                "versionStatus": status,
                "status": status.lower().replace("_", "-"),
                "releaseDate": datetime(2026, 6, 2),
                "endOfStandardSupportDate": datetime(2027, 8, 2),
                "endOfExtendedSupportDate": datetime(2028, 8, 2),
            }
        ]
    )
    stubber.add_response(
        "describe_cluster_versions",
        {"clusterVersions": versions},
        expected_params={"clusterVersions": [version]},
    )
    if status != "MISSING":
        for name, pinned in stack_addons(load_stack(stack)).items():
            builds = (offered or {}).get(name) or [pinned or "v1.0.0-eksbuild.1"]
            stubber.add_response(
                "describe_addon_versions",
                addon_builds(version, builds, default=builds[-1]),
                expected_params={"addonName": name, "kubernetesVersion": version},
            )
    stubber.activate()
    return stubber


def config_copy(tmp_path: Path, stack: str, edit: Any) -> Path:
    """A copy of a shipped stack file with `edit(config)` applied."""
    data = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())
    edit(data["config"])
    path = tmp_path / f"Pulumi.{stack}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_prod_needs_match_the_catalog() -> None:
    from components.catalog import vcpus_by_quota
    from scripts.ops.common import load_stack

    pools = stack_pools(load_stack("prod"))
    assert [p.name for p in pools] == ["system", "h100-train", "t4-infer", "batch-spot"]
    needs = vcpus_by_quota([(p.capacity_type, list(p.types), p.max_size) for p in pools])
    assert needs == PROD_NEEDS


def test_prod_is_go_against_moto_data(aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    quotas = stub_quotas(aws, {code: need * 2 for code, need in PROD_NEEDS.items()})
    eks = stub_eks(aws)

    run = run_ops(capsys, ["preflight", "prod"], aws)

    assert run.code == 0, run.out + run.err
    quotas.assert_no_pending_responses()
    eks.assert_no_pending_responses()
    efa_line = next(line for line in run.out.splitlines() if line.startswith("efa"))
    assert "h100-train: p5.48xlarge" in efa_line
    assert "EFA on 32 network cards" in efa_line
    assert "RESULT: go" in run.out
    assert "L-417A185B Running On-Demand P instances" in run.out
    assert "need 768 vCPUs at max size (h100-train 768), quota 1,536" in run.out
    assert run.err == ""


def test_prod_json_lists_every_check(aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    stub_quotas(aws, {code: need for code, need in PROD_NEEDS.items()})  # exactly enough
    stub_eks(aws)

    run = run_ops(capsys, ["preflight", "prod", "--json"], aws)

    assert run.code == 0
    document = json.loads(run.out)
    assert document["result"] == "go"
    assert document["region"] == "us-east-1"
    checks = {(c["check"], c["subject"]): c for c in document["checks"]}
    assert checks[("efa", "h100-train: p5.48xlarge")] == {
        "check": "efa",
        "subject": "h100-train: p5.48xlarge",
        "result": "go",
        "detail": "EFA on 32 network cards",
    }
    # Every pool type is checked in each of its AZs; the EFA pool lives in the first AZ only.
    assert checks[("offered", "h100-train: p5.48xlarge")]["detail"] == "in us-east-1a"
    assert checks[("offered", "t4-infer: g4dn.xlarge")]["result"] == "go"
    assert {c["subject"].split()[0] for c in document["checks"] if c["check"] == "quota"} == set(
        PROD_NEEDS
    )
    assert checks[("eks-version", "Kubernetes 1.36")]["detail"] == (
        "standard support until 2027-08-02"
    )


def test_a_quota_below_the_need_is_no_go(aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    values = {code: need * 2 for code, need in PROD_NEEDS.items()}
    values["L-417A185B"] = 192  # room for one p5.48xlarge, the pool may grow to four
    stub_quotas(aws, values)
    stub_eks(aws)

    run = run_ops(capsys, ["preflight", "prod"], aws)

    assert run.code == 1
    quota_line = next(line for line in run.out.splitlines() if "L-417A185B" in line)
    assert "no-go" in quota_line
    assert "quota 192: request an increase to 768" in quota_line
    assert "RESULT: no-go" in run.out


def test_a_quota_without_applied_value_falls_back_to_the_default(
    aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    stubber = Stubber(aws.client("service-quotas"))
    for code in sorted(PROD_NEEDS):
        params = {"ServiceCode": "ec2", "QuotaCode": code}
        if code == "L-417A185B":
            stubber.add_client_error(
                "get_service_quota", "NoSuchResourceException", expected_params=params
            )
            stubber.add_response(
                "get_aws_default_service_quota", quota(code, 0), expected_params=params
            )
        else:
            stubber.add_response("get_service_quota", quota(code, 1000), expected_params=params)
    stubber.activate()
    stub_eks(aws)

    run = run_ops(capsys, ["preflight", "prod", "--json"], aws)

    assert run.code == 1
    stubber.assert_no_pending_responses()
    check = next(c for c in json.loads(run.out)["checks"] if c["subject"].startswith("L-417A185B"))
    assert check["result"] == "no-go"
    assert "default quota 0" in check["detail"]


def _with_reservation(config: dict[str, Any]) -> None:
    config["gpu-platform:gpuPools"][0]["capacityReservationId"] = RESERVATION


def test_a_missing_reservation_is_no_go(
    aws: Aws, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = config_copy(tmp_path, "prod", _with_reservation)
    stub_quotas(aws, {code: need for code, need in PROD_NEEDS.items()})
    stub_eks(aws)
    sent = stub_operation(
        aws.client("ec2"),
        "DescribeCapacityReservations",
        error_code="InvalidCapacityReservationId.NotFound",
    )

    run = run_ops(capsys, ["preflight", "prod", "--config-file", str(path), "--json"], aws)

    assert run.code == 1
    assert sent.calls == [{"CapacityReservationIds": [RESERVATION]}]
    check = next(c for c in json.loads(run.out)["checks"] if c["check"] == "reservation")
    assert check == {
        "check": "reservation",
        "subject": f"h100-train: {RESERVATION}",
        "result": "no-go",
        "detail": "no such capacity reservation in us-east-1",
    }
    # The other checks still ran against moto.
    efa = next(c for c in json.loads(run.out)["checks"] if c["check"] == "efa")
    assert efa["detail"] == "EFA on 32 network cards"


def _reservation(**overrides: Any) -> dict[str, Any]:
    reservation = {
        "CapacityReservationId": RESERVATION,
        "InstanceType": "p5.48xlarge",
        "AvailabilityZone": "us-east-1a",
        "State": "active",
        "TotalInstanceCount": 4,
        "ReservationType": "default",
        "StartDate": datetime(2026, 11, 1, 11, 30),
        "EndDate": datetime(2026, 12, 1, 11, 30),
    }
    return {"CapacityReservations": [{**reservation, **overrides}]}


@pytest.mark.parametrize(
    ("overrides", "result", "detail"),
    [
        ({}, "go", "active default reservation, 4 x p5.48xlarge in us-east-1a"),
        ({"State": "expired"}, "no-go", "state is expired (needs active or scheduled)"),
        ({"InstanceType": "p4d.24xlarge"}, "no-go", "it reserves p4d.24xlarge"),
        (
            {"AvailabilityZone": "us-east-1b"},
            "no-go",
            "it is in us-east-1b, the pool in us-east-1a",
        ),
    ],
)
def test_reservation_state_type_and_az(
    aws: Aws,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    overrides: dict[str, Any],
    result: str,
    detail: str,
) -> None:
    path = config_copy(tmp_path, "prod", _with_reservation)
    stub_quotas(aws, {code: need for code, need in PROD_NEEDS.items()})
    stub_eks(aws)
    stub_operation(aws.client("ec2"), "DescribeCapacityReservations", _reservation(**overrides))

    run = run_ops(capsys, ["preflight", "prod", "--config-file", str(path), "--json"], aws)

    check = next(c for c in json.loads(run.out)["checks"] if c["check"] == "reservation")
    assert check["result"] == result
    assert detail in check["detail"]
    assert run.code == (0 if result == "go" else 1)


def test_a_type_not_offered_in_the_pool_az_is_no_go(
    aws: Aws, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def h200_in_b(config: dict[str, Any]) -> None:
        config["gpu-platform:gpuPools"][1] = {
            "name": "h200-spot",
            "capacityType": "SPOT",
            "instanceTypes": ["p5en.48xlarge"],
            "availabilityZones": ["us-east-1b"],
            "maxSize": 1,
        }

    path = config_copy(tmp_path, "staging", h200_in_b)
    stub_quotas(aws, {"L-1216C47A": 100, "L-3819A6DF": 1000, "L-7212CCBC": 1000})
    stub_eks(aws)

    run = run_ops(capsys, ["preflight", "staging", "--config-file", str(path), "--json"], aws)

    assert run.code == 1
    checks = {(c["check"], c["subject"]): c for c in json.loads(run.out)["checks"]}
    # moto's (AWS's) offerings: p5en.48xlarge is in us-east-1a and us-east-1c, not 1b.
    assert checks[("offered", "h200-spot: p5en.48xlarge")] == {
        "check": "offered",
        "subject": "h200-spot: p5en.48xlarge",
        "result": "no-go",
        "detail": "not offered in us-east-1b",
    }


@pytest.mark.parametrize(
    ("status", "result", "code"),
    [("EXTENDED_SUPPORT", "warn", 0), ("MISSING", "no-go", 1)],
)
def test_eks_version_support(
    aws: Aws, capsys: pytest.CaptureFixture[str], status: str, result: str, code: int
) -> None:
    stub_quotas(aws, {code: need for code, need in PROD_NEEDS.items()})
    stub_eks(aws, status=status)

    run = run_ops(capsys, ["preflight", "prod", "--json"], aws)

    check = next(c for c in json.loads(run.out)["checks"] if c["check"] == "eks-version")
    assert check["result"] == result
    assert run.code == code


def test_region_defaults_to_the_stack_region(capsys: pytest.CaptureFixture[str]) -> None:
    """Without an injected session the command builds one in the stack's aws:region."""
    from scripts.ops import preflight

    seen: list[str] = []

    def fake(aws: Aws, stack: str, config: Any) -> Any:
        seen.append(aws.region)
        from scripts.ops.common import Report

        return Report(data={}, lines=["ok"])

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(preflight, "run_preflight", fake)
        assert run_ops(capsys, ["preflight", "dev"]).code == 0
        assert run_ops(capsys, ["preflight", "dev", "--region", "eu-west-1"]).code == 0
    assert seen == ["us-east-1", "eu-west-1"]


def test_addon_builds_are_checked_against_what_eks_offers(
    aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    quotas = stub_quotas(aws, {code: need * 2 for code, need in PROD_NEEDS.items()})
    # kube-proxy's pinned build is not offered; coredns (unpinned for 1.36) gets EKS's default.
    eks = stub_eks(
        aws,
        offered={
            "kube-proxy": ["v1.36.0-eksbuild.9"],
            "coredns": ["v1.14.3-eksbuild.3", "v1.14.6-eksbuild.4"],
        },
    )

    run = run_ops(capsys, ["preflight", "prod"], aws)

    quotas.assert_no_pending_responses()
    eks.assert_no_pending_responses()
    assert run.code == 1
    lines = {line.split()[1]: line for line in run.out.splitlines() if line.startswith("addon ")}
    assert "no-go" in lines["kube-proxy"]
    assert "v1.36.0-eksbuild.14 is not offered (offered: v1.36.0-eksbuild.9)" in lines["kube-proxy"]
    assert "unpinned: EKS installs its default build v1.14.6-eksbuild.4" in lines["coredns"]
    assert "aws-fsx-csi-driver" in lines  # prod runs the hot tier
    # Node auto repair needs the node monitoring agent: its build is checked like the rest.
    assert "eks-node-monitoring-agent" in lines
    assert lines["eks-node-monitoring-agent"].split()[4] == "go"
    # Prod mounts buckets with Mountpoint for Amazon S3: its add-on build is checked too.
    assert "aws-mountpoint-s3-csi-driver" in lines
    assert "unpinned: EKS installs its default build" in lines["aws-mountpoint-s3-csi-driver"]


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_the_node_monitoring_agent_is_checked_exactly_when_there_are_gpu_pools(stack: str) -> None:
    from scripts.ops.common import load_stack
    from scripts.ops.preflight import stack_addons

    config = load_stack(stack)
    assert config.gpu_pools
    pinned = versions.EKS_ADDONS[config.kubernetes_version].node_monitoring_agent
    assert stack_addons(config)["eks-node-monitoring-agent"] == pinned
    without = config.model_copy(update={"gpu_pools": []})
    assert "eks-node-monitoring-agent" not in stack_addons(without)


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_the_mountpoint_add_on_is_checked_exactly_when_it_is_on(stack: str) -> None:
    from scripts.ops.common import load_stack
    from scripts.ops.preflight import stack_addons

    config = load_stack(stack)
    on = config.storage.mountpoint.enabled
    assert on == (stack == "prod")  # the shipped stacks
    pinned = versions.EKS_ADDONS[config.kubernetes_version].mountpoint_s3_csi_driver
    assert ("aws-mountpoint-s3-csi-driver" in stack_addons(config)) == on
    if on:
        assert stack_addons(config)["aws-mountpoint-s3-csi-driver"] == pinned


def test_existing_vpc_subnets_are_checked_for_vpc_az_and_free_addresses(
    aws: Aws, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.90.0.0/16")["Vpc"]["VpcId"]
    roomy = ec2.create_subnet(VpcId=vpc, CidrBlock="10.90.0.0/18", AvailabilityZone="us-east-1a")
    tiny = ec2.create_subnet(VpcId=vpc, CidrBlock="10.90.64.0/26", AvailabilityZone="us-east-1b")
    subnets = {
        "us-east-1a": roomy["Subnet"]["SubnetId"],
        "us-east-1b": tiny["Subnet"]["SubnetId"],
    }

    def existing(config: dict[str, Any]) -> None:
        config["gpu-platform:existingVpc"] = {"vpcId": vpc, "privateSubnetIds": subnets}

    path = config_copy(tmp_path, "dev", existing)
    stub_quotas(aws, dict.fromkeys(("L-1216C47A", "L-3819A6DF", "L-DB2E81BA"), 10_000))
    stub_eks(aws, stack="dev")

    run = run_ops(capsys, ["preflight", "dev", "--config-file", str(path)], aws)

    lines = [line for line in run.out.splitlines() if line.startswith("subnet ")]
    assert len(lines) == 2, run.out + run.err
    assert "us-east-1a" in lines[0] and " go " in lines[0]
    assert "us-east-1b" in lines[1] and "no-go" in lines[1] and "free addresses" in lines[1]
    assert run.code == 1


def test_existing_vpc_pod_subnets_take_the_pods_and_leave_node_addresses_to_the_node_subnets(
    aws: Aws,
) -> None:
    from components.resolve.pools import footprints
    from components.resolve.sizing import ip_demand_per_az, pod_ip_demand, required_addresses
    from scripts.ops.preflight import check_existing_subnets
    from tests.support import config

    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.90.0.0/16")["Vpc"]["VpcId"]
    ec2.associate_vpc_cidr_block(VpcId=vpc, CidrBlock="100.64.0.0/16")

    def subnet(cidr: str, az: str) -> str:
        return ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=az)["Subnet"][
            "SubnetId"
        ]

    # Node subnets of /26: too small for dev's fleet with pods, enough for its nodes alone.
    nodes = {"us-east-1a": subnet("10.90.0.0/26", "us-east-1a")}
    nodes["us-east-1b"] = subnet("10.90.0.64/26", "us-east-1b")
    pods = {"us-east-1a": subnet("100.64.0.0/18", "us-east-1a")}
    pods["us-east-1b"] = subnet("100.64.64.0/27", "us-east-1b")
    existing = {"vpcId": vpc, "privateSubnetIds": nodes}

    without = check_existing_subnets(aws, config("dev", existingVpc=existing))
    assert [c.result for c in without] == ["no-go", "no-go"]

    stack = config("dev", existingVpc={**existing, "podSubnetIds": pods})
    checks = check_existing_subnets(aws, stack)
    assert [(c.check, c.subject.split()[0], c.result) for c in checks] == [
        ("subnet", "us-east-1a", "go"),
        ("subnet", "us-east-1b", "go"),
        ("pod-subnet", "us-east-1a", "go"),
        ("pod-subnet", "us-east-1b", "no-go"),
    ]
    azs = list(stack.availability_zones)
    need = required_addresses(
        ip_demand_per_az(
            footprints(stack.system_pool, stack.gpu_pools, azs, stack.region), azs, pod_ip_demand
        )["us-east-1b"]
    )
    assert f"its pods needs {need:,} at maximum size" in checks[3].detail
