"""Every pinned version the platform deploys, in one place.

Bump versions here, in one reviewed change, and nowhere else. Pins were checked on 2026-11-22
against the projects' release notes, tags and charts (noted beside each).
Before an upgrade, confirm add-on builds for the target Kubernetes minor with
`aws eks describe-addon-versions --kubernetes-version <minor> --addon-name <name>`.
"""

from __future__ import annotations

from typing import Final, NamedTuple

KUBERNETES_VERSION: Final = "1.36"
"""Default EKS minor for new clusters (GA on EKS 2026-06-02, standard support to 2027-08-02).
1.37 (GA 2026-10-01) becomes the default once its add-on builds are pinned below."""

EKS_SUPPORT_TYPE: Final = "STANDARD"
"""Upgrade policy: STANDARD avoids the extended-support surcharge ($0.60/h instead of $0.10/h)."""


class AddonVersions(NamedTuple):
    vpc_cni: str
    coredns: str
    kube_proxy: str
    pod_identity_agent: str
    ebs_csi_driver: str
    fsx_csi_driver: str


EKS_ADDONS: Final[dict[str, AddonVersions]] = {
    # Builds listed for these minors by `aws eks describe-addon-versions` as mirrored in public
    # EKS blueprints (1.36 set) and the EKS add-on documentation (kube-proxy/CoreDNS per minor).
    # Managed add-on builds per Kubernetes minor (kube-proxy and CoreDNS are per-minor).
    "1.36": AddonVersions(
        vpc_cni="v1.23.1-eksbuild.1",
        coredns="v1.14.6-eksbuild.4",
        kube_proxy="v1.36.0-eksbuild.25",
        pod_identity_agent="v1.4.0-eksbuild.2",
        ebs_csi_driver="v1.66.0-eksbuild.1",
        fsx_csi_driver="v1.10.0-eksbuild.2",
    ),
    "1.35": AddonVersions(
        vpc_cni="v1.23.1-eksbuild.1",
        coredns="v1.14.2-eksbuild.4",
        kube_proxy="v1.35.3-eksbuild.13",
        pod_identity_agent="v1.4.0-eksbuild.2",
        ebs_csi_driver="v1.66.0-eksbuild.1",
        fsx_csi_driver="v1.10.0-eksbuild.2",
    ),
}
"""vpc-cni >= 1.18.4 is required for `efa-only` network interfaces (p5 layout)."""


class Chart(NamedTuple):
    repo: str
    chart: str
    version: str


CHARTS: Final[dict[str, Chart]] = {
    # gpu-operator v26.7.0: NVIDIA release (supports Kubernetes 1.33-1.37).
    # cluster-autoscaler 9.59.1: newest chart published (app 1.35; image pinned per minor below).
    # aws-efa-k8s-device-plugin v0.5.32: eks-charts. kube-prometheus-stack 91.9.0 and keda 2.21.0:
    # newest published charts. kubeflow-trainer 2.3.0: Chart.yaml of the v2.3 release.
    "gpu-operator": Chart("https://helm.ngc.nvidia.com/nvidia", "gpu-operator", "v26.7.0"),
    "cluster-autoscaler": Chart(
        "https://kubernetes.github.io/autoscaler", "cluster-autoscaler", "9.59.1"
    ),
    "aws-efa-k8s-device-plugin": Chart(
        "https://aws.github.io/eks-charts", "aws-efa-k8s-device-plugin", "v0.5.32"
    ),
    "kube-prometheus-stack": Chart(
        "https://prometheus-community.github.io/helm-charts", "kube-prometheus-stack", "91.9.0"
    ),
    "keda": Chart("https://kedacore.github.io/charts", "keda", "2.21.0"),
    "kubeflow-trainer": Chart("oci://ghcr.io/kubeflow/charts", "kubeflow-trainer", "2.3.0"),
}
"""Helm charts (repository, chart, version)."""

CLUSTER_AUTOSCALER_IMAGE_TAG: Final[dict[str, str]] = {
    # The autoscaler's minor must match the cluster's; chart 9.59.1 ships 1.35.0.
    "1.36": "v1.36.1",
    "1.35": "v1.35.0",
}

KUBEFLOW_PIPELINES_REF: Final = "2.17.2"
"""Kubeflow Pipelines standalone manifests (kustomize, github.com/kubeflow/pipelines) tag."""

TRAINING_IMAGE: Final = (
    "public.ecr.aws/deep-learning-containers/pytorch-training:2.8.0-gpu-py312-cu129-ubuntu22.04-ec2"
)
"""AWS Deep Learning Container for EC2: PyTorch with the EFA installer and aws-ofi-nccl, so NCCL
runs over EFA. Used by the training template and the NCCL acceptance job."""

TRITON_IMAGE: Final = "nvcr.io/nvidia/tritonserver:26.09-py3"
"""Pinned Triton release (NGC monthly container; 26.09 is CUDA 13.4.1, compute capability >= 7.5,
so T4 and newer). Checked against the release notes index,
https://docs.nvidia.com/deeplearning/triton-inference-server/release-notes/rel-26-09.html.
CUDA 13 needs an R580+ driver on the node: keep the EKS NVIDIA AMI current before bumping."""
