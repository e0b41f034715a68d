"""deploy/k8s (kustomize), checked with PyYAML, and rendered with `kubectl kustomize` where kubectl is installed:
a Deployment per service with probes and resources, placeholders only in the Secret, every file listed."""
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
KUSTOMIZATION = yaml.safe_load((K8S / "kustomization.yaml").read_text())
PACKAGES = sorted(p.parent.name for p in (ROOT / "services").glob("*/service.py") if p.parent.name != "gateway")


def documents():
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def deployments(docs):
    """The kit services' Deployments (the gateway's has its own checks)."""
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] != "gateway"}


def test_kustomization_lists_every_manifest_and_nothing_else():
    files = sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted(KUSTOMIZATION["resources"]) == files


def test_a_deployment_per_service_with_probes_resources_and_no_root():
    found = deployments(documents())
    assert sorted(found) == PACKAGES
    for name, deployment in found.items():
        spec = deployment["spec"]
        assert spec["replicas"] >= 1
        pod = spec["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        (container,) = pod["containers"]
        assert container["command"][-1] == f"services.{name}.service"
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}, name
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}, name
        for kind in ("requests", "limits"):
            assert set(container["resources"][kind]) == {"cpu", "memory"}, (name, kind)
        sources = {next(iter(s.values()))["name"] for s in container["envFrom"]}
        assert sources == {"chronicle-config", "chronicle-secrets"}
        config = next(d for d in documents() if d["kind"] == "ConfigMap")
        assert int(config["data"]["METRICS_PORT"]) == ports["metrics"]


def test_the_gateway_has_a_deployment_probed_over_http_and_a_service():
    docs = documents()
    deployment = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "gateway")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    assert container["command"][-1] == "services.gateway.service"
    env = {e["name"]: e["value"] for e in container["env"]}
    port = {p["name"]: p["containerPort"] for p in container["ports"]}["http"]
    assert env["GATEWAY_ADDRESS"] == f"0.0.0.0:{port}"
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/openapi.json", "port": "http"}
    service = next(d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == "gateway")
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert service["spec"]["ports"][0]["targetPort"] == "http"


def test_external_clusters_and_secrets_are_placeholders():
    docs = documents()
    assert not [d for d in docs if d["kind"] == "StatefulSet"]  # KurrentDB and RabbitMQ are not bundled
    secret = next(d for d in docs if d["kind"] == "Secret")
    values = secret["stringData"]
    for key in ("CHRONICLE_SIGNING_KEY", "SMTP_PASSWORD", "AMQP_URI", "EVENTSTORE_URI"):
        assert "REPLACE-ME" in values[key], key
    config = next(d for d in docs if d["kind"] == "ConfigMap")
    assert not set(config["data"]) & set(values)  # each setting has one home


@pytest.mark.skipif(not shutil.which("kubectl"), reason="kubectl is not installed: the offline render is not run")
def test_kubectl_kustomize_renders_offline():
    rendered = subprocess.run(["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=120)
    assert rendered.returncode == 0, rendered.stderr
    docs = [d for d in yaml.safe_load_all(rendered.stdout) if d]
    found = deployments(docs)
    assert sorted(found) == PACKAGES
    for deployment in found.values():
        assert deployment["metadata"]["namespace"] == KUSTOMIZATION["namespace"]
        image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        assert image == f"{KUSTOMIZATION['images'][0]['newName']}:{KUSTOMIZATION['images'][0]['newTag']}"
