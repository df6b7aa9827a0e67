"""The shipped deployment files: Kubernetes manifests checked offline against the API schemas
(kubernetes-validate's bundled ones), and the image and Compose file checked against what the
app and the shipped nginx site expect. ``docker build`` itself is not needed by these tests."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
MANIFESTS = sorted((DEPLOY / "kubernetes").glob("*.yaml"))
#: The oldest Kubernetes release still maintained when these were written; newer ones accept them too.
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())


def _documents() -> list[tuple[str, dict[str, Any]]]:
    return [(path.name, doc) for path in MANIFESTS for doc in yaml.safe_load_all(path.read_text()) if doc]


def _kind(kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for _, d in _documents() if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}"
    return found[0]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize(("file", "doc"), _documents(), ids=lambda v: v if isinstance(v, str) else v["kind"])
def test_manifest_is_valid_kubernetes(file: str, doc: dict[str, Any], version: str) -> None:
    # strict: a misspelt or misplaced field is an error, not silently ignored by the API server.
    kubernetes_validate.validate(doc, version, strict=True)


def test_a_misplaced_field_is_refused() -> None:
    doc = yaml.safe_load((DEPLOY / "kubernetes" / "service.yaml").read_text())
    doc["spec"]["ports"][0]["targetport"] = 8000
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, KUBERNETES_VERSIONS[0], strict=True)


def test_every_resource_kind_the_runbook_names_is_shipped() -> None:
    kinds = {d["kind"] for _, d in _documents()}
    assert {"Deployment", "Service", "Ingress", "ConfigMap", "Secret", "Job", "PodDisruptionBudget"} <= kinds


def test_probes_migrations_and_routing_match_the_app() -> None:
    pod = _kind("Deployment")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert pod["securityContext"]["runAsNonRoot"] is True
    job = _kind("Job")["spec"]["template"]["spec"]["containers"][0]
    assert job["command"] == ["kumppani", "migrate"] and job["image"] == container["image"]
    boards = _kind("Ingress", "kumppani-boards")
    assert boards["metadata"]["annotations"]["nginx.ingress.kubernetes.io/upstream-hash-by"] == "$uri"
    assert int(boards["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    assert [p["path"] for r in boards["spec"]["rules"] for p in r["http"]["paths"]] == ["/ws/"]
    selector = _kind("PodDisruptionBudget")["spec"]["selector"]["matchLabels"]
    assert selector.items() <= _kind("Deployment")["spec"]["template"]["metadata"]["labels"].items()


def test_configured_variables_are_documented_settings() -> None:
    readme = (ROOT / "README.md").read_text()
    for kind in ("ConfigMap", "Secret"):
        data = _kind(kind).get("data") or _kind(kind).get("stringData")
        for key in data:
            assert f"`{key}`" in readme, f"{key} is not in README.md's configuration table"
    secret = _kind("Secret")["stringData"]
    assert secret["KUMPPANI_SECRET_KEY"] == "" and "PASSWORD@" in secret["KUMPPANI_DATABASE_URL"]


def test_image_is_multi_stage_unprivileged_and_without_development_tools() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", dockerfile, re.MULTILINE)) >= 2
    user = re.findall(r"^USER (\S+)", dockerfile, re.MULTILINE)
    assert user and not user[-1].startswith(("root", "0"))
    install = next(line for line in dockerfile.splitlines() if "pip install" in line)
    assert "-c requirements.lock" in install and "[dev]" not in install and "-e " not in install


def test_compose_runs_migrations_once_then_two_processes_behind_the_shipped_site() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"nginx", "db", "redis", "migrate"} <= services.keys()
    assert services["migrate"]["command"] == ["kumppani", "migrate"]
    apps = {name: s for name, s in services.items() if s.get("command", [None, None])[:2] == ["kumppani", "serve"]}
    assert len(apps) >= 2
    shipped_upstreams = set(re.findall(r"server 127\.0\.0\.1:(\d+);", (DEPLOY / "nginx.conf").read_text()))
    ports = {s["command"][s["command"].index("--port") + 1] for s in apps.values()}
    assert ports == shipped_upstreams
    for app in apps.values():
        assert app["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert app["network_mode"] == "service:nginx"
    assert "./nginx.conf:/etc/nginx/conf.d/default.conf:ro" in services["nginx"]["volumes"]
    assert "--requirepass" in services["redis"]["command"]
