"""Plans against a base: the ops a real preview gives, replacements and their reasons, dangerous
changes blocked, the cost delta, and a stack export read like a plan document."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from scripts.plan.__main__ import main, plan
from scripts.plan.diff import apply_base, base_from_data, load_rules
from scripts.plan.runner import PlanError
from scripts.plan.stages import changes as changes_stage
from tests.conftest import ROOT

VPC = "aws:ec2/vpc:Vpc"
SUBNET = "aws:ec2/subnet:Subnet"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
LUSTRE = "aws:fsx/lustreFileSystem:LustreFileSystem"
URN = "urn:pulumi:s::p::"


# --------------------------------------------------------------------------- synthetic documents


def _state(
    kind: str,
    name: str,
    inputs: dict[str, Any],
    deps: dict[str, list[str]] | None = None,
    custom: bool = True,
) -> dict[str, Any]:
    deps = deps or {}
    return {
        "urn": f"{URN}{kind}::{name}",
        "type": kind,
        "custom": custom,
        "parent": "",
        "inputs": inputs,
        "dependencies": sorted({d for values in deps.values() for d in values}),
        "provider": "",
        "propertyDependencies": deps,
    }


def _document(*states: dict[str, Any]) -> dict[str, Any]:
    return {"steps": [{"op": "create", "urn": s["urn"], "newState": s} for s in states]}


def _network(max_size: int, subnet_cidr: str = "10.40.0.0/22", vpc_cidr: str = "10.40.0.0/16"):
    vpc = _state(VPC, "vpc", {"cidrBlock": vpc_cidr, "tags": {"team": "a"}})
    subnet = _state(
        SUBNET,
        "private-a",
        {"vpcId": "vpc-1", "cidrBlock": subnet_cidr, "availabilityZone": "us-east-1a"},
        {"vpcId": [vpc["urn"]]},
    )
    template = _state(LAUNCH_TEMPLATE, "pool-lt", {"userData": "x"})
    group = _state(
        NODE_GROUP,
        "pool-ng",
        {
            "instanceTypes": ["g4dn.xlarge"],
            "capacityType": "ON_DEMAND",
            "subnetIds": ["subnet-1"],
            "scalingConfig": {"minSize": 0, "maxSize": max_size, "desiredSize": 0},
            "launchTemplate": {"id": "lt-1", "version": "1"},
        },
        {"subnetIds": [subnet["urn"]], "launchTemplate": [template["urn"]]},
    )
    return [vpc, subnet, template, group]


def _ops(document: dict[str, Any]) -> dict[str, str]:
    return {s["urn"].rsplit("::", 1)[-1]: s["op"] for s in document["steps"]}


def _step(document: dict[str, Any], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [
        s
        for s in document["steps"]
        if (s.get("newState") or s.get("oldState"))["type"] == kind
        and (name is None or s["urn"].endswith("::" + name))
    ]
    assert len(found) == 1, [s["urn"] for s in found]
    return found[0]


def test_growing_a_pool_within_its_subnets_leaves_every_subnet_same():
    base = base_from_data(_document(*_network(4)))
    new = _document(*_network(5))
    apply_base(new, base)
    ops = _ops(new)
    assert ops["private-a"] == "same" and ops["vpc"] == "same"
    group = _step(new, NODE_GROUP)
    assert group["op"] == "update"
    assert group["diffReasons"] == ["scalingConfig"] and "replaceReasons" not in group
    assert new["changeSummary"] == {"same": 3, "update": 1}
    assert group["oldState"]["inputs"]["scalingConfig"]["maxSize"] == 4


def test_a_subnet_that_moves_is_replaced_and_replaces_what_sits_in_it():
    base = base_from_data(_document(*_network(4)))
    new = _document(*_network(5, subnet_cidr="10.40.0.0/21"))
    apply_base(new, base)
    subnet = _step(new, SUBNET)
    assert subnet["op"] == "replace" and subnet["replaceReasons"] == ["cidrBlock"]
    # The node group's subnetIds are unknown until the new subnet exists: subnetIds forces new.
    group = _step(new, NODE_GROUP)
    assert group["op"] == "replace" and group["replaceReasons"] == ["subnetIds"]


def test_a_new_vpc_cascades_through_property_dependencies():
    base = base_from_data(_document(*_network(4)))
    new = _document(*_network(4, vpc_cidr="10.41.0.0/16"))
    apply_base(new, base)
    assert _step(new, VPC)["replaceReasons"] == ["cidrBlock"]
    assert _step(new, SUBNET)["replaceReasons"] == ["vpcId"]  # the literal vpcId did not change


def test_a_launch_template_version_is_an_update_its_id_a_replacement():
    base = base_from_data(_document(*_network(4)))
    states = _network(4)
    states[3]["inputs"]["launchTemplate"] = {"id": "lt-1", "version": "2"}
    new = _document(*states)
    apply_base(new, base)
    assert _step(new, NODE_GROUP)["op"] == "update"
    states[3]["inputs"]["launchTemplate"] = {"id": "lt-2", "version": "1"}
    new = _document(*states)
    apply_base(new, base)
    assert _step(new, NODE_GROUP)["replaceReasons"] == ["launchTemplate"]


def test_a_resource_the_program_no_longer_registers_is_deleted_dependents_first():
    base = base_from_data(_document(*_network(4)))
    vpc, subnet, _, _ = _network(4)
    new = _document(vpc, subnet)
    apply_base(new, base)
    deletes = [s for s in new["steps"] if s["op"] == "delete"]
    assert [s["urn"].rsplit("::", 1)[-1] for s in deletes] == ["pool-ng", "pool-lt"]
    assert all("newState" not in s and s["oldState"]["urn"] == s["urn"] for s in deletes)
    assert new["changeSummary"] == {"delete": 2, "same": 2}


def test_shrinking_a_lustre_file_system_replaces_it_growing_it_does_not():
    lustre = _state(LUSTRE, "fs", {"storageCapacity": 2400, "deploymentType": "PERSISTENT_2"})
    base = base_from_data(_document(lustre))
    for capacity, op in ((4800, "update"), (1200, "replace")):
        grown = copy.deepcopy(lustre)
        grown["inputs"]["storageCapacity"] = capacity
        new = _document(grown)
        apply_base(new, base)
        assert new["steps"][0]["op"] == op, capacity


def test_provider_generated_names_in_an_export_are_not_a_change():
    group = _network(4)[3]
    exported = copy.deepcopy(group)
    exported["inputs"]["nodeGroupName"] = "pool-ng-3f2a1b"
    exported["inputs"]["__defaults"] = ["nodeGroupName"]
    base = base_from_data({"deployment": {"resources": [exported]}})
    new = _document(group)
    apply_base(new, base)
    assert new["steps"][0]["op"] == "same"


def test_a_custom_type_without_replace_rules_is_an_error_not_an_update():
    thing = _state("aws:mq/broker:Broker", "mq", {"engineType": "ActiveMQ"})
    base = base_from_data(_document(thing))
    changed = copy.deepcopy(thing)
    changed["inputs"]["engineType"] = "RabbitMQ"
    with pytest.raises(PlanError, match="no replace rules for resource type aws:mq/broker:Broker"):
        apply_base(_document(changed), base)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "not a JSON object"),
        ({"version": 3}, "neither a preview document"),
        (
            {"deployment": {"resources": [{"urn": "x"}]}},
            r"deployment\.resources\[0\]\.urn: must be a URN \(urn:pulumi:\.\.\.\) \(got \"x\"\)",
        ),
        (
            {"deployment": {"resources": [{"urn": f"{URN}t::a"}]}},
            r"deployment\.resources\[0\]\.type: must be a resource type token",
        ),
        ({"steps": [{"op": "create"}]}, r"steps\[0\]: has neither newState nor oldState"),
        (
            {
                "steps": [
                    {"op": "create", "newState": {"urn": f"{URN}t::a", "type": "t", "parent": True}}
                ]
            },
            r"steps\[0\]\.newState\.parent: must be a string \(got true\)",
        ),
        (
            {
                "steps": [
                    {
                        "op": "create",
                        "newState": {"urn": f"{URN}t::a", "type": "t", "propertyDependencies": -1},
                    }
                ]
            },
            r"steps\[0\]\.newState\.propertyDependencies: must be an object of URN lists",
        ),
    ],
)
def test_a_bad_base_is_a_plan_error(data: Any, message: str):
    with pytest.raises(PlanError, match=message):
        base_from_data(data, "base.json")


def test_a_base_step_with_only_an_old_state_is_a_deletion_not_a_resource():
    deleted = {"urn": f"{URN}t::a", "type": "t"}
    assert base_from_data({"steps": [{"op": "delete", "oldState": deleted}]}).resources == {}


# --------------------------------------------------------------------------- blocking and cost


def _replaced(*states: dict[str, Any]) -> dict[str, Any]:
    return {
        "steps": [
            {
                "op": "replace",
                "urn": s["urn"],
                "newState": s,
                "oldState": s,
                "replaceReasons": ["x"],
            }
            for s in states
        ]
    }


def test_a_node_group_is_dangerous_only_when_it_holds_a_reservation(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(changes_stage, "ALLOW_DIR", tmp_path)
    plain = _network(4)
    report = changes_stage.changes_report(_replaced(plain[2], plain[3]), "s")
    assert report["blocked"] == [] and len(report["changes"]) == 2
    reserved = _network(4)
    reserved[2]["inputs"]["capacityReservationSpecification"] = {
        "capacityReservationTarget": {"capacityReservationId": "cr-1"}
    }
    report = changes_stage.changes_report(_replaced(reserved[2], reserved[3]), "s")
    assert [b["type"] for b in report["blocked"]] == [NODE_GROUP]
    assert "capacity reservation" in report["blocked"][0]["destroys"]
    block = _network(4)
    block[3]["inputs"]["capacityType"] = "CAPACITY_BLOCK"
    report = changes_stage.changes_report(_replaced(block[3]), "s")
    assert [b["type"] for b in report["blocked"]] == [NODE_GROUP]


def test_the_allow_list_lets_a_named_urn_through_and_nothing_else(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(changes_stage, "ALLOW_DIR", tmp_path)
    vpc, subnet, _, _ = _network(4)
    (tmp_path / "s.json").write_text(json.dumps({"allowReplace": [vpc["urn"]]}))
    report = changes_stage.changes_report(_replaced(vpc, subnet), "s")
    assert [b["urn"] for b in report["blocked"]] == [subnet["urn"]]
    assert [a["urn"] for a in report["allowed"]] == [vpc["urn"]]
    # allowReplace does not allow a deletion of the same URN.
    deleted = {"steps": [{"op": "delete", "urn": vpc["urn"], "oldState": vpc}]}
    assert [b["op"] for b in changes_stage.changes_report(deleted, "s")["blocked"]] == ["delete"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "cannot read change allow list"),
        ("[]", "expected an object"),
        ('{"allowReplace": "urn"}', "allowReplace must be a list of URNs"),
        ('{"allow": []}', "unknown key allow"),
    ],
)
def test_a_bad_allow_list_is_a_plan_error(tmp_path: Path, content: str, message: str):
    (tmp_path / "s.json").write_text(content)
    with pytest.raises(PlanError, match=message):
        changes_stage.allow_list("s", tmp_path)


def test_the_summary_line_counts_blocks_and_the_worst_case_delta():
    data = {
        "summary": {"create": 10, "update": 5, "replace": 2, "delete": 0, "same": 3},
        "blocked": [{"op": "replace"}, {"op": "replace"}],
        "cost": {"totals": {"worst": {"before": 2576.0, "after": 4508.0, "delta": 1932.0}}},
    }
    assert changes_stage.summary_line(data) == (
        "+10 ~5 ±2 -0; 2 replacements blocked; worst case +$1,932/month (+75%)"
    )
    data["blocked"] = [{"op": "delete"}]
    data["cost"] = None
    assert changes_stage.summary_line(data) == "+10 ~5 ±2 -0; 1 deletion blocked"


# --------------------------------------------------------------------------- the real program


def _config(tmp_path: Path, stack: str, edit: Any) -> Path:
    data = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())
    edit(data["config"])
    path = tmp_path / f"Pulumi.{stack}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def dev_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("base") / "dev.json"
    assert main(["--stack", "dev", "--json", str(path), "--quiet"]) == 0
    return path


@pytest.fixture(scope="module")
def prod_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("base") / "prod.json"
    assert main(["--stack", "prod", "--json", str(path), "--quiet"]) == 0
    return path


def _pool(config: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in config["gpu-platform:gpuPools"] if p["name"] == name)


def test_the_same_config_against_its_own_plan_is_all_same(dev_base: Path):
    document, results = plan("dev", base=dev_base)
    assert set(document["changeSummary"]) == {"same"}
    assert not results["changes"][1].blocking


def test_with_vpc_cidr_changed_the_vpc_is_replaced_naming_cidr_block(
    tmp_path: Path, dev_base: Path
):
    config = _config(tmp_path, "dev", lambda c: c.update({"gpu-platform:vpcCidr": "10.41.0.0/16"}))
    out = tmp_path / "plan.json"
    code = main(
        [
            "--stack",
            "dev",
            "--config-file",
            str(config),
            "--base",
            str(dev_base),
            "--json",
            str(out),
        ]
    )
    assert code == 1
    document = json.loads(out.read_text())
    vpc = _step(document, VPC)
    assert vpc["op"] == "replace" and "cidrBlock" in vpc["replaceReasons"]
    assert vpc["oldState"]["inputs"]["cidrBlock"] == "10.40.0.0/16"
    assert vpc["urn"] in {b["urn"] for b in document["changes"]["blocked"]}


def test_changing_a_node_groups_instance_types_replaces_it(tmp_path: Path, dev_base: Path):
    def one_type(config: dict[str, Any]) -> None:
        _pool(config, "t4-spot")["gpuNeed"]["gpuModel"] = "L4"

    document, _ = plan("dev", _config(tmp_path, "dev", one_type), base=dev_base)
    group = _step(document, NODE_GROUP, "pool-t4-spot-ng")
    assert group["op"] == "replace" and "instanceTypes" in group["replaceReasons"]
    assert len(group["newState"]["inputs"]["instanceTypes"]) == 1


def test_a_tag_change_is_an_update(tmp_path: Path, dev_base: Path):
    def retag(config: dict[str, Any]) -> None:
        config["gpu-platform:tags"]["cost-center"] = "rnd-0001"

    document, results = plan("dev", _config(tmp_path, "dev", retag), base=dev_base)
    vpc = _step(document, VPC)
    assert vpc["op"] == "update" and vpc["diffReasons"] == ["tags"]
    assert "replace" not in document["changeSummary"]
    assert document["changeSummary"]["update"] > 10
    assert not results["changes"][1].blocking


def test_an_fsx_deployment_setting_is_a_replacement_and_blocked(tmp_path: Path):
    base = tmp_path / "staging.json"
    assert main(["--stack", "staging", "--json", str(base), "--quiet"]) == 0

    def faster(config: dict[str, Any]) -> None:
        config["gpu-platform:storage"]["fsx"]["perUnitStorageThroughput"] = 250

    out = tmp_path / "plan.json"
    config = _config(tmp_path, "staging", faster)
    args = ["--stack", "staging", "--config-file", str(config), "--base", str(base)]
    assert main([*args, "--json", str(out), "--quiet"]) == 1
    document = json.loads(out.read_text())
    lustre = _step(document, LUSTRE)
    assert lustre["op"] == "replace" and lustre["replaceReasons"] == ["perUnitStorageThroughput"]
    (blocked,) = [b for b in document["changes"]["blocked"] if b["type"] == LUSTRE]
    assert "file system" in blocked["destroys"]


def test_turning_the_audit_trail_off_is_a_blocked_deletion(tmp_path: Path, prod_base: Path):
    def off(config: dict[str, Any]) -> None:
        config["gpu-platform:audit"] = {"trail": "off"}

    document, results = plan("prod", _config(tmp_path, "prod", off), base=prod_base)
    trail = _step(document, "aws:cloudtrail/trail:Trail")
    assert trail["op"] == "delete"
    (blocked,) = [b for b in document["changes"]["blocked"] if b["urn"] == trail["urn"]]
    assert "audit record" in blocked["destroys"]
    assert results["changes"][1].blocking


def test_removing_a_pool_deletes_its_resources(tmp_path: Path, prod_base: Path):
    def drop(config: dict[str, Any]) -> None:
        config["gpu-platform:gpuPools"] = [
            p for p in config["gpu-platform:gpuPools"] if p["name"] != "batch-spot"
        ]

    document, _ = plan("prod", _config(tmp_path, "prod", drop), base=prod_base)
    deleted = {s["urn"] for s in document["steps"] if s["op"] == "delete"}
    assert any(u.endswith("NodeGroup::pool-batch-spot-ng") for u in deleted), deleted
    # The pool's resources, and the example job that runs on it (it has no pool to go to).
    assert all("batch-spot" in u or u.endswith("example-spot-training") for u in deleted), sorted(
        deleted
    )
    assert document["changeSummary"]["delete"] == len(deleted)
    assert document["changes"]["cost"]["totals"]["worst"]["delta"] < 0


def _export(document: dict[str, Any]) -> dict[str, Any]:
    """A `pulumi stack export` of what a plan document describes, as the engine writes one:
    resources with ids, outputs and `__defaults`, real-looking ids instead of the mocks' ones."""
    resources = []
    for step in document["steps"]:
        state = copy.deepcopy(step["newState"])
        resource = {k: state[k] for k in ("urn", "type", "custom", "parent", "inputs")}
        resource |= {
            "id": "live-" + state["urn"].rsplit("::", 1)[-1] if state["custom"] else "",
            "outputs": state["inputs"],
            "dependencies": state["dependencies"],
            "provider": state["provider"],
            "propertyDependencies": state["propertyDependencies"],
        }
        # Values fed by other resources hold the live ids and ARNs, not the mocks' ones.
        for key, deps in (state.get("propertyDependencies") or {}).items():
            if deps and key in resource["inputs"]:
                resource["inputs"][key] = f"live-value-of-{key}"
        resources.append(resource)
    return {"version": 3, "deployment": {"manifest": {}, "resources": resources}}


