"""Network: a VPC over 2-3 AZs sized for the largest fleet the stack allows.

Private subnets carry every node and pod (VPC CNI prefix delegation); public subnets carry NAT
gateways and internet-facing load balancers. An S3 gateway endpoint and ECR/STS interface endpoints
keep image pulls, dataset reads and credential calls off the NAT gateways.

With `podNetwork` a secondary range is associated with the VPC and a pod subnet carved per AZ
(VPC CNI custom networking): pods take their addresses there, routed through the same route
table (NAT, S3 endpoint, transit gateway) as the AZ's node subnet, and reach the interface
endpoints from that range. With `subnets.dedicatedControlPlane` a /28 per AZ holds the EKS
control plane's network interfaces, on the same private route tables.
"""

from __future__ import annotations

from typing import TypedDict

import pulumi
import pulumi_aws as aws

from components.catalog.conventions import (
    CONTROL_PLANE_SUBNET_ROLE,
    POD_SUBNET_ROLE,
    SUBNET_ROLE_TAG,
)
from components.common import iam
from components.common.protection import keep
from components.resolve.network import ExistingVpcSpec, FlowLogSpec, NetworkSpec


class NetworkRefs(TypedDict, total=False):
    """Handles of what was built before the network."""

    log_kms_key_arn: pulumi.Input[str] | None
    """The stack's logs key (`LogsKey.key_arn`), for the flow log group; None: AWS-managed."""


def log_group_arn(partition: str, region: str, account_id: str, log_group_name: str) -> str:
    """A CloudWatch Logs group's ARN from its name (`arn:<partition>:logs:<region>:<account>:
    log-group:<name>`, CloudWatch Logs API LogGroup.arn without the trailing `:*`)."""
    return f"arn:{partition}:logs:{region}:{account_id}:log-group:{log_group_name}"


