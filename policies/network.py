"""Network rules.

- `no-open-ingress`: no security group admits the internet: the union of the CIDR ranges a group
  admits on a protocol and port (inline `ingress`, `aws:ec2/securityGroupRule`,
  `aws:vpc/securityGroupIngressRule`, all rules of one group together) may not cover 0.0.0.0/0 or
  ::/0, except on single ports listed in `allowedOpenIngressPorts`. A managed node group's
  `remoteAccess` without `sourceSecurityGroupIds` opens SSH to the internet.
- `default-security-group`: a VPC's default security group carries no rules: an
  `aws:ec2/defaultSecurityGroup` keeps no ingress or egress, no rule targets a VPC's default group,
  and (with `requireLockedDefaultSecurityGroup`, on by default) every VPC the stack creates has
  its default group taken over by an `aws:ec2/defaultSecurityGroup` (CIS AWS 5.4, Security Hub
  EC2.2).

Unknowns: an unknown CIDR names a range computed by AWS for a resource of this stack (an EIP, a
VPC's IPv6 block), never the internet, so it widens nothing; unknown ports or protocols of a rule
whose ranges cover the internet leave the rule undecided.
"""

from __future__ import annotations

import ipaddress
import itertools
from dataclasses import dataclass
from typing import Any

from pulumi_policy import EnforcementLevel, PolicyConfigSchema, StackValidationPolicy

from policies.inputs import StackJudge, StackResource, as_list, as_mapping, is_unknown, run_stack

SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
DEFAULT_SECURITY_GROUP = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS_RULE = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
VPC = "aws:ec2/vpc:Vpc"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"