@pytest.mark.parametrize(
    "edit",
    [
        lambda c: c.update({"gpu-platform:vpcCidr": "10.41.0.0/16"}),
        lambda c: c["gpu-platform:tags"].update({"owner": "someone-else"}),
        lambda c: _pool(c, "t4-spot")["gpuNeed"].update({"gpuModel": "L4"}),
    ],
    ids=["vpc-cidr", "tags", "instance-types"],
)
def test_an_export_base_gives_the_same_ops_as_a_plan_base(tmp_path: Path, dev_base: Path, edit):
    export = tmp_path / "export.json"
    export.write_text(json.dumps(_export(json.loads(dev_base.read_text()))))
    config = _config(tmp_path, "dev", edit)
    against_plan, _ = plan("dev", config, base=dev_base)
    against_export, _ = plan("dev", config, base=export)
    assert against_export["base"]["kind"] == "export"

    def ops(document: dict[str, Any]) -> dict[str, tuple[str, tuple[str, ...]]]:
        return {s["urn"]: (s["op"], tuple(s.get("replaceReasons", []))) for s in document["steps"]}

    assert ops(against_export) == ops(against_plan)
    assert set(ops(against_plan).values()) != {("same", ())}


def test_growing_a_pool_in_the_real_program_leaves_every_subnet_same(
    tmp_path: Path, dev_base: Path
):
    def grow(config: dict[str, Any]) -> None:
        config["gpu-platform:systemPool"]["maxSize"] += 1

    document, results = plan("dev", _config(tmp_path, "dev", grow), base=dev_base)
    subnets = [s for s in document["steps"] if s["newState"]["type"] == SUBNET]
    assert subnets and all(s["op"] == "same" for s in subnets), [
        (s["urn"], s["op"]) for s in subnets
    ]
    assert document["changeSummary"].get("update") == 1  # the system node group's scaling
    assert not any(result.blocking for _, result in results.values())


