"""Who may do what to a project: the role rules, decided on the verified caller (``shared.identity.Identity``) and
the project as it stands. Pure: no nameko, no I/O. A rule returns, or raises ``Forbidden`` with the platform's
codes (``auth.role``, ``auth.not_manager``).

The rules on one project take ``load`` (a callable returning it) and check the caller's role before calling it:
whoever may never do this learns nothing from it, not even whether the project exists."""
from __future__ import annotations

from shared.errors import Forbidden

from .domain import Project


def require_may_create(caller, manager_id: str):
    """An admin creates any project; a manager only one they manage themselves."""
    caller.require("admin", "manager", what="creating a project")
    if caller.role == "manager" and manager_id != caller.subject:
        raise Forbidden("a manager creates projects with themselves as manager_id", code="auth.not_manager")


def managed(caller, load, what: str = "managing a project") -> Project:
    """Commands, progress and history: an admin, or the project's current manager."""
    caller.require("admin", "manager", what=what)
    project = load()
    if caller.role == "manager" and project.manager_id != caller.subject:
        raise Forbidden(f"you do not manage project {project.code}", code="auth.not_manager")
    return project


def readable(caller, load) -> Project:
    """Reading a project: an admin, its manager, or one of its members."""
    caller.require("admin", "manager", "employee", what="reading a project")
    project = load()
    if caller.role != "admin" and caller.subject != project.manager_id and caller.subject not in project.members:
        raise Forbidden(f"you neither manage nor are a member of project {project.code}", code="auth.not_manager")
    return project


MONEY = ("budget_amount", "hourly_rate")  # a project's money figures, in its answer and its summary


def as_seen_by(caller, manager_id: str, answer: dict) -> dict:
    """A project's answer (``Project.to_dict`` or a summary) as ``caller`` may see it: whole to an admin and to the
    project's manager (``manager_id``, as it stands now); to anyone else without its money figures and without the
    other members' rates, since a member reads the project but the rates and the budget are its manager's."""
    if caller.role == "admin" or caller.subject == manager_id:
        return answer
    seen = {k: v for k, v in answer.items() if k not in MONEY}
    if "budget" in answer:
        seen["budget"] = {k: v for k, v in answer["budget"].items() if k != "amount"}
    if "phases" in answer:
        seen["phases"] = [{k: v for k, v in phase.items() if k != "budget_amount"} for phase in answer["phases"]]
    if "members" in answer:
        seen["members"] = [m if m["employee_id"] == caller.subject else
                           {k: v for k, v in m.items() if k != "hourly_rate"} for m in answer["members"]]
    return seen


def require_lists(caller):
    """Listing projects: an admin sees all; a manager or an employee the ones they manage or are members of."""
    caller.require("admin", "manager", "employee", what="listing projects")


# -- money (issue 16) -------------------------------------------------------------------------------------------------
def require_admin(caller, what: str):
    """Clients and their default rates: created and changed by admins only."""
    caller.require("admin", what=what)


def require_reads_clients(caller):
    """Reading clients: admins and managers (a manager sees a client's projects that they manage, and their figures)."""
    caller.require("admin", "manager", what="reading clients")


def require_reads_profitability(caller):
    """Profitability: an admin over every project, a manager over the projects they manage."""
    caller.require("admin", "manager", what="reading profitability")
