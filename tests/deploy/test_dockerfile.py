"""deploy/Dockerfile, read as Docker reads it (no Docker engine is needed): dependencies from the lock before the
code, a base pinned by digest, a HEALTHCHECK on /healthz with Python alone, and a non-root user."""
import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def instructions(text):
    """(INSTRUCTION, arguments) pairs: comments dropped, backslash continuations joined."""
    lines, current = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        keyword, _, rest = current.partition(" ")
        lines.append((keyword.upper(), rest.strip()))
        current = ""
    return lines


def stages(steps):
    """Each stage's name and its instructions."""
    found = []
    for keyword, args in steps:
        if keyword == "FROM":
            words = args.split()
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            found.append({"from": words[0], "name": name, "steps": []})
        else:
            found[-1]["steps"].append((keyword, args))
    return found


STEPS = instructions(DOCKERFILE.read_text())
STAGES = stages(STEPS)


def test_every_external_base_is_pinned_by_digest():
    names = {s["name"] for s in STAGES}
    external = [s["from"] for s in STAGES if s["from"] not in names]
    assert external
    for image in external:
        assert DIGEST.search(image), f"{image} is not pinned by digest"


def test_the_documented_digest_is_the_one_used():
    digests = {DIGEST.search(s["from"]).group(0) for s in STAGES if DIGEST.search(s["from"])}
    readme = (ROOT / "deploy" / "README.md").read_text()
    assert all(d[1:] in readme for d in digests)


def test_multi_stage_with_the_locked_dependencies_installed_before_the_code_is_copied():
    assert len(STAGES) >= 2
    order = [(keyword, args) for keyword, args in STEPS]
    lock_copy = next(i for i, (k, a) in enumerate(order) if k == "COPY" and "requirements.lock" in a)
    install = next(i for i, (k, a) in enumerate(order)
                   if k == "RUN" and "pip install" in a and "requirements.lock" in a)
    code = [i for i, (k, a) in enumerate(order) if k == "COPY" and re.search(r"(^|\s)(shared|services|\.)(\s|/)", a)]
    assert code, "the code is never copied"
    assert lock_copy < install < min(code)
    assert "--require-hashes" in order[install][1]
    # Nothing copied before the install but the lock: a code change cannot invalidate that layer.
    before = [a for k, a in order[:install] if k in ("COPY", "ADD")]
    assert before == [order[lock_copy][1]]


def test_the_runtime_stage_reuses_the_installed_dependencies():
    runtime = STAGES[-1]
    copies = [a for k, a in runtime["steps"] if k == "COPY" and a.startswith("--from=")]
    dependency_stage = next(s["name"] for s in STAGES if any(
        k == "RUN" and "requirements.lock" in a for k, a in s["steps"]))
    assert any(a.startswith(f"--from={dependency_stage} ") for a in copies)
    # The project itself goes in without resolving (or fetching) anything again.
    installs = [a for k, a in runtime["steps"] if k == "RUN" and "pip install" in a]
    assert installs and all("--no-deps" in a for a in installs)


def test_healthcheck_calls_healthz_on_metrics_port_with_python_only():
    checks = [a for k, a in STEPS if k == "HEALTHCHECK"]
    assert len(checks) == 1
    command = checks[0][checks[0].index("CMD"):]
    argv = shlex.split(command[len("CMD"):].strip().strip("[]").replace('", "', '" "'))
    assert argv[0] == "python" and argv[1] == "-c"
    assert "urllib.request" in argv[2] and "/healthz" in argv[2] and "METRICS_PORT" in argv[2]
    assert "curl" not in command and "wget" not in command
    compile(argv[2], "healthcheck", "exec")  # the probe is valid Python
    env = " ".join(a for k, a in STAGES[-1]["steps"] if k == "ENV")
    assert "METRICS_PORT=" in env  # set in the image, so the probe always has a port


def test_runs_as_a_non_root_user():
    users = [a for k, a in STAGES[-1]["steps"] if k == "USER"]
    assert users, "no USER: the container would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    created = " ".join(a for k, a in STAGES[-1]["steps"] if k == "RUN")
    assert "useradd" in created and user in created