def test_growing_past_the_address_ceiling_is_an_error_not_a_re_carve(tmp_path: Path):
    def grow(config: dict[str, Any]) -> None:
        _pool(config, "t4-spot")["maxSize"] += 400

    with pytest.raises(PlanError, match=r"Subnets never move to make room"):
        plan("dev", _config(tmp_path, "dev", grow))


def test_the_rules_file_loads():
    assert load_rules().for_type(VPC) is not None


def test_conditional_rules_from_the_provider_sources():
    ingress = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
    rule = _state(ingress, "r", {"securityGroupId": "sg-1", "cidrIpv4": "10.0.0.0/8", "toPort": 1})
    base = base_from_data(_document(rule))
    ported = copy.deepcopy(rule)
    ported["inputs"]["toPort"] = 2
    new = _document(ported)
    apply_base(new, base)
    assert new["steps"][0]["op"] == "update"
    switched = copy.deepcopy(rule)
    del switched["inputs"]["cidrIpv4"]
    switched["inputs"]["referencedSecurityGroupId"] = "sg-2"
    new = _document(switched)
    apply_base(new, base)
    assert new["steps"][0]["replaceReasons"] == ["cidrIpv4", "referencedSecurityGroupId"]

    endpoint = "aws:ec2/vpcEndpoint:VpcEndpoint"
    for kind, op in (("Interface", "update"), ("Gateway", "replace")):
        old = _state(endpoint, "e", {"vpcEndpointType": kind, "privateDnsEnabled": False})
        new_state = copy.deepcopy(old)
        new_state["inputs"]["privateDnsEnabled"] = True
        new = _document(new_state)
        apply_base(new, base_from_data(_document(old)))
        assert new["steps"][0]["op"] == op, kind


