"""Dependencies: pyproject.toml pins what the code imports (runtime) and what the tests use (dev); the two lock
files pin the same versions, and everything those pull in, with hashes. `make lock` regenerates them."""
import re
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# Runtime dependencies the code needs without importing them itself, and why.
NOT_IMPORTED = {
    "setuptools": "nameko's CLI imports pkg_resources without declaring setuptools",
    "prometheus-client": "the metrics endpoint of issue 13, built beside this change",
}
TEST_ONLY = {"aiosmtpd", "pytest", "pytest-docker", "pytest-timeout", "ruff", "pip-tools", "schemathesis"}


def normalize(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(requirements):
    found = {}
    for requirement in requirements:
        name, version = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s;]+)\s*", requirement).groups()
        found[normalize(name)] = version
    return found


def locked(path):
    """{package: version} of a pip-compile lock, and the packages without a hash."""
    text = (ROOT / path).read_text()
    entries = re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+)((?:\s*\\\n\s+--hash=sha256:[0-9a-f]{64})*)", text, re.M)
    return {normalize(n): v for n, v, _ in entries}, [normalize(n) for n, _, h in entries if not h]


RUNTIME = pins(PYPROJECT["project"]["dependencies"])
DEV = pins(PYPROJECT["project"]["optional-dependencies"]["dev"])


def test_every_dependency_is_pinned_exactly():
    assert RUNTIME and DEV  # pins() refuses anything but name==version


def test_the_runtime_lock_pins_pyproject_s_runtime_versions_with_hashes():
    lock, unhashed = locked("requirements.lock")
    assert unhashed == []
    for name, version in RUNTIME.items():
        assert lock.get(name) == version, f"requirements.lock has {name} {lock.get(name)}, pyproject {version}"
    assert not set(lock) & TEST_ONLY - set(RUNTIME), "a test tool is in the image's lock"


def test_the_dev_lock_pins_every_pyproject_version_and_agrees_with_the_runtime_lock():
    dev_lock, unhashed = locked("requirements-dev.lock")
    runtime_lock, _ = locked("requirements.lock")
    assert unhashed == []
    for name, version in {**RUNTIME, **DEV}.items():
        assert dev_lock.get(name) == version, f"requirements-dev.lock has {name} {dev_lock.get(name)}, pyproject {version}"
    assert {n: v for n, v in runtime_lock.items() if dev_lock.get(n) != v} == {}


def test_test_tools_are_dev_dependencies_only():
    assert not set(RUNTIME) & TEST_ONLY


def test_every_runtime_dependency_is_imported_by_the_code():
    code = "\n".join(p.read_text() for d in ("shared", "services") for p in (ROOT / d).rglob("*.py"))
    modules = {}  # installed distribution -> the top-level modules it provides
    for module, distributions in packages_distributions().items():
        for distribution in distributions:
            modules.setdefault(normalize(distribution), []).append(module)
    for name in RUNTIME:
        if name in NOT_IMPORTED:
            continue
        assert any(re.search(rf"^\s*(import|from) {m}\b", code, re.M) for m in modules.get(name, [])), \
            f"{name} is a runtime dependency nothing imports"
