"""Every pinned version the platform deploys, in one place, each with where it was confirmed.

Bump versions here, in one reviewed change, and nowhere else. The rule: a version is pinned only
when its upstream source shows it exists at that exact version (a git tag, a chart repository's
index, an AWS documentation table); the evidence sits beside each pin. Where no build could be
shown to exist, the pin is `None`: EKS then installs its default build for the cluster's minor,
and `python -m scripts.ops preflight <stack>` reports which build that is
(`describe-addon-versions`), so it can be pinned from the account's own answer.
"""

from __future__ import annotations

from typing import Final, NamedTuple

KUBERNETES_VERSION: Final = "1.36"
"""Default EKS minor for new clusters. Evidence: EKS user guide, "Kubernetes versions on
standard support" (kubernetes-versions-standard), "Kubernetes 1.36 is now available in Amazon
EKS"."""

EKS_SUPPORT_TYPE: Final = "STANDARD"
"""Upgrade policy: STANDARD avoids the extended-support surcharge ($0.60/h instead of $0.10/h)."""


class AddonVersions(NamedTuple):
    """EKS managed add-on builds for one Kubernetes minor (None: EKS's default build)."""

    vpc_cni: str | None
    coredns: str | None
    kube_proxy: str | None
    pod_identity_agent: str | None
    ebs_csi_driver: str | None
    fsx_csi_driver: str | None
    node_monitoring_agent: str | None
    """`eks-node-monitoring-agent`: node health conditions for node auto repair (GPU pools)."""
    mountpoint_s3_csi_driver: str | None = None
    """`aws-mountpoint-s3-csi-driver` (v2): S3 buckets as volumes (`storage.mountpoint`)."""


EKS_ADDONS: Final[dict[str, AddonVersions]] = {
    # kube-proxy: EKS user guide, "Manage kube-proxy" (managing-kube-proxy), version table:
    #   1.36 v1.36.0-eksbuild.14, 1.35 v1.35.3-eksbuild.13.
    # CoreDNS: EKS user guide, "Manage CoreDNS" (managing-coredns), table: 1.35 v1.14.2-eksbuild.4
    #   (no 1.36 row in the copy read).
    # vpc-cni, eks-pod-identity-agent, aws-ebs-csi-driver, aws-fsx-csi-driver: no AWS table lists
    #   builds per minor, and the upstream tags read (amazon-vpc-cni-k8s v1.23.0,
    #   aws-ebs-csi-driver v1.64.0, aws-fsx-csi-driver v1.9.0) carry no eksbuild suffix: unpinned.
    #   EKS's default for 1.35+ is newer than vpc-cni 1.18.4, which `efa-only` interfaces need;
    #   preflight checks the build the account offers. The EBS CSI driver's configuration values
    #   (`node.hostNetwork`, `node.metadataSources`: IMDS behind a hop limit of 1) were read in
    #   the chart at aws-ebs-csi-driver v1.64.0 (components/cluster, EBS_CSI_CONFIGURATION).
    # vpc-cni custom networking (`podNetwork`), read at amazon-vpc-cni-k8s v1.23.0: the env names
    #   AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG (pkg/ipamd/ipamd.go) and ENI_CONFIG_LABEL_DEF
    #   (pkg/eniconfig/eniconfig.go; README: `topology.kubernetes.io/zone` selects an ENIConfig
    #   named after the AZ); the `eniConfig: {create, region, subnets: {<name>: {id,
    #   securityGroups}}}` values (charts/aws-vpc-cni/values.yaml, templates/eniconfig.yaml,
    #   which names each ENIConfig after its key). The EKS add-on takes the same `eniConfig`
    #   block in its configuration values (terraform-aws-eks users pass it that way); an add-on
    #   build that refuses it fails `pulumi up` at the add-on, before any node joins.
    # eks-node-monitoring-agent: aws/eks-node-monitoring-agent's newest tag is v1.7.0 (2026-08-04),
    #   again without an eksbuild suffix; no AWS table lists add-on builds per minor, and the only
    #   builds seen (v1.6.2-eksbuild.1 beside a 1.35 cluster) come from third-party IaC, not AWS:
    #   unpinned for 1.36 and 1.35.
    # aws-mountpoint-s3-csi-driver: awslabs/mountpoint-s3-csi-driver's newest tag in the copy read
    #   is v2.7.0 (charts/aws-mountpoint-s3-csi-driver/Chart.yaml `version: 2.7.0`, image tag
    #   v2.7.0, kubeVersion >=1.30); the EKS user guide's add-on page
    #   (mountpoint-for-s3-add-on) names the add-on but lists no builds, and no eksbuild suffix
    #   was found in an AWS source: unpinned for 1.36 and 1.35 (EKS installs its default v2 build;
    #   preflight reports which).
    "1.36": AddonVersions(
        vpc_cni=None,
        coredns=None,
        kube_proxy="v1.36.0-eksbuild.14",
        pod_identity_agent=None,
        ebs_csi_driver=None,
        fsx_csi_driver=None,
        node_monitoring_agent=None,
        mountpoint_s3_csi_driver=None,
    ),
    "1.35": AddonVersions(
        vpc_cni=None,
        coredns="v1.14.2-eksbuild.4",
        kube_proxy="v1.35.3-eksbuild.13",
        pod_identity_agent=None,
        ebs_csi_driver=None,
        fsx_csi_driver=None,
        node_monitoring_agent=None,
        mountpoint_s3_csi_driver=None,
    ),
}