class Network(pulumi.ComponentResource):
    """VPC, subnets, NAT, route tables, VPC endpoints and (optionally) flow logs."""

    vpc_id: pulumi.Output[str]
    private_subnet_ids: list[pulumi.Output[str]]
    public_subnet_ids: list[pulumi.Output[str]]
    private_subnet_ids_by_az: dict[str, pulumi.Output[str]]
    pod_subnet_ids_by_az: dict[str, pulumi.Output[str]]
    """Pod subnet per AZ (custom networking); empty without."""
    control_plane_subnet_ids: list[pulumi.Output[str]]
    """Subnets for the EKS control plane's interfaces: the dedicated ones, else the private
    subnets."""

    def __init__(
        self,
        name: str,
        spec: NetworkSpec,
        refs: NetworkRefs | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("gpuplatform:index:Network", name, {}, opts)
        self.log_kms_key_arn = (refs or {}).get("log_kms_key_arn")
        if spec.existing is not None:
            self._existing(name, spec, spec.existing)
            return
        child = pulumi.ResourceOptions(parent=self)
        prefix = spec.name_prefix

        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=spec.vpc_cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={"Name": f"{prefix}-vpc"},
            opts=child,
        )
        # Take over the VPC's default security group and leave it empty: nothing that lands in it
        # by default can talk to anything (CIS AWS 5.4, Security Hub EC2.2).
        aws.ec2.DefaultSecurityGroup(
            f"{name}-default-sg",
            vpc_id=vpc.id,
            ingress=[],
            egress=[],
            tags={"Name": f"{prefix}-default-locked"},
            opts=child,
        )
        igw = aws.ec2.InternetGateway(
            f"{name}-igw", vpc_id=vpc.id, tags={"Name": f"{prefix}-igw"}, opts=child
        )
        public_rt = aws.ec2.RouteTable(
            f"{name}-public-rt", vpc_id=vpc.id, tags={"Name": f"{prefix}-public"}, opts=child
        )
        aws.ec2.Route(
            f"{name}-public-default",
            route_table_id=public_rt.id,
            destination_cidr_block="0.0.0.0/0",
            gateway_id=igw.id,
            opts=child,
        )

        public: dict[str, aws.ec2.Subnet] = {}
        private: dict[str, aws.ec2.Subnet] = {}
        for plan in spec.subnets:
            az = plan.az
            public[az] = aws.ec2.Subnet(
                f"{name}-public-{az}",
                vpc_id=vpc.id,
                cidr_block=plan.public_cidr,
                availability_zone=az,
                map_public_ip_on_launch=False,
                tags={"Name": f"{prefix}-public-{az}", "kubernetes.io/role/elb": "1"},
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{az}",
                subnet_id=public[az].id,
                route_table_id=public_rt.id,
                opts=child,
            )
            private[az] = aws.ec2.Subnet(
                f"{name}-private-{az}",
                vpc_id=vpc.id,
                cidr_block=plan.private_cidr,
                availability_zone=az,
                tags={"Name": f"{prefix}-private-{az}", "kubernetes.io/role/internal-elb": "1"},
                opts=child,
            )

        control_plane: dict[str, aws.ec2.Subnet] = {}
        for plan in spec.subnets:
            if plan.control_plane_cidr is None:
                continue
            control_plane[plan.az] = aws.ec2.Subnet(
                f"{name}-control-plane-{plan.az}",
                vpc_id=vpc.id,
                cidr_block=plan.control_plane_cidr,
                availability_zone=plan.az,
                tags={
                    "Name": f"{prefix}-control-plane-{plan.az}",
                    SUBNET_ROLE_TAG: CONTROL_PLANE_SUBNET_ROLE,
                },
                opts=child,
            )

        pods: dict[str, aws.ec2.Subnet] = {}
        if spec.pod_cidr is not None:
            # Subnets of a secondary range can be created only once it is associated.
            secondary = aws.ec2.VpcIpv4CidrBlockAssociation(
                f"{name}-pod-cidr", vpc_id=vpc.id, cidr_block=spec.pod_cidr, opts=child
            )
            for pod_plan in spec.pod_subnets:
                pods[pod_plan.az] = aws.ec2.Subnet(
                    f"{name}-pods-{pod_plan.az}",
                    vpc_id=vpc.id,
                    cidr_block=pod_plan.cidr,
                    availability_zone=pod_plan.az,
                    tags={"Name": f"{prefix}-pods-{pod_plan.az}", SUBNET_ROLE_TAG: POD_SUBNET_ROLE},
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[secondary]),
                )

        nats: dict[str, aws.ec2.NatGateway] = {}
        for az in spec.nat_azs:
            eip = aws.ec2.Eip(
                f"{name}-nat-{az}", domain="vpc", tags={"Name": f"{prefix}-nat-{az}"}, opts=child
            )
            nats[az] = aws.ec2.NatGateway(
                f"{name}-nat-{az}",
                allocation_id=eip.allocation_id,
                subnet_id=public[az].id,
                tags={"Name": f"{prefix}-nat-{az}"},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]),
            )

        private_rts: list[aws.ec2.RouteTable] = []
        pod_ids: dict[str, pulumi.Output[str]] = {}
        control_plane_ids: dict[str, pulumi.Output[str]] = {}
        for plan in spec.subnets:
            az = plan.az
            nat = nats.get(az, nats[spec.nat_azs[0]])
            rt = aws.ec2.RouteTable(
                f"{name}-private-{az}",
                vpc_id=vpc.id,
                tags={"Name": f"{prefix}-private-{az}"},
                opts=child,
            )
            aws.ec2.Route(
                f"{name}-private-{az}-default",
                route_table_id=rt.id,
                destination_cidr_block="0.0.0.0/0",
                nat_gateway_id=nat.id,
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{az}", subnet_id=private[az].id, route_table_id=rt.id, opts=child
            )
            for role, extra, ready in (
                ("pods", pods, pod_ids),
                ("control-plane", control_plane, control_plane_ids),
            ):
                if az in extra:
                    association = aws.ec2.RouteTableAssociation(
                        f"{name}-{role}-{az}",
                        subnet_id=extra[az].id,
                        route_table_id=rt.id,
                        opts=child,
                    )
                    # Handed out only once routed: the control plane's interfaces must answer the
                    # deployer through the transit gateway route, and pods need NAT and S3.
                    ready[az] = pulumi.Output.all(extra[az].id, association.id).apply(
                        lambda v: str(v[0])
                    )
            private_rts.append(rt)

        aws.ec2.VpcEndpoint(
            f"{name}-s3",
            vpc_id=vpc.id,
            service_name=spec.s3_service,
            vpc_endpoint_type="Gateway",
            route_table_ids=[rt.id for rt in private_rts],
            tags={"Name": f"{prefix}-s3"},
            opts=child,
        )
        if spec.interface_services:
            endpoint_sg = aws.ec2.SecurityGroup(
                f"{name}-endpoints",
                vpc_id=vpc.id,
                description="HTTPS from the VPC to interface endpoints",
                tags={"Name": f"{prefix}-endpoints"},
                opts=child,
            )
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-endpoints-https",
                security_group_id=endpoint_sg.id,
                cidr_ipv4=spec.vpc_cidr,
                ip_protocol="tcp",
                from_port=443,
                to_port=443,
                description="HTTPS from inside the VPC",
                opts=child,
            )
            if spec.pod_cidr is not None:
                aws.vpc.SecurityGroupIngressRule(
                    f"{name}-endpoints-https-pods",
                    security_group_id=endpoint_sg.id,
                    cidr_ipv4=spec.pod_cidr,
                    ip_protocol="tcp",
                    from_port=443,
                    to_port=443,
                    description="HTTPS from pods (the secondary pod range)",
                    opts=child,
                )
            for service in spec.interface_services:
                short = service.split(".", 3)[3].replace(".", "-")
                aws.ec2.VpcEndpoint(
                    f"{name}-{short}",
                    vpc_id=vpc.id,
                    service_name=service,
                    vpc_endpoint_type="Interface",
                    private_dns_enabled=True,
                    subnet_ids=[private[p.az].id for p in spec.subnets],
                    security_group_ids=[endpoint_sg.id],
                    tags={"Name": f"{prefix}-{short}"},
                    opts=child,
                )

        if spec.transit is not None:
            self._transit(name, spec, vpc, private, private_rts)
        if spec.flow_logs is not None:
            self._flow_logs(name, vpc.id, spec.flow_logs, spec.region)

        self.vpc_id = vpc.id
        self.private_subnet_ids = [private[p.az].id for p in spec.subnets]
        self.public_subnet_ids = [public[p.az].id for p in spec.subnets]
        self.private_subnet_ids_by_az = {p.az: private[p.az].id for p in spec.subnets}
        self.pod_subnet_ids_by_az = {p.az: pod_ids[p.az] for p in spec.pod_subnets}
        self.control_plane_subnet_ids = (
            [control_plane_ids[p.az] for p in spec.subnets]
            if control_plane
            else self.private_subnet_ids
        )
        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "private_subnet_ids": self.private_subnet_ids,
                "public_subnet_ids": self.public_subnet_ids,
                "pod_subnet_ids": list(self.pod_subnet_ids_by_az.values()),
                "control_plane_subnet_ids": self.control_plane_subnet_ids,
            }
        )

    def _existing(self, name: str, spec: NetworkSpec, existing: ExistingVpcSpec) -> None:
        """An existing VPC: its subnets are used as they are; only flow logs are added."""
        self.vpc_id = pulumi.Output.from_input(existing.vpc_id)
        self.private_subnet_ids_by_az = {
            az: pulumi.Output.from_input(subnet)
            for az, subnet in existing.private_subnet_ids.items()
        }
        self.private_subnet_ids = list(self.private_subnet_ids_by_az.values())
        self.public_subnet_ids = []
        self.pod_subnet_ids_by_az = {
            az: pulumi.Output.from_input(subnet) for az, subnet in existing.pod_subnet_ids.items()
        }
        self.control_plane_subnet_ids = self.private_subnet_ids
        if spec.flow_logs is not None:
            self._flow_logs(name, self.vpc_id, spec.flow_logs, spec.region)
        self.register_outputs(
            {"vpc_id": self.vpc_id, "private_subnet_ids": self.private_subnet_ids}
        )

    def _transit(
        self,
        name: str,
        spec: NetworkSpec,
        vpc: aws.ec2.Vpc,
        private: dict[str, aws.ec2.Subnet],
        route_tables: list[aws.ec2.RouteTable],
    ) -> None:
        """Attach the VPC to the deployer network's transit gateway and route that network
        through it, so the deployer reaches a private API endpoint on the first `pulumi up`."""
        transit = spec.transit
        assert transit is not None
        child = pulumi.ResourceOptions(parent=self)
        attachment = aws.ec2transitgateway.VpcAttachment(
            f"{name}-tgw",
            transit_gateway_id=transit.transit_gateway_id,
            vpc_id=vpc.id,
            subnet_ids=[private[p.az].id for p in spec.subnets],
            dns_support="enable",
            tags={"Name": f"{spec.name_prefix}-tgw"},
            opts=child,
        )
        for plan, table in zip(spec.subnets, route_tables, strict=True):
            for index, cidr in enumerate(transit.routed_cidrs):
                aws.ec2.Route(
                    f"{name}-private-{plan.az}-tgw-{index}",
                    route_table_id=table.id,
                    destination_cidr_block=cidr,
                    transit_gateway_id=transit.transit_gateway_id,
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[attachment]),
                )

    def _flow_logs(
        self, name: str, vpc_id: pulumi.Input[str], flow: FlowLogSpec, region: str
    ) -> None:
        child = pulumi.ResourceOptions(parent=self)
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-flow-logs",
            retention_in_days=flow.retention_days,
            kms_key_id=self.log_kms_key_arn,
            opts=keep(self, flow.protect),
        )
        role = aws.iam.Role(
            f"{name}-flow-logs",
            assume_role_policy=iam.service_trust("vpc-flow-logs.amazonaws.com"),
            opts=child,
        )
        # The log group's ARN from its autonamed name (known in a preview; its `arn` is not).
        invoke = pulumi.InvokeOutputOptions(parent=self)
        arn = pulumi.Output.all(
            aws.get_partition_output(opts=invoke).partition,
            aws.get_caller_identity_output(opts=invoke).account_id,
            log_group.name,
        ).apply(lambda v: log_group_arn(v[0], region, v[1], v[2]))
        aws.iam.RolePolicy(
            f"{name}-flow-logs",
            role=role.id,
            policy=arn.apply(
                lambda arn: iam.document(
                    [
                        iam.allow(
                            [
                                "logs:CreateLogStream",
                                "logs:PutLogEvents",
                                "logs:DescribeLogStreams",
                            ],
                            [arn, f"{arn}:*"],
                        )
                    ]
                )
            ),
            opts=child,
        )
        aws.ec2.FlowLog(
            f"{name}-flow-logs",
            vpc_id=vpc_id,
            traffic_type=flow.traffic_type,
            log_destination_type="cloud-watch-logs",
            log_destination=log_group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=60,
            opts=child,
        )
