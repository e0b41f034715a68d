"""docker-compose.yml, checked with PyYAML (no Docker engine here): every service it names exists, every Chronicle
service has its health check on /readyz, METRICS_PORT, SMTP settings and the signing key, and the mail server it
points at is part of it."""
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
PACKAGES = sorted(p.parent.name for p in (ROOT / "services").glob("*/service.py") if p.parent.name != "gateway")


def chronicle_services():
    """The services on the kit (the gateway, with no store of its own, has its own checks below)."""
    return {name: s for name, s in SERVICES.items()
            if s.get("build", {}).get("dockerfile") == "deploy/Dockerfile" and name != "gateway"}


def test_one_container_per_service_package_and_nothing_that_cannot_start():
    ours = chronicle_services()
    assert sorted(ours) == PACKAGES
    for name, service in ours.items():
        module = service["command"][-1]
        assert module == f"services.{name}.service"
        assert (ROOT / (module.replace(".", "/") + ".py")).exists()


def test_every_dependency_and_volume_is_defined():
    for name, service in SERVICES.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in SERVICES, f"{name} depends on unknown {dependency}"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in COMPOSE["volumes"], f"{name} mounts undefined volume {source}"


def test_chronicle_services_are_healthy_when_ready_and_get_their_settings():
    for name, service in chronicle_services().items():
        test = service["healthcheck"]["test"]
        assert test[0] == "CMD" and test[1:3] == ["python", "-c"], name
        assert "/readyz" in test[3] and "METRICS_PORT" in test[3] and "urllib.request" in test[3]
        compile(test[3], "healthcheck", "exec")
        env = service["environment"]
        assert env["METRICS_PORT"].isdigit()
        assert env["SMTP_HOST"] in SERVICES, "e-mail goes to a server that is not part of the compose file"
        assert env["SMTP_PORT"].isdigit()
        assert env["SMTP_HOST"] in service["depends_on"]
        for secret in ("CHRONICLE_SIGNING_KEY", "CHRONICLE_TOKEN_KEY"):
            # From the environment or .env, and refused when missing: never a default key in the file.
            assert re.fullmatch(r"\$\{" + secret + r":\?[^}]+\}", env[secret]), secret


def test_every_container_has_a_health_check_its_dependants_wait_for():
    for name, service in SERVICES.items():
        assert "healthcheck" in service, name
        for dependency, condition in service.get("depends_on", {}).items():
            assert condition == {"condition": "service_healthy"}, (name, dependency)


def test_the_env_example_names_every_required_secret():
    example = (ROOT / "deploy" / "chronicle.env.example").read_text()
    required = set(re.findall(r"\$\{(\w+):\?", (ROOT / "docker-compose.yml").read_text()))
    assert required and all(re.search(rf"^{name}=", example, re.M) for name in required)


def test_the_gateway_is_published_and_verifies_tokens_from_the_services_store():
    gateway = SERVICES["gateway"]
    assert gateway["command"][-1] == "services.gateway.service"
    assert gateway["build"]["dockerfile"] == "deploy/Dockerfile"
    env = gateway["environment"]
    port = env["GATEWAY_ADDRESS"].rsplit(":", 1)[1]
    assert env["GATEWAY_ADDRESS"].startswith("0.0.0.0:") and f"{port}:{port}" in gateway["ports"]
    assert env["EVENTSTORE_URI"] == SERVICES["project"]["environment"]["EVENTSTORE_URI"]  # the tokens are there
    assert re.fullmatch(r"\$\{CHRONICLE_TOKEN_KEY:\?[^}]+\}", env["CHRONICLE_TOKEN_KEY"])
    assert f"127.0.0.1:{port}/openapi.json" in gateway["healthcheck"]["test"][3]
    assert set(gateway["depends_on"]) == set(PACKAGES)