class Chart(NamedTuple):
    repo: str
    chart: str
    version: str
    crd_groups: tuple[str, ...] = ()
    """API groups whose CRDs the chart installs: a custom resource of one of them must depend on
    the release (the offline plan fails one that does not)."""


CHARTS: Final[dict[str, Chart]] = {
    # NVIDIA/gpu-operator tag v26.7.0 (versions.mk `VERSION ?= v26.7.0`); NVIDIA's platform
    # support page lists 26.7.x as supported; 26.3.2's release notes add Kubernetes 1.36.
    "gpu-operator": Chart(
        "https://helm.ngc.nvidia.com/nvidia", "gpu-operator", "v26.7.0", ("nvidia.com",)
    ),
    # kubernetes/autoscaler tag cluster-autoscaler-chart-9.59.0:
    # cluster-autoscaler/charts/cluster-autoscaler/Chart.yaml `version: 9.59.0` (app 1.35.0).
    "cluster-autoscaler": Chart(
        "https://kubernetes.github.io/autoscaler", "cluster-autoscaler", "9.59.0"
    ),
    # aws/eks-charts gh-pages index.yaml: aws-efa-k8s-device-plugin v0.5.30 (app v0.5.20);
    # stable/aws-efa-k8s-device-plugin/values.yaml: image.repository hard-codes the us-west-2
    # registry, so the platform overrides it with the cluster region's (`eks_registry`).
    "aws-efa-k8s-device-plugin": Chart(
        "https://aws.github.io/eks-charts", "aws-efa-k8s-device-plugin", "v0.5.30"
    ),
    # prometheus-community/helm-charts tag kube-prometheus-stack-88.5.3:
    # charts/kube-prometheus-stack/Chart.yaml `version: 88.5.3` (app v0.93.1).
    "kube-prometheus-stack": Chart(
        "https://prometheus-community.github.io/helm-charts",
        "kube-prometheus-stack",
        "88.5.3",
        ("monitoring.coreos.com",),
    ),
    # kedacore/charts tag v2.20.2: keda/Chart.yaml `version: 2.20.2`; docs/index.yaml lists it.
    "keda": Chart(
        "https://kedacore.github.io/charts", "keda", "2.20.2", ("keda.sh", "eventing.keda.sh")
    ),
    # kubeflow/trainer tag v2.3.0: charts/kubeflow-trainer/Chart.yaml `version: 2.3.0`, published
    # to oci://ghcr.io/kubeflow/charts by .github/workflows/publish-helm-charts.yaml.
    "kubeflow-trainer": Chart(
        "oci://ghcr.io/kubeflow/charts",
        "kubeflow-trainer",
        "2.3.0",
        ("trainer.kubeflow.org", "jobset.x-k8s.io"),
    ),
    # cert-manager/cert-manager tag v1.21.1 (2026-07-29; deploy/charts/cert-manager/Chart.yaml
    # carries `version: v0.0.0`, set by the release tool, so the tag is the evidence), published
    # to https://charts.jetstack.io. values.yaml at v1.21.1: `crds.enabled` (default false) and
    # `crds.keep` (default true); `installCRDs` is deprecated in their favour.
    "cert-manager": Chart("https://charts.jetstack.io", "cert-manager", "v1.21.1"),
    # kubernetes-sigs/kueue tag v0.19.2: charts/kueue/Chart.yaml `version: 0.19.2` (app v0.19.2);
    # charts/kueue/README.md installs `oci://registry.k8s.io/kueue/charts/kueue --version=0.19.2`
    # (no leading v). hack/helm-chart-package.sh sets the released image repository and tag.
    "kueue": Chart("oci://registry.k8s.io/kueue/charts", "kueue", "0.19.2", ("kueue.x-k8s.io",)),
}
"""Helm charts (repository, chart, version)."""

