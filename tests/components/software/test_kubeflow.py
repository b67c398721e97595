"""Kubeflow under recording mocks: cert-manager before Pipelines, generated credentials instead of
KFP's defaults, our kustomize overlay of the platform-agnostic install (cert-manager for the cache
webhook, no cache deployer) and kustomize URLs in the form kustomize reads."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest
import yaml

from components import versions
from components.resolve.software import KubeflowSpec
from components.software import kubeflow as kf
from scripts.plan.stages.kubernetes import check, manifest
from tests.conftest import Recorded
from tests.support import ROOT, platform

COMPONENT = "gpuplatform:index:Kubeflow"
RELEASE = "kubernetes:helm.sh/v3:Release"
DIRECTORY = "kubernetes:kustomize/v2:Directory"
SECRET = "kubernetes:core/v1:Secret"
NAMESPACE = "kubernetes:core/v1:Namespace"
PASSWORD = "random:index/randomPassword:RandomPassword"
NAME = "kf"
REMOTE = re.compile(
    r"^https://github\.com/(?P<org>[\w.-]+)/(?P<repo>[\w.-]+)//(?P<path>[\w./-]+)\?ref=(?P<ref>[\w.-]+)$"
)
OVERLAY_FILE = kf.OVERLAY / "kustomization.yaml"


def overlay() -> dict[str, Any]:
    return yaml.safe_load(OVERLAY_FILE.read_text())


def kustomize_urls() -> list[str]:
    """Every remote kustomize directory the platform applies: the component's and the overlay's."""
    spec = platform("prod").kubeflow
    assert spec is not None
    code = [d for d in kf.pipelines_directories(spec.pipelines_ref) if "://" in d]
    files = [
        r
        for path in (ROOT / "workloads" / "kustomize").rglob("kustomization.yaml")
        for r in yaml.safe_load(path.read_text()).get("resources", [])
        if "://" in r
    ]
    return code + files


@pytest.fixture(scope="module")
def recorded() -> Recorded:
    from scripts.plan.runner import run_function

    spec = platform("prod").kubeflow
    assert spec is not None

    def body() -> None:
        provider = k8s.Provider("k8s", kubeconfig="{}")
        kf.Kubeflow(NAME, spec, provider)

    registrations, outputs = run_function(
        body, stack="test", project="gpu-platform", config={"aws:region": "us-east-1"}
    )
    return Recorded(registrations, outputs)


# --------------------------------------------------------------------------- URLs


def test_no_kustomize_url_uses_the_browser_tree_form():
    urls = kustomize_urls()
    assert urls, "nothing to check"
    for url in urls:
        assert "/tree/" not in url, url
        match = REMOTE.match(url)
        assert match, f"{url}: not https://github.com/<org>/<repo>//<path>?ref=<tag>"


def test_every_kfp_url_is_at_the_pinned_tag():
    for url in kustomize_urls():
        match = REMOTE.match(url)
        assert match is not None
        if match["repo"] == "pipelines":
            assert match["ref"] == versions.KUBEFLOW_PIPELINES_REF, url


def test_remote_builds_the_kustomize_form():
    assert kf.remote("/env/x/", "1.2.3") == (
        "https://github.com/kubeflow/pipelines//manifests/kustomize/env/x?ref=1.2.3"
    )


def test_directories_are_the_cert_manager_crds_then_our_overlay():
    crds, ours = kf.pipelines_directories("9.9.9")
    assert crds == kf.remote("env/cert-manager/cluster-scoped-resources", "9.9.9")
    assert (Path.cwd() / ours).resolve() == kf.OVERLAY
    assert not Path(ours).is_absolute()  # the same input on every machine


# --------------------------------------------------------------------------- the overlay


def test_overlay_adds_kfp_cert_manager_base_to_the_platform_agnostic_install():
    paths = {REMOTE.match(r)["path"] for r in overlay()["resources"]}  # type: ignore[index]
    assert paths == {
        "manifests/kustomize/env/platform-agnostic",
        "manifests/kustomize/env/cert-manager/base",
    }
    assert overlay()["namespace"] == kf.PIPELINES_NAMESPACE


def _patches() -> list[Any]:
    return [yaml.safe_load(p["patch"]) for p in overlay()["patches"]]


def test_overlay_deletes_the_cache_deployer_and_the_default_secrets():
    deleted = {
        (p["kind"], p["metadata"]["name"])
        for p in _patches()
        if isinstance(p, dict) and p.get("$patch") == "delete"
    }
    assert deleted == {
        ("Deployment", "cache-deployer-deployment"),
        ("Role", "kubeflow-pipelines-cache-deployer-role"),
        ("RoleBinding", "kubeflow-pipelines-cache-deployer-rolebinding"),
        ("Secret", kf.MYSQL_SECRET),
        ("Secret", kf.OBJECT_STORE_SECRET),
    }


def test_overlay_gives_cache_server_the_certificate_and_mysql_its_password():
    by_target = {
        p["target"]["name"]: yaml.safe_load(p["patch"])
        for p in overlay()["patches"]
        if "target" in p
    }
    args = [op["value"] for op in by_target["cache-server"] if op["op"] == "add"]
    assert args == ["--tls_cert_filename=tls.crt", "--tls_key_filename=tls.key"]
    test, replace = by_target["mysql"]
    assert test == {
        "op": "test",
        "path": "/spec/template/spec/containers/0/env/0/name",
        "value": "MYSQL_ALLOW_EMPTY_PASSWORD",
    }
    assert replace["value"] == {
        "name": "MYSQL_ROOT_PASSWORD",
        "valueFrom": {"secretKeyRef": {"name": kf.MYSQL_SECRET, "key": "password"}},
    }


def test_overlay_fills_in_the_namespace_of_the_cache_certificate():
    (replacement,) = overlay()["replacements"]
    targets = {(t["select"]["kind"], t["select"]["name"]) for t in replacement["targets"]}
    assert targets == {
        ("Certificate", "kfp-cache-cert"),
        ("MutatingWebhookConfiguration", "cache-webhook-kubeflow"),
    }


# --------------------------------------------------------------------------- the component


def test_cert_manager_is_pinned_with_its_crds_from_the_chart(recorded: Recorded):
    release = recorded.one(RELEASE, f"{NAME}-cert-manager")
    chart = versions.CHARTS["cert-manager"]
    assert (release.inputs["chart"], release.inputs["version"]) == (chart.chart, chart.version)
    assert release.inputs["repositoryOpts"]["repo"] == "https://charts.jetstack.io"
    assert release.inputs["values"]["crds"] == {"enabled": True, "keep": True}
    assert release.inputs["namespace"] == kf.CERT_MANAGER_NAMESPACE


def test_pipelines_wait_for_cert_manager_crds_and_secrets(recorded: Recorded):
    crds = recorded.one(DIRECTORY, f"{NAME}-pipelines-0")
    ours = recorded.one(DIRECTORY, f"{NAME}-pipelines-1")
    cert_manager = recorded.one(RELEASE, f"{NAME}-cert-manager")
    secrets = recorded.of_type(SECRET)
    namespace = recorded.one(NAMESPACE, f"{NAME}-pipelines-namespace")
    assert set(ours.dependencies) >= {
        cert_manager.urn,
        crds.urn,
        namespace.urn,
        *(s.urn for s in secrets),
    }
    assert namespace.urn in crds.dependencies
    assert ours.inputs["directory"] == kf.pipelines_directories(versions.KUBEFLOW_PIPELINES_REF)[1]


def test_secrets_have_kfps_names_and_keys_from_generated_values(recorded: Recorded):
    secrets = {s.inputs["metadata"]["name"]: s for s in recorded.of_type(SECRET)}
    assert set(secrets) == {kf.MYSQL_SECRET, kf.OBJECT_STORE_SECRET}
    mysql = secrets[kf.MYSQL_SECRET].inputs["stringData"]
    store = secrets[kf.OBJECT_STORE_SECRET].inputs["stringData"]
    assert set(mysql) == {"username", "password"} and set(store) == {"accesskey", "secretkey"}
    # Values generated by random.RandomPassword (secret in the state, never in code): the
    # Secrets' data comes from the three generators (no upstream default survives).
    passwords = {p.urn for p in recorded.of_type(PASSWORD)}
    assert len(passwords) == 3
    used = set()
    for secret in secrets.values():
        used |= set(secret.property_dependencies.get("stringData", []))
    assert used == passwords
    assert all(p.inputs["special"] is False for p in recorded.of_type(PASSWORD))
    assert "minio123" not in str([s.inputs for s in secrets.values()])
    for secret in secrets.values():
        assert secret.inputs["metadata"]["namespace"] == kf.PIPELINES_NAMESPACE
        assert check(manifest({"type": SECRET, "inputs": secret.inputs}) or {}, "1.36") == []


def test_every_child_is_parented_and_named_from_the_component(recorded: Recorded):
    component = recorded.one(COMPONENT, NAME)
    children = recorded.children(component.urn)
    assert children and all(r.name.startswith(f"{NAME}-") for r in children)
    assert {r.type for r in children} == {RELEASE, DIRECTORY, SECRET, NAMESPACE, PASSWORD}


def test_without_pipelines_only_the_trainer_is_installed(run_pulumi):
    def body() -> None:
        kf.Kubeflow(NAME, KubeflowSpec(pipelines=False, pipelines_ref="x"), k8s.Provider("k8s"))
        pulumi.export("ok", True)

    recorded = run_pulumi(body)
    component = recorded.one(COMPONENT, NAME)
    assert [r.name for r in recorded.children(component.urn)] == [f"{NAME}-trainer"]


def test_kubeflow_follows_its_addon():
    kubeflow = platform("prod").kubeflow
    assert kubeflow is not None and kubeflow.pipelines is True
    assert kubeflow.pipelines_ref == versions.KUBEFLOW_PIPELINES_REF
    assert platform("dev").kubeflow is None
