"""Who may do what to a resource: the role rules, decided on the verified caller (``shared.identity.Identity``) and
the facts as they stand. Pure: no nameko, no I/O. A rule returns, or raises ``Forbidden`` with the platform's codes
(``auth.role``, ``auth.not_own``, ``auth.not_manager``)."""
from __future__ import annotations

from shared.errors import Forbidden

PEOPLE = ("admin", "manager", "employee")
PLANNERS = ("admin", "manager")  # book people on projects and read everyone's planning


def require_self(caller, resource_id, *roles, what):
    """A person acts on their own resource; ``roles`` (admin always) on anyone's. Services act for nobody."""
    caller.require(*PEOPLE, what=what)
    if caller.role not in ("admin", *roles) and caller.subject != resource_id:
        raise Forbidden(f"{what} of another person is not yours to see or change", code="auth.not_own")


def managed(caller, project: dict) -> dict:
    """The project (``{project_id, status, manager_id}``), which a manager may act on only if they manage it."""
    if caller.role != "admin" and project["manager_id"] != caller.subject:
        raise Forbidden(f"you do not manage project {project['project_id']}", code="auth.not_manager")
    return project


def listed_only(caller) -> str | None:
    """The one resource a caller sees in the list, or None for all: managers staff projects from the whole list,
    an employee sees themself."""
    caller.require(*PEOPLE, what="the list of resources")
    return caller.subject if caller.role == "employee" else None