def test_a_change_the_api_server_refuses_in_place_is_flagged(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(changes_stage, "ALLOW_DIR", tmp_path)
    kind = "kubernetes:trainer.kubeflow.org/v1alpha1:TrainJob"
    job = _state(kind, "job", {"metadata": {"name": "j"}, "spec": {"trainer": {"numNodes": 2}}})
    base = base_from_data(_document(job))
    wider = copy.deepcopy(job)
    wider["inputs"]["spec"]["trainer"]["numNodes"] = 4
    new = _document(wider)
    apply_base(new, base)
    step = new["steps"][0]
    assert step["op"] == "update" and step["immutableChanges"] == ["spec.trainer"]
    report = changes_stage.changes_report(new, "s")
    assert [r["paths"] for r in report["refusedUpdates"]] == [["spec.trainer"]]
    renamed = copy.deepcopy(job)
    renamed["inputs"]["metadata"]["name"] = "k"
    new = _document(renamed)
    apply_base(new, base)
    assert new["steps"][0]["replaceReasons"] == ["metadata"]


def test_a_launch_template_update_rolls_its_node_group_without_replacing_it():
    base = base_from_data(_document(*_network(4)))
    states = _network(4)
    states[2]["inputs"]["userData"] = "y"  # the template gets a new version ...
    new = _document(*states)
    apply_base(new, base)
    assert _step(new, LAUNCH_TEMPLATE)["op"] == "update"
    group = _step(new, NODE_GROUP)  # ... which the node group's launchTemplate.version reads
    assert group["op"] == "update" and group["diffReasons"] == ["launchTemplate"]


def test_an_exports_pending_deletions_are_not_the_live_resource():
    vpc = _network(4)[0]
    stale = copy.deepcopy(vpc) | {"delete": True}
    stale["inputs"]["cidrBlock"] = "10.99.0.0/16"
    base = base_from_data({"deployment": {"resources": [copy.deepcopy(vpc), stale]}})
    assert (
        base.kind == "export"
        and base.resources[vpc["urn"]]["inputs"]["cidrBlock"] == (vpc["inputs"]["cidrBlock"])
    )
    new = _document(vpc)
    apply_base(new, base)
    assert new["steps"][0]["op"] == "same"


def test_turning_on_pod_networking_and_control_plane_subnets_in_prod_is_additive(tmp_path: Path):
    """The day-two change prod shipped: against prod without `podNetwork` and
    `subnets.controlPlaneCidrs`, only creates and two in-place updates, no replacement."""

    def before(config: dict[str, Any]) -> None:
        del config["gpu-platform:podNetwork"]
        del config["gpu-platform:subnets"]["controlPlaneCidrs"]

    base = tmp_path / "before.json"
    config = _config(tmp_path, "prod", before)
    assert (
        main(["--stack", "prod", "--config-file", str(config), "--json", str(base), "--quiet"]) == 0
    )
    document, results = plan("prod", base=base)
    ops: dict[str, list[dict[str, Any]]] = {}
    for step in document["steps"]:
        ops.setdefault(step["op"], []).append(step)
    assert set(ops) == {"same", "create", "update"}, sorted(ops)
    updated = {s["urn"].rsplit("::", 1)[-1]: s["diffReasons"] for s in ops["update"]}
    assert updated == {
        "cluster-eks": ["vpcConfig"],
        "cluster-vpc-cni": ["configurationValues"],
        # The p5 layout keeps card 0's second slot free for the pods' interface: a new launch
        # template version, which rolls the pool's nodes (they must be replaced anyway).
        "pool-h100-train-lt": ["networkInterfaces"],
        "pool-h100-train-ng": ["launchTemplate"],
    }
    created = sorted(s["urn"].rsplit("::", 1)[-1] for s in ops["create"])
    assert created == sorted(
        ["network-pod-cidr", "network-endpoints-https-pods"]
        + [f"network-{r}-us-east-1{z}" for r in ("pods", "control-plane") for z in "abc"] * 2
    )
    assert all("gpuplatform:index:Network$" in s["urn"] for s in ops["create"])
    assert not any(result.blocking for _, result in results.values())


def test_growing_a_pool_with_pod_networking_leaves_every_subnet_same(
    tmp_path: Path, prod_base: Path
):
    def grow(config: dict[str, Any]) -> None:
        _pool(config, "t4-infer")["maxSize"] += 6

    document, _ = plan("prod", _config(tmp_path, "prod", grow), base=prod_base)
    subnets = [s for s in document["steps"] if s["newState"]["type"] == SUBNET]
    assert len(subnets) == 12  # private, public, pods, control plane in three AZs
    assert all(s["op"] == "same" for s in subnets), [(s["urn"], s["op"]) for s in subnets]
