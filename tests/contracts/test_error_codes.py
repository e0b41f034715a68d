"""docs/errors.md is generated from the source: never stale, and every code a service can return is in it, the
ones written as f-strings too."""
import os
import shutil
import textwrap

from shared import error_codes
from shared.error_codes import KIT, Scanner


def codes_by_owner(root=error_codes.ROOT):
    out = {}
    for c in Scanner(root).codes():
        out.setdefault(c.owner, set()).add(c.code)
    return out


def test_the_committed_errors_doc_is_what_the_source_generates():
    assert not error_codes.stale(), "run `chronicle errors` (make contracts) and commit docs/errors.md"


def test_codes_are_found_with_their_service_and_f_strings_are_resolved():
    found = codes_by_owner()
    assert {"validation_failed", "concurrency_conflict", "read_model.behind", "auth.missing"} <= found[KIT]
    assert "timesheet.period_locked" in found["timesheet"]
    # f"project.{role}_unknown": role from the callers of _require_active_resource
    assert {"project.manager_unknown", "project.employee_unknown", "project.manager_inactive"} <= found["project"]
    # the kit's f"{what}.not_found": each service's own what=
    assert "project.not_found" in found["project"] and "webhook.not_found" in found["notification"]
    assert not any(code.endswith(".not_found") and "{" in code for codes in found.values() for code in codes)
    # code=exc.code inside `except TargetRefused as exc`: the codes TargetRefused is built with
    assert {"webhook.private_address", "webhook.unresolvable_host"} <= found["notification"]
    unresolved = [c for c in Scanner().codes() if not c.resolved]
    assert not unresolved, "write these codes so the source says their values (a literal, or a parameter's)"


def test_a_new_code_is_picked_up_and_one_the_source_does_not_say_is_listed_as_a_pattern(tmp_path):
    shutil.copytree(os.path.join(error_codes.ROOT, "shared"), tmp_path / "shared")
    (tmp_path / "services" / "billing").mkdir(parents=True)
    (tmp_path / "docs").mkdir()
    (tmp_path / "services" / "billing" / "service.py").write_text(textwrap.dedent("""
        from shared.errors import Forbidden, NotFound as Missing

        def refuse(reason):
            raise Forbidden("no", code=f"billing.{reason}")

        def check(caller, invoice, level):
            refuse("not_an_accountant")
            raise Missing(f"invoice {invoice}", code=f"billing.{level()}")
    """))
    codes = [c for c in Scanner(tmp_path).codes() if c.owner == "billing"]
    assert [(c.code, c.error, c.resolved) for c in codes] == [
        ("billing.not_an_accountant", "Forbidden", True), ("f'billing.{level()}'", "NotFound", False)]
    assert error_codes.stale(tmp_path)
    error_codes.write(tmp_path)
    assert not error_codes.stale(tmp_path)
    doc = (tmp_path / "docs" / "errors.md").read_text()
    assert "| `billing.not_an_accountant` | Forbidden | 403 |" in doc
    assert "`f'billing.{level()}'` (a pattern: its values are not in the source)" in doc