CLUSTER_AUTOSCALER_IMAGE_TAG: Final[dict[str, str]] = {
    # The autoscaler's minor must match the cluster's. kubernetes/autoscaler tags
    # cluster-autoscaler-1.36.1 and cluster-autoscaler-1.35.2 (version/version.go).
    "1.36": "v1.36.1",
    "1.35": "v1.35.2",
}

KUBEFLOW_PIPELINES_REF: Final = "2.17.0"
"""Kubeflow Pipelines standalone manifests (kustomize, github.com/kubeflow/pipelines) tag.
kubeflow/pipelines tag 2.17.0: manifests/kustomize/cluster-scoped-resources and
manifests/kustomize/env/platform-agnostic exist (pipeline-install-config `appVersion: 2.17.0`), and
so do env/cert-manager/cluster-scoped-resources and env/cert-manager/base, which
workloads/kustomize/kubeflow-pipelines builds on (its `ref` must equal this pin; a test checks)."""

TRAINING_IMAGE: Final = (
    "public.ecr.aws/deep-learning-containers/pytorch-training:"
    "2.10.0-gpu-py313-cu130-ubuntu22.04-ec2"
)
"""AWS Deep Learning Container for EC2: PyTorch with the EFA installer and aws-ofi-nccl, so NCCL
runs over EFA. Used by the training template and the NCCL acceptance job. Evidence:
aws/deep-learning-containers docs/src/data/pytorch-training/2.10-gpu-ec2.yml (public registry,
patch support to 2027-01-21; the 2.8 image reached end of patch on 2026-08-06)."""

TRITON_IMAGE: Final = "nvcr.io/nvidia/tritonserver:26.09-py3"
"""Pinned Triton release (NGC monthly container; 26.09 is CUDA 13.4.1, compute capability >= 7.5,
so T4 and newer). Evidence: NVIDIA's release notes,
https://docs.nvidia.com/deeplearning/triton-inference-server/release-notes/rel-26-09.html.
CUDA 13 needs an R580+ driver on the node: keep the EKS NVIDIA AMI current before bumping.

Its S3 client cannot take EKS Pod Identity credentials: Triton's server build.py builds the
third-party tree at the release's own branch (`TRITON_THIRD_PARTY_REPO_TAG`, server r26.08: the
newest release branch of triton-inference-server/server here), and
triton-inference-server/third_party CMakeLists.txt builds aws-sdk-cpp with `GIT_TAG "1.11.60"` on
every branch and main up to the newest commit there (6f855c0, 2025-07-15: r25.01 ... r25.07,
main), while Pod Identity needs the C++ SDK 1.11.263 or later (EKS user guide, "Use pod identity
with the AWS SDK"). So Triton never reads S3 itself: `MODEL_SYNC_IMAGE` copies the served models
into the pod before it starts (workloads/triton.py)."""

