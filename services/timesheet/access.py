"""Who may call what on the timesheet service: the role rules (docs/services/timesheet.md, "Who may call").

Pure: the verified caller (``shared.identity.Identity``: ``subject``, ``role``, ``require``) and the facts come in
as values; a fact that costs a read comes as a callable, asked only when the rule needs it. Approving and
rejecting are decided in the domain too (``Timesheet.approve``: one's own hours, the projects one may decide for).
"""
from __future__ import annotations

from shared.errors import Forbidden

PEOPLE = ("admin", "manager", "employee")
DECIDERS = ("admin", "manager")
# A service identity (another Chronicle service, or an integration: payroll, ERP, invoicing) reads facts: weeks,
# a project's hours, exports. It never logs, decides or locks.
SERVICE = "service"


def own_hours(caller, employee_id, what):
    """Logging, amending, deleting and submitting: the employee themself or an admin (managers log only their
    own hours)."""
    caller.require(*PEOPLE, what=what)
    if caller.role != "admin" and caller.subject != employee_id:
        raise Forbidden(f"{what} is for the employee themself or an admin", code="auth.not_own")


def read_week(caller, employee_id, manages_a_project_of_the_week, what):
    """A week and its history: the employee themself, a manager (or delegate) of a project with hours in it, an
    admin, a service."""
    caller.require(*PEOPLE, SERVICE, what=what)
    if caller.role in ("admin", SERVICE) or caller.subject == employee_id:
        return
    if caller.role == "employee":
        raise Forbidden(f"{what}: another person's hours", code="auth.not_own")
    if not manages_a_project_of_the_week():
        raise Forbidden(f"{what}: you manage none of the projects of that week", code="auth.not_manager")


def decide_week(caller, what):
    """Approving and rejecting: managers and admins (which lines, and never one's own: ``Timesheet.approve``)."""
    caller.require(*DECIDERS, what=what)


def reopen_week(caller, employee_id, manages_a_project_of_the_week):
    """Reopening: an admin, or a manager of a project of the week who is not the employee whose week it is."""
    caller.require(*DECIDERS, what="reopening a week")
    if caller.role == "admin":
        return
    if caller.subject == employee_id:
        raise Forbidden("nobody reopens their own week, unless an admin", code="auth.self_approval")
    if not manages_a_project_of_the_week():
        raise Forbidden("reopening a week: you manage none of its projects", code="auth.not_manager")


def approval_queue(caller, approver_id) -> str:
    """Whose pending approvals: a manager's own (``approver_id`` omitted or their own id); an admin names anyone."""
    caller.require(*DECIDERS, what="pending approvals")
    if approver_id is None:
        return caller.subject
    if caller.role != "admin" and approver_id != caller.subject:
        raise Forbidden("approver_id names someone else: a manager sees their own queue", code="auth.impersonation")
    return approver_id


def project_report(caller, manages_the_project):
    """A project's hours: its manager, an admin or a service."""
    caller.require(*DECIDERS, SERVICE, what="a project's hours")
    if caller.role == "manager" and not manages_the_project():
        raise Forbidden("a project's hours are for its manager", code="auth.not_manager")


def any_person(caller, what):
    """The period lock: any person (not a service)."""
    caller.require(*PEOPLE, what=what)


def hours_export(caller):
    """Exports: admins, and services (payroll and invoicing take them)."""
    caller.require("admin", SERVICE, what="exporting hours")


def admin_only(caller, what):
    """Period locks."""
    caller.require("admin", what=what)


def correct_hours(caller, employee_id, manages_the_project, what):
    """Corrections after the lock (``correct_entry``, ``add_late_entry``): an admin, or the manager of the entry's
    project (now), never on their own hours (like approving)."""
    caller.require(*DECIDERS, what=what)
    if caller.role == "admin":
        return
    if caller.subject == employee_id:
        raise Forbidden(f"{what}: nobody corrects their own hours, unless an admin", code="auth.self_approval")
    if not manages_the_project():
        raise Forbidden(f"{what} is for an admin or the project's manager", code="auth.not_manager")