ALL = "all"
_PROTOCOLS = {"-1": ALL, "all": ALL, "6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6"}
_EVERYTHING = (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0"))


def network(cidr: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """A CIDR as AWS reads it (host bits ignored), None when unknown or unreadable."""
    if is_unknown(cidr) or cidr is None:
        return None
    try:
        return ipaddress.ip_network(str(cidr).strip(), strict=False)
    except ValueError:
        return None


def covers_everything(cidrs: list[Any]) -> bool:
    """True when the ranges together cover every IPv4 address or every IPv6 address."""
    networks = [n for n in (network(c) for c in cidrs) if n is not None]
    for family in (4, 6):
        nets = [n for n in networks if n.version == family]
        if nets and _EVERYTHING[family == 6] in ipaddress.collapse_addresses(nets):  # type: ignore[type-var]
            return True
    return False


def protocol_of(value: Any) -> str | None:
    if is_unknown(value) or value is None:
        return None
    text = str(value).strip().lower()
    return _PROTOCOLS.get(text, text)


def port_of(value: Any) -> int | None:
    if is_unknown(value) or isinstance(value, bool):
        return None
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


@dataclass
class Entry:
    """One ingress permission: who granted it, protocol, ports and CIDRs."""

    owner: StackResource
    where: str
    protocol: Any
    low: Any
    high: Any
    cidrs: list[Any]


def _ingress_entries(judge: StackJudge) -> dict[str, list[Entry]]:
    """Ingress permissions grouped by the security group they open."""
    groups: dict[str, list[Entry]] = {}

    def group_key(res: StackResource, key: str = "securityGroupId") -> str:
        deps = res.property_dependencies.get(key) or []
        if deps:
            return deps[0]
        value = res.props.get(key)
        return f"id:{value}" if isinstance(value, str) else res.urn

    for res in judge.resources:
        props = res.props
        if res.type in (SECURITY_GROUP, DEFAULT_SECURITY_GROUP):
            ingress = props.get("ingress")
            if is_unknown(ingress):
                judge.unknown(f"{res.name}.ingress")
                continue
            for index, rule in enumerate(as_list(ingress)):
                if is_unknown(rule):
                    judge.unknown(f"{res.name}.ingress[{index}]")
                    continue
                rule = as_mapping(rule)
                groups.setdefault(res.urn, []).append(
                    Entry(
                        res,
                        f"ingress[{index}]",
                        rule.get("protocol"),
                        rule.get("fromPort"),
                        rule.get("toPort"),
                        [*as_list(rule.get("cidrBlocks")), *as_list(rule.get("ipv6CidrBlocks"))],
                    )
                )
        elif res.type == SG_RULE:
            cidrs = [*as_list(props.get("cidrBlocks")), *as_list(props.get("ipv6CidrBlocks"))]
            kind = props.get("type")
            if is_unknown(kind):
                if covers_everything(cidrs):
                    judge.unknown(f"{res.name}.type")
                continue
            if str(kind).strip().lower() != "ingress":
                continue
            groups.setdefault(group_key(res), []).append(
                Entry(
                    res,
                    "",
                    props.get("protocol"),
                    props.get("fromPort"),
                    props.get("toPort"),
                    cidrs,
                )
            )
        elif res.type == INGRESS_RULE:
            cidrs = [c for c in (props.get("cidrIpv4"), props.get("cidrIpv6")) if c is not None]
            groups.setdefault(group_key(res), []).append(
                Entry(
                    res,
                    "",
                    props.get("ipProtocol"),
                    props.get("fromPort"),
                    props.get("toPort"),
                    cidrs,
                )
            )
    return groups


def _open_ranges(entries: list[Entry], judge: StackJudge) -> list[tuple[str, list[Entry]]]:
    """(protocol or "all", contributing entries) for every protocol and port range the entries
    together open to the internet; the contributors of one protocol are merged."""
    decided: list[Entry] = []
    for entry in entries:
        if not any(network(c) is not None for c in entry.cidrs):
            continue
        protocol = protocol_of(entry.protocol)
        alone = covers_everything(entry.cidrs)
        if protocol is None:
            if alone:
                judge.unknown(f"{entry.owner.name}.{entry.where or 'ipProtocol'}")
            continue
        if protocol in ("tcp", "udp") and None in (port_of(entry.low), port_of(entry.high)):
            if alone:
                judge.unknown(f"{entry.owner.name}.{entry.where or 'fromPort'}")
            continue
        decided.append(entry)
    every = [e for e in decided if protocol_of(e.protocol) == ALL]
    if covers_everything([c for e in every for c in e.cidrs]):
        return [(ALL, every)]
    found: list[tuple[str, list[Entry]]] = []
    allowed = _allowed_ports(judge)
    for protocol in sorted({str(protocol_of(e.protocol)) for e in decided} - {ALL}):
        own = [e for e in decided if protocol_of(e.protocol) == protocol]
        points = sorted({p for e in own for p in (_ports(e)[0], _ports(e)[1] + 1)})
        contributors: dict[str, Entry] = {}
        for start, stop in itertools.pairwise(points):
            covering = [e for e in own if _ports(e)[0] <= start and stop - 1 <= _ports(e)[1]]
            if not covering or not covers_everything(
                [c for e in covering + every for c in e.cidrs]
            ):
                continue
            if start == stop - 1 and start in allowed:
                continue
            for e in covering + every:
                contributors.setdefault(f"{e.owner.urn}#{e.where}", e)
        if contributors:
            found.append((protocol, list(contributors.values())))
    return found


def _allowed_ports(judge: StackJudge) -> set[int]:
    ports = (port_of(v) for v in as_list(judge.config.get("allowedOpenIngressPorts")))
    return {p for p in ports if p is not None}


def _ports(entry: Entry) -> tuple[int, int]:
    low, high = port_of(entry.low), port_of(entry.high)
    if low is None or high is None or low < 0 or high < 0:
        return (0, 65535)
    return (min(low, high), max(low, high))


def _check_ingress(judge: StackJudge) -> None:
    for entries in _ingress_entries(judge).values():
        for protocol, contributors in _open_ranges(entries, judge):
            names = sorted({e.owner.name for e in contributors})
            owner = contributors[0].owner
            if protocol == ALL:
                judge.report(f"{_who(names)} {_verb(names)} all ports to the internet", owner.urn)
                continue
            spans = [_ports(e) for e in contributors if protocol_of(e.protocol) != ALL]
            low, high = min(s[0] for s in spans), max(s[1] for s in spans)
            judge.report(
                f"{_who(names)} {_verb(names)} ports {low}-{high} to the internet", owner.urn
            )
    for res in judge.of_type(NODE_GROUP):
        remote = res.props.get("remoteAccess")
        if is_unknown(remote):
            judge.unknown(f"{res.name}.remoteAccess")
            continue
        if not isinstance(remote, dict) or not remote:
            continue
        sources = remote.get("sourceSecurityGroupIds")
        if sources is None or sources == [] or sources == "":
            judge.report(
                f"node group {res.name} allows SSH (remoteAccess) from anywhere: "
                "set remoteAccess.sourceSecurityGroupIds",
                res.urn,
            )


def _who(names: list[str]) -> str:
    return names[0] if len(names) == 1 else " and ".join([", ".join(names[:-1]), names[-1]])


def _verb(names: list[str]) -> str:
    return "opens" if len(names) == 1 else "together open"


# ------------------------------------------------------------------------------ default SG


def _check_default_group(judge: StackJudge) -> None:
    vpcs = {r.urn: r for r in judge.of_type(VPC)}
    defaults = {r.urn: r for r in judge.of_type(DEFAULT_SECURITY_GROUP)}
    locked: set[str] = set()
    for res in judge.of_type(DEFAULT_SECURITY_GROUP):
        for direction in ("ingress", "egress"):
            rules = res.props.get(direction)
            if is_unknown(rules):
                judge.unknown(f"{res.name}.{direction}")
            elif as_list(rules):
                judge.report(
                    f"default security group {res.name} keeps {direction} rules; empty it", res.urn
                )
        locked |= {u for u in res.property_dependencies.get("vpcId", []) if u in vpcs}
    for res in judge.of_type(SG_RULE, INGRESS_RULE, EGRESS_RULE):
        deps = res.property_dependencies.get("securityGroupId", [])
        targets = [vpcs[u].name for u in deps if u in vpcs]
        targets += [f"default group {defaults[u].name}" for u in deps if u in defaults]
        if targets:
            judge.report(
                f"{res.name} adds a rule to the default security group of {targets[0]}", res.urn
            )
    if judge.config.get("requireLockedDefaultSecurityGroup", True) is not False:
        for urn, vpc in vpcs.items():
            if urn not in locked:
                judge.report(
                    f"VPC {vpc.name} leaves its default security group open: take it over with an "
                    "aws.ec2.DefaultSecurityGroup (vpc_id of this VPC) with no ingress or egress",
                    urn,
                )


no_open_ingress = StackValidationPolicy(
    name="no-open-ingress",
    description="No ingress from the internet (any ranges covering 0.0.0.0/0 or ::/0) "
    "except on allowed ports; no node-group SSH from anywhere.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=run_stack(_check_ingress),
    config_schema=PolicyConfigSchema(
        properties={
            "allowedOpenIngressPorts": {
                "type": "array",
                "items": {"type": "integer", "minimum": 0, "maximum": 65535},
                "default": [],
            }
        }
    ),
)
default_security_group = StackValidationPolicy(
    name="default-security-group",
    description="Every VPC's default security group is taken over and carries no rules.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=run_stack(_check_default_group),
    config_schema=PolicyConfigSchema(
        properties={"requireLockedDefaultSecurityGroup": {"type": "boolean", "default": True}}
    ),
)

POLICIES = [no_open_ingress, default_security_group]