MODEL_SYNC_IMAGE: Final = "public.ecr.aws/aws-cli/aws-cli:2.36.7"
"""AWS CLI v2 image of the Triton pods' model-sync init containers (`aws s3 sync` from the models
bucket into the pod, with the pod's EKS Pod Identity credentials). Evidence: aws/aws-cli tag 2.36.7
(2026-07-23, the newest release there); docker/Dockerfile at that tag builds the image on
Amazon Linux 2023 with ENTRYPOINT `/usr/local/bin/aws`, and the AWS CLI user guide ("Run the AWS
CLI from the official Amazon ECR Public or Docker images", "Use specific versions and tags")
publishes every release as `public.ecr.aws/aws-cli/aws-cli:<version>`. Pod Identity needs AWS
CLI 2.15.0 or later (EKS user guide, "Use pod identity with the AWS SDK"); at 2.36.7
awscli/botocore/credentials.py reads `AWS_CONTAINER_CREDENTIALS_FULL_URI` with
`AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`, and awscli/botocore/utils.py admits the Pod Identity
agent's address 169.254.170.23."""

EKS_REGISTRY_ACCOUNTS: Final[dict[str, str]] = {
    **dict.fromkeys(
        (
            "us-east-1",
            "us-east-2",
            "us-west-1",
            "us-west-2",
            "ca-central-1",
            "sa-east-1",
            "eu-central-1",
            "eu-north-1",
            "eu-west-1",
            "eu-west-2",
            "eu-west-3",
            "ap-northeast-1",
            "ap-northeast-2",
            "ap-northeast-3",
            "ap-south-1",
            "ap-southeast-1",
            "ap-southeast-2",
        ),
        "602401143452",
    ),
    "af-south-1": "877085696533",
    "ap-east-1": "800184023465",
    "ap-south-2": "900889452093",
    "ap-southeast-3": "296578399912",
    "ap-southeast-4": "491585149902",
    "ap-southeast-5": "151610086707",
    "ap-southeast-7": "121268973566",
    "ca-west-1": "761377655185",
    "eu-central-2": "900612956339",
    "eu-south-1": "590381155156",
    "eu-south-2": "455263428931",
    "il-central-1": "066635153087",
    "me-south-1": "558608220178",
    "me-central-1": "759879836304",
    "cn-north-1": "918309763551",
    "cn-northwest-1": "961992271922",
    "us-gov-east-1": "151742754352",
    "us-gov-west-1": "013241004608",
}
"""The ECR account that serves EKS add-on images per region. Evidence: EKS user guide, "View
Amazon container image registries for Amazon EKS add-ons" (add-ons-images)."""


def eks_registry(region: str) -> str | None:
    """The region's EKS image registry host, or None for a region the table lacks."""
    account = EKS_REGISTRY_ACCOUNTS.get(region)
    if account is None:
        return None
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{account}.dkr.ecr.{region}.{suffix}"


class ActionPin(NamedTuple):
    """A third-party GitHub Action pinned by commit, with the release tag that commit carries."""

    commit: str
    tag: str


PULUMI_ACTIONS: Final = ActionPin("8582a9e8cc630786854029b4e09281acd6794b58", "v6.6.1")
"""pulumi/actions in both workflows. Evidence: github.com/pulumi/actions, `git show-ref --tags
-d`: v6.6.1 (the latest v6.x; lightweight tag, the same commit as the moving `v6` tag) is commit
8582a9e8cc630786854029b4e09281acd6794b58, "Prepare changelog for 6.6.1 (#1395)"; its
action.yml declares every input the workflows pass (command, stack-name, cloud-url, policyPacks,
policyPackConfigs, comment-on-pr, diff, upsert, message). v7.0.0 exists and is not adopted here."""
