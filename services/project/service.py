"""The project nameko service: thin RPC methods over the Project aggregate and its read models."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal

from shared import entrypoints
from shared.catalog import CATEGORIES, sources
from shared.entrypoints import rpc
from shared.errors import Conflict, RuleViolation
from shared.eventstore.base import NO_STREAM, NewEvent, WrongExpectedVersion
from shared.handling import derive_id, event_id
from shared.kit import Chronicle
from shared.validation import hours, load

from . import access, schemas
from .domain import Project, normalise_code
from .events import events
from .projections import (
    ProjectsView,
    ResourcesView,
    TimeEntriesView,
    entries_by_employee,
    resource_state,
    used_centi,
)
from .reactors import BudgetWatch

CODE_CATEGORY = "projectcode"


def _summary(row) -> dict:
    return {
        "id": row["id"], "code": row["code"], "name": row["name"], "customer": row["customer"],
        "manager_id": row["manager_id"], "status": row["status"], "billable": bool(row["billable"]),
        "starts_on": row["starts_on"], "ends_on": row["ends_on"], "budget_hours": hours(row["budget_centi"]),
        "budget_amount": row["budget_amount"], "currency": row["currency"], "hourly_rate": row["hourly_rate"],
        "version": row["version"],
    }


def percent(part: int, whole: int) -> float:
    """part / whole x 100 to 1 decimal, rounded half up exactly (1.25 -> 1.3)."""
    return float((Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


class ProjectService(entrypoints.KitService):  # by its module: `nameko run` starts every class it finds
    name = "project"
    chronicle = Chronicle(
        categories=CATEGORIES["project"], events=events, internal_categories=[CODE_CATEGORY],
        projections=lambda: [ProjectsView(), ResourcesView(), TimeEntriesView()],
        sources=sources("resource", "timesheet"), reactors=lambda: [BudgetWatch()],
    )

    # -- foreign facts: recorded by the kit's handlers (KitService), one per source ----------------
    def _require_active_resource(self, resource_id, role):
        # fresh: the resource feed is pulled first, so a deactivation already committed is always seen
        state = self.chronicle.ensure(
            lambda db: resource_state(db, resource_id) is not None, "resource",
            RuleViolation(f"{role} {resource_id} is not a known resource", code=f"project.{role}_unknown"),
            fresh=True,
        )
        if state and not self.chronicle.query(lambda db: resource_state(db, resource_id)):
            raise RuleViolation(f"{role} {resource_id} is not an active resource", code=f"project.{role}_inactive")

    def _get(self, project_id, as_of=None) -> Project:
        return self.chronicle.get(Project, project_id, as_of=as_of, what="project")

    def _managed(self, project_id, what="managing a project") -> Project:
        """The project, if the caller may manage it. Commands check this first, before a retry is recognised:
        a ``command_id`` answers only those who may send the command now."""
        return access.managed(self.chronicle.caller, lambda: self._get(project_id), what)

    def _replayed(self, args):
        """The first outcome of a retried command on this project (before checks that may fail now), or None."""
        return self.chronicle.replayed(Project, args["project_id"], args.get("command_id"))

    def _execute(self, args, decide, expected_version=None):
        caller = self.chronicle.caller

        def managed_decide(project):
            access.managed(caller, lambda: project)  # again on the state appended to: a handover meanwhile counts
            decide(project)

        return self.chronicle.execute(Project, args["project_id"], managed_decide,
                                      command_id=args.get("command_id"), expected_version=expected_version)

    # -- commands -----------------------------------------------------------------------------
    @rpc
    def create_project(self, **kwargs):
        args = load(schemas.CreateProjectSchema, kwargs)
        access.require_may_create(self.chronicle.caller, args["manager_id"])
        # Always a command id: the code reservation names it so a half-done creation can be finished.
        command_id = args.pop("command_id") or f"create-project:{uuid.uuid4()}"
        project_id = derive_id(command_id, "project")
        # A retry returns its first result before any check that could fail now (a manager since deactivated).
        first = self.chronicle.replayed(Project, project_id, command_id)
        if first is not None:
            return {**first.aggregate.to_dict(), "position": first.position}
        if self.chronicle.store.stream_version(f"{Project.category}-{project_id}") is not None:
            creation = None  # made by another command (should not happen): refused below, nothing reserved
        else:
            held = self._reservation(args["code"])
            if held is not None and held["project_id"] == project_id:
                # A retry of a creation cut short after its reservation: finish it as first decided,
                # whatever changed since, as any other creation with this code would.
                creation = held["creation"]
            else:
                self._require_active_resource(args["manager_id"], "manager")
                creation = dict(args)
                creation["budget_centi"] = creation.pop("budget_hours")
                self._reserve_code(args["code"], project_id, command_id, creation)

        def decide(project):
            if creation is None:
                raise Conflict(f"project {project_id} already exists", code="project.exists")
            project.create(**creation)

        outcome = self.chronicle.execute(Project, project_id, decide, command_id=command_id)
        return {**outcome.aggregate.to_dict(), "position": outcome.position}

    def _reservation(self, code):
        """The creation holding ``code`` (``ProjectCodeReserved`` data), or None."""
        held = self.chronicle.stream(f"{CODE_CATEGORY}-{normalise_code(code)}")
        return held[-1].data if held else None

    def _reserve_code(self, code, project_id, command_id, creation):
        """Codes are unique: the first append to ``projectcode-<CODE>`` wins (NO_STREAM)."""
        stream = f"{CODE_CATEGORY}-{normalise_code(code)}"
        actor = self.chronicle.metadata()["actor"]
        data = {"code": code, "project_id": project_id, "command_id": command_id, "actor": actor, "creation": creation}
        events.validate("ProjectCodeReserved", data)
        reservation = NewEvent(type="ProjectCodeReserved", data=data, id=event_id(command_id, stream, 0),
                               metadata={**self.chronicle.metadata(), "command_id": command_id})
        try:
            self.chronicle.append(stream, [reservation], NO_STREAM)
            return
        except WrongExpectedVersion:
            pass
        held = self._reservation(code)
        if held["project_id"] == project_id:
            return  # our own reservation: a concurrent retry of this command
        # Someone else holds the code. If its creation never finished (a crash between the two
        # appends), finish it now with its own command id, so the code always names a project.
        self.chronicle.execute(Project, held["project_id"], lambda p: p.exists or p.create(**held["creation"]),
                               command_id=held["command_id"])
        raise Conflict(f"project code {code!r} is already taken", code="project.code_taken")

    @rpc
    def update_project(self, **kwargs):
        args = load(schemas.UpdateProjectSchema, kwargs)
        fixed = ("project_id", "expected_version", "command_id")
        changes = {k: v for k, v in args.items() if k not in fixed}
        project = self._managed(args["project_id"])
        first = self._replayed(args)
        if first is not None:
            return {**first.aggregate.to_dict(), "position": first.position}
        if changes.get("manager_id", project.manager_id) != project.manager_id:
            self._require_active_resource(changes["manager_id"], "manager")
        used = None
        if "budget_hours" in changes and changes["budget_hours"] is None:
            used = self.chronicle.query(lambda db: used_centi(db, args["project_id"]))

        def decide(project):
            project.update(changes)
            if used is not None:
                project.note_hours(used)  # no budget, no thresholds: the reached ones are cleared at once

        outcome = self._execute(args, decide, expected_version=args["expected_version"])
        return {**outcome.aggregate.to_dict(), "position": outcome.position}

    @rpc
    def add_task(self, **kwargs):
        args = load(schemas.AddTaskSchema, kwargs)
        self._managed(args["project_id"])
        # The command id is scoped to the project: the same id sent to another project adds another task.
        task_id = derive_id(args["command_id"], f"task/{args['project_id']}")
        outcome = self._replayed(args) or self._execute(
            args, lambda p: p.add_task(task_id, args["name"], args["estimate_hours"], args["billable"]))
        if outcome.replayed and outcome.events:
            task_id = outcome.events[0].data["task_id"]  # the first result, whatever id it was derived as
        task = next(t for t in outcome.aggregate.to_dict()["tasks"] if t["id"] == task_id)
        return {**task, "project_id": args["project_id"], "position": outcome.position}

    @rpc
    def close_task(self, **kwargs):
        args = load(schemas.CloseTaskSchema, kwargs)
        self._managed(args["project_id"])
        outcome = self._execute(args, lambda p: p.close_task(args["task_id"]))
        task = next(t for t in outcome.aggregate.to_dict()["tasks"] if t["id"] == args["task_id"])
        return {**task, "project_id": args["project_id"], "position": outcome.position}

    @rpc
    def assign_member(self, **kwargs):
        args = load(schemas.AssignMemberSchema, kwargs)
        self._managed(args["project_id"])
        # A retry returns its first result before the resource check, which may fail now (since deactivated).
        outcome = self._replayed(args)
        if outcome is None:
            wanted = {"employee_id": args["employee_id"], "role": args["role"], "hourly_rate": args["hourly_rate"]}
            checked = []

            def decide(project):
                # Assigning the same role and rate again records nothing, so it checks nothing either
                # (a retry of such a no-op has no first event to replay).
                if project.members.get(args["employee_id"]) != wanted and not checked:
                    self._require_active_resource(args["employee_id"], "employee")
                    checked.append(True)
                project.assign_member(args["employee_id"], args["role"], args["hourly_rate"])

            outcome = self._execute(args, decide)
        member = outcome.aggregate.members[args["employee_id"]]
        return {**member, "project_id": args["project_id"], "position": outcome.position}

    @rpc
    def remove_member(self, **kwargs):
        args = load(schemas.RemoveMemberSchema, kwargs)
        self._managed(args["project_id"])
        outcome = self._execute(args, lambda p: p.remove_member(args["employee_id"]))
        return {"project_id": args["project_id"], "employee_id": args["employee_id"], "removed": True,
                "position": outcome.position}

    @rpc
    def change_status(self, **kwargs):
        args = load(schemas.ChangeStatusSchema, kwargs)
        self._managed(args["project_id"])
        effective_on = args["effective_on"] or datetime.now(timezone.utc).date().isoformat()
        outcome = self._execute(args, lambda p: p.change_status(args["status"], args["reason"], effective_on))
        return {**outcome.aggregate.to_dict(), "position": outcome.position}

    @rpc
    def delegate_approvals(self, **kwargs):
        """A delegate approves the project's hours for the weeks with a day in the range: for admins and the
        project's manager."""
        args = load(schemas.DelegateApprovalsSchema, kwargs)
        project = access.managed(self.chronicle.caller, lambda: self._get(args["project_id"]),
                                 what="delegating approvals")
        self._require_active_resource(args["delegate_id"], "delegate")
        outcome = self._execute(args, lambda p: p.delegate_approvals(args["delegate_id"], args["from_date"],
                                                                     args["to_date"]))
        return {"project_id": project.id, "delegations": outcome.aggregate.delegations, "position": outcome.position}

    # -- queries ------------------------------------------------------------------------------
    @rpc
    def get_project(self, **kwargs):
        args = load(schemas.GetProjectSchema, kwargs)
        self.chronicle.wait_for(args["min_position"])
        # who may read it now, whatever the as_of
        project = access.readable(self.chronicle.caller, lambda: self._get(args["project_id"]))
        if args["as_of"] is not None:
            project = self._get(args["project_id"], as_of=args["as_of"])
        return project.to_dict()

    @rpc
    def list_projects(self, **kwargs):
        args = load(schemas.ListProjectsSchema, kwargs)
        caller = self.chronicle.caller
        access.require_lists(caller)
        sql, params = "SELECT * FROM projects p WHERE 1 = 1", []
        if caller.role != "admin":  # only the projects they manage or are members of: the rule of access.readable
            sql += (" AND (p.manager_id = ? OR EXISTS (SELECT 1 FROM project_members m"
                    " WHERE m.project_id = p.id AND m.employee_id = ?))")
            params += [caller.subject, caller.subject]
        for field in ("status", "customer", "manager_id"):
            if args[field] is not None:
                sql += f" AND p.{field} = ?"
                params.append(args[field])
        if args["member_id"] is not None:
            sql += " AND EXISTS (SELECT 1 FROM project_members m WHERE m.project_id = p.id AND m.employee_id = ?)"
            params.append(args["member_id"])
        sql += " ORDER BY p.code"
        rows = self.chronicle.query(lambda db: db.execute(sql, params).fetchall(), min_position=args["min_position"])
        return [_summary(r) for r in rows]

    @rpc
    def project_progress(self, **kwargs):
        args = load(schemas.ProjectIdSchema, kwargs)
        project = self._managed(args["project_id"], "reading a project's progress")
        rows = self.chronicle.query(lambda db: entries_by_employee(db, project.id), min_position=args["min_position"])
        logged = sum(r[1] for r in rows)
        amount, priced = Decimal("0.00"), False
        for employee_id, centi, _, _ in rows:
            rate = project.rate_for(employee_id)
            if rate is not None:
                amount += Decimal(rate) * centi / 100
                priced = True
        budget = project.budget_centi
        return {
            "project_id": project.id,
            "budget_hours": hours(budget),
            "logged_hours": hours(logged),
            "approved_hours": hours(sum(r[2] for r in rows)),
            "billable_hours": hours(sum(r[3] for r in rows)),
            "remaining_hours": None if budget is None else hours(budget - logged),
            "percent_used": None if not budget else percent(logged, budget),
            "budget_amount": project.budget_amount,
            "logged_amount": str(amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)) if priced else None,
            "currency": project.currency,
            "thresholds_reached": sorted(project.reached),
        }

    @rpc
    def history(self, **kwargs):
        args = load(schemas.HistorySchema, kwargs)
        project = self._managed(args["project_id"], "reading a project's history")
        trail = []
        for event in self.chronicle.stream(project.stream):
            item = {
                "id": event.id, "type": event.type, "version": event.version,
                "schema_version": event.schema_version, "position": event.position,
                "recorded_at": event.recorded_at.isoformat(), "actor": event.metadata.get("actor"),
                "command_id": event.metadata.get("command_id"), "data": event.data,
            }
            if event.type == "ProjectUpdated":
                item["changes"] = [
                    {"field": field, "old": event.data["previous"].get(field), "new": new}
                    for field, new in event.data["changes"].items()
                ]
            trail.append(item)
        return trail
