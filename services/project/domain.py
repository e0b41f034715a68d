"""The Project aggregate. Commands check the rules and record events; ``on_<Event>`` only mutates.

Hours travel in events as JSON numbers (at most 2 decimals) and are kept here as integer
centi-hours, so sums and threshold checks are exact.
"""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from shared.aggregate import Aggregate
from shared.errors import Conflict, NotFound, RuleViolation, ValidationError
from shared.money import RateHistory, as_str, cents, from_cents, legacy_client_id, margin_percent
from shared.reservations import Reservation
from shared.validation import hours, to_centi

from .planning import Planning

STATUSES = ("active", "on_hold", "completed", "archived")
TRANSITIONS = {
    "active": {"on_hold", "completed"},
    "on_hold": {"active", "completed"},
    "completed": {"active", "archived"},
    "archived": set(),
}
THRESHOLDS = (50, 80, 100)
TASK_STATUSES = ("todo", "doing", "done")
TASK_CHANGEABLE = ("name", "assignee_id", "due_on", "estimate_hours", "status", "phase_id")
RATE_SCOPES = ("project", "task", "member")
FIGURES = ("logged_centi", "approved_centi", "billable_centi", "approved_billable_centi", "revenue_cents", "cost_cents",
           "approved_revenue_cents", "approved_cost_cents", "unpriced_centi", "uncosted_centi")
CHANGEABLE = ("name", "manager_id", "customer", "starts_on", "ends_on", "billable", "budget_hours", "budget_amount",
              "hourly_rate", "client_id")


def normalise_code(code: str) -> str:
    return code.strip().upper()


def _centi(value):
    return None if value is None else to_centi(value, allow_zero=True)


def percent(part: int, whole: int) -> float:
    """part / whole x 100 to 1 decimal, rounded half up exactly (1.25 -> 1.3)."""
    return float((Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


class Project(Planning, Aggregate):
    """A project; its phases, milestones and status reports are ``planning.Planning``'s."""

    category = "project"

    def __init__(self, id):
        super().__init__(id)
        self._init_planning()
        self.name = self.code = self.manager_id = self.customer = None
        self.client_id = None
        self.starts_on = self.ends_on = None
        self.billable = True
        self.budget_centi = None
        self.budget_amount = None
        self.currency = "NOK"
        self.hourly_rate = None
        self.status = None
        self.tasks: dict[str, dict] = {}
        self.members: dict[str, dict] = {}
        self.reached: set[int] = set()  # budget thresholds recorded and not cleared since (the hours budget)
        self.money_reached: set[int] = set()  # the same for the money budget
        self.delegations: list[dict] = []  # approval delegations, as recorded
        self.rates: dict[tuple[str, str | None], RateHistory] = {}  # (scope, subject_id) -> dated billing rates

    # -- commands ---------------------------------------------------------------------------
    def create(self, *, name, code, manager_id, customer=None, starts_on=None, ends_on=None, billable=True,
               budget_centi=None, budget_amount=None, currency="NOK", hourly_rate=None, client_id=None):
        """``client_id`` None: the legacy client of ``customer`` (``legacy_client_id``), or none without one."""
        if self.exists:
            raise Conflict(f"project {self.id} already exists", code="project.exists")
        _check_dates(starts_on, ends_on)
        self.record(
            "ProjectCreated", project_id=self.id, name=name, code=code, manager_id=manager_id, customer=customer,
            starts_on=starts_on, ends_on=ends_on, billable=billable, budget_hours=hours(budget_centi),
            budget_amount=budget_amount, currency=currency, hourly_rate=hourly_rate,
            client_id=client_id or legacy_client_id(customer),
        )

    def update(self, changes: dict):
        """``changes``: field -> new value (hours in centi-hours). Records only what really changes."""
        self._require_existing()
        self._require_not_archived()
        unknown = sorted(set(changes) - set(CHANGEABLE))
        if unknown:
            raise ValidationError({f: ["Unknown field."] for f in unknown})
        current = self._fields()
        changed = {f: v for f, v in changes.items() if current[f] != v}
        merged = {**current, **changed}
        _check_dates(merged["starts_on"], merged["ends_on"])
        if not changed:
            return
        as_event = lambda f, v: hours(v) if f == "budget_hours" else v  # noqa: E731
        self.record(
            "ProjectUpdated", project_id=self.id,
            changes={f: as_event(f, v) for f, v in changed.items()},
            previous={f: as_event(f, current[f]) for f in changed},
        )

    def add_task(self, task_id, name, estimate_centi=None, billable=None, phase_id=None, assignee_id=None,
                 due_on=None):
        self._require_existing()
        self._require_not_archived()
        if task_id in self.tasks:
            return  # the same task again (a retried command): nothing new
        self._require_task_name_free(name)
        self._require_task_fields(phase_id=phase_id, assignee_id=assignee_id)
        self.record("TaskAdded", project_id=self.id, task_id=task_id, name=name,
                    estimate_hours=hours(estimate_centi), billable=billable, phase_id=phase_id,
                    assignee_id=assignee_id, due_on=due_on, status="todo")

    def update_task(self, task_id, changes: dict, *, bookings=(), today=None, force=False):
        """``changes``: field -> new value (estimate in centi-hours) among ``TASK_CHANGEABLE``. Records only what
        really changes. A status of ``done`` closes the task (``close_task``, its bookings rule included); leaving
        ``done`` reopens it first."""
        self._require_existing()
        self._require_not_archived()
        task = self.task(task_id)
        unknown = sorted(set(changes) - set(TASK_CHANGEABLE))
        if unknown:
            raise ValidationError({f: ["Unknown field."] for f in unknown})
        status = changes.get("status", task["status"])
        if status not in TASK_STATUSES:
            raise ValidationError({"status": [f"Must be one of: {', '.join(TASK_STATUSES)}."]})
        current = {"name": task["name"], "assignee_id": task["assignee_id"], "due_on": task["due_on"],
                   "estimate_hours": task["estimate_centi"], "phase_id": task["phase_id"], "status": task["status"]}
        changed = {f: v for f, v in changes.items() if f != "status" and current[f] != v}
        if "name" in changed and changed["name"].casefold() != task["name"].casefold():
            self._require_task_name_free(changed["name"])
        self._require_task_fields(**{f: changed[f] for f in ("phase_id", "assignee_id") if f in changed})
        if task["status"] == "done" and status != "done":
            self.record("TaskReopened", project_id=self.id, task_id=task_id)
        if status != "done" and status != self.tasks[task_id]["status"]:
            changed["status"] = status
            current["status"] = self.tasks[task_id]["status"]
        if changed:
            as_event = lambda f, v: hours(v) if f == "estimate_hours" else v  # noqa: E731
            self.record("TaskUpdated", project_id=self.id, task_id=task_id,
                        changes={f: as_event(f, v) for f, v in changed.items()},
                        previous={f: as_event(f, current[f]) for f in changed})
        if status == "done" and task["status"] != "done":
            self.close_task(task_id, bookings=bookings, today=today, force=force)

    def close_task(self, task_id, *, bookings=(), today=None, force=False):
        """``bookings``: the project's bookings (``planned_bookings``' rows); one of this task's that is planned on
        or after ``today`` stops the close unless ``force``."""
        self._require_existing()
        self._require_not_archived()
        task = self.task(task_id)
        if task["status"] == "done":
            return  # already closed: nothing to record
        planned = self.planned_bookings(task_id, bookings, today) if today else []
        if planned and not force:
            raise RuleViolation(
                f"task {task['name']!r} still has {len(planned)} booking(s) planned from {today} on: "
                "cancel them, or close it with force=true", code="project.task_has_bookings")
        self.record("TaskClosed", project_id=self.id, task_id=task_id)

    def reopen_task(self, task_id):
        self._require_existing()
        self._require_not_archived()
        if self.task(task_id)["status"] != "done":
            return  # open already: nothing to record
        self.record("TaskReopened", project_id=self.id, task_id=task_id)

    def planned_bookings(self, task_id, bookings, today) -> list[dict]:
        """The bookings planned for the task on or after ``today``: those naming the task, and those naming no task
        that book the task's assignee on the project (a booking is on a project, a task only where it says so)."""
        assignee = self.tasks[task_id]["assignee_id"]
        return [b for b in bookings if b["ends_on"] >= today and (
            b.get("task_id") == task_id or (b.get("task_id") is None and assignee and b["resource_id"] == assignee))]

    def assign_member(self, employee_id, role="member", hourly_rate=None):
        self._require_existing()
        self._require_not_archived()
        current = self.members.get(employee_id)
        if current and current["role"] == role and current["hourly_rate"] == hourly_rate:
            return
        self.record("MemberAssigned", project_id=self.id, project_code=self.code, project_name=self.name,
                    employee_id=employee_id, role=role, hourly_rate=hourly_rate)

    def remove_member(self, employee_id):
        self._require_existing()
        self._require_not_archived()
        if employee_id not in self.members:
            raise NotFound(f"{employee_id} is not a member of project {self.code}", code="project.member_not_found")
        self.record("MemberRemoved", project_id=self.id, employee_id=employee_id)

    def change_status(self, to_status, reason=None, effective_on=None):
        self._require_existing()
        if to_status not in STATUSES:
            raise ValidationError({"status": [f"Must be one of: {', '.join(STATUSES)}."]})
        if to_status not in TRANSITIONS[self.status]:
            raise RuleViolation(f"project {self.code} cannot go from {self.status} to {to_status}",
                                code="project.invalid_transition")
        self.record("ProjectStatusChanged", project_id=self.id, from_status=self.status, to_status=to_status,
                    reason=reason, effective_on=effective_on)

    def delegate_approvals(self, delegate_id, from_date, to_date):
        """The manager names who approves the project's hours for the weeks with a day in the range (holidays)."""
        self._require_existing()
        self._require_not_archived()
        if delegate_id == self.manager_id:
            raise RuleViolation(f"{delegate_id} manages project {self.code} already", code="project.delegate_is_manager")
        self.record("ApprovalsDelegated", project_id=self.id, manager_id=self.manager_id, delegate_id=delegate_id,
                    from_date=from_date, to_date=to_date)

    def set_rate(self, scope: str, subject_id: str | None, rate, effective_from: str):
        """A billing rate from ``effective_from`` on, for the project (``subject_id`` None), one of its tasks or one of
        its members. ``rate`` None: no rate at that level from then (the next level applies)."""
        self._require_existing()
        self._require_not_archived()
        if scope not in RATE_SCOPES:
            raise ValidationError({"scope": [f"Must be one of: {', '.join(RATE_SCOPES)}."]})
        if (scope == "project") != (subject_id is None):
            raise ValidationError({"subject_id": ["Must be null for the project's rate and given for a task or a "
                                                  "member."]})
        if scope == "task":
            self.task(subject_id)
        if scope == "member" and subject_id not in self.members:
            raise NotFound(f"{subject_id} is not a member of project {self.code}", code="project.member_not_found")
        history = self.rates.get((scope, subject_id))
        if history is not None and any(c["effective_from"] == effective_from and c["rate"] == rate
                                       for c in history.timeline()):
            return  # that rate from that date already: nothing new
        self.record("BillingRateSet", project_id=self.id, scope=scope, subject_id=subject_id, rate=rate,
                    effective_from=effective_from)

    def note_hours(self, used_centi: int):
        """The hours logged on the project are now ``used_centi``: record each budget threshold
        crossed upwards (several at once if need be) and clear those it has dropped below again.
        Without a budget there are no thresholds: every reached one is cleared."""
        if not self.exists:
            return
        for threshold in THRESHOLDS:
            crossed = bool(self.budget_centi) and used_centi * 100 >= threshold * self.budget_centi
            data = dict(project_id=self.id, project_code=self.code, manager_id=self.manager_id,
                        threshold=threshold, budget="hours", used_hours=hours(used_centi),
                        budget_hours=hours(self.budget_centi), used_amount=None, budget_amount=None)
            if crossed and threshold not in self.reached:
                self.record("BudgetThresholdReached", **data)
            elif not crossed and threshold in self.reached:
                self.record("BudgetThresholdCleared", **data)

    def note_money(self, used_cents: int):
        """The billable amount logged on the project is now ``used_cents``: the same thresholds against the money
        budget (``budget_amount``)."""
        if not self.exists:
            return
        budget_cents = cents(self.budget_amount) if self.budget_amount is not None else 0
        for threshold in THRESHOLDS:
            crossed = bool(budget_cents) and used_cents * 100 >= threshold * budget_cents
            data = dict(project_id=self.id, project_code=self.code, manager_id=self.manager_id,
                        threshold=threshold, budget="money", used_hours=None, budget_hours=None,
                        used_amount=as_str(from_cents(used_cents)), budget_amount=self.budget_amount)
            if crossed and threshold not in self.money_reached:
                self.record("BudgetThresholdReached", **data)
            elif not crossed and threshold in self.money_reached:
                self.record("BudgetThresholdCleared", **data)

    # -- queries ----------------------------------------------------------------------------
    def task(self, task_id):
        try:
            return self.tasks[task_id]
        except KeyError:
            raise NotFound(f"task {task_id} not found in project {self.code}", code="project.task_not_found") from None

    def takes_hours(self, task_id=None) -> bool:
        if self.status != "active":
            return False
        return task_id is None or self.tasks.get(task_id, {}).get("status") in ("todo", "doing")

    def task_view(self, task_id, actual_centi=None) -> dict:
        """One task as answered; ``actual_centi``: its hours logged (from the timesheet's events)."""
        t = self.tasks[task_id]
        view = {"id": t["id"], "name": t["name"], "status": t["status"], "estimate_hours": hours(t["estimate_centi"]),
                "billable": t["billable"] if t["billable"] is not None else self.billable,
                "phase_id": t["phase_id"], "assignee_id": t["assignee_id"], "due_on": t["due_on"]}
        if actual_centi is not None:
            view["actual_hours"] = hours(actual_centi)
        return view

    def _require_task_name_free(self, name):
        if any(t["name"].casefold() == name.casefold() for t in self.tasks.values()):
            raise Conflict(f"project {self.code} already has a task named {name!r}", code="project.task_name_taken")

    def _require_task_fields(self, **fields):
        if fields.get("phase_id") is not None and fields["phase_id"] not in self.phases:
            raise NotFound(f"phase {fields['phase_id']} not found in project {self.code}",
                           code="project.phase_not_found")
        if fields.get("assignee_id") is not None and fields["assignee_id"] not in self.members:
            raise RuleViolation(f"{fields['assignee_id']} is not a member of project {self.code}",
                                code="project.assignee_not_member")

    def rate_for(self, employee_id):
        member = self.members.get(employee_id)
        if member and member["hourly_rate"] is not None:
            return member["hourly_rate"]
        return self.hourly_rate

    def progress(self, figures: dict) -> dict:
        """Budget use and money from the sums of the project's priced entries (``figures``: centi-hours and cents,
        as ``projections.project_figures`` gives them). Amounts are the entries' own, each priced at the rates in
        force on its date; non-billable hours add no revenue."""
        f = {k: figures.get(k) or 0 for k in FIGURES}
        budget = self.budget_centi
        budget_cents = None if self.budget_amount is None else cents(self.budget_amount)
        return {
            "project_id": self.id,
            "budget_hours": hours(budget),
            "logged_hours": hours(f["logged_centi"]),
            "approved_hours": hours(f["approved_centi"]),
            "billable_hours": hours(f["billable_centi"]),
            "remaining_hours": None if budget is None else hours(budget - f["logged_centi"]),
            "percent_used": None if not budget else percent(f["logged_centi"], budget),
            "budget_amount": self.budget_amount,
            "logged_amount": as_str(from_cents(f["revenue_cents"])),
            "currency": self.currency,
            "thresholds_reached": sorted(self.reached),
            "money_thresholds_reached": sorted(self.money_reached),
            "budgets": {
                "hours": {"budget": hours(budget), "used": hours(f["logged_centi"]),
                          "remaining": None if budget is None else hours(budget - f["logged_centi"]),
                          "percent": None if not budget else percent(f["logged_centi"], budget)},
                "money": {"budget": self.budget_amount, "used": as_str(from_cents(f["revenue_cents"])),
                          "remaining": None if budget_cents is None else as_str(
                              from_cents(budget_cents - f["revenue_cents"])),
                          "percent": None if not budget_cents else percent(f["revenue_cents"], budget_cents)},
            },
            "logged": _money_figures(f["logged_centi"], f["billable_centi"], f["revenue_cents"], f["cost_cents"]),
            "approved": _money_figures(f["approved_centi"], f["approved_billable_centi"],
                                       f["approved_revenue_cents"], f["approved_cost_cents"]),
            # hours priced at 0.00 because a rate is missing: billable hours without a billing rate, hours without
            # a cost rate
            "missing_rates": {"billing_hours": hours(f["unpriced_centi"]), "cost_hours": hours(f["uncosted_centi"])},
        }

    def _fields(self):
        return {
            "name": self.name, "manager_id": self.manager_id, "customer": self.customer, "starts_on": self.starts_on,
            "ends_on": self.ends_on,
            "billable": self.billable, "budget_hours": self.budget_centi, "budget_amount": self.budget_amount,
            "hourly_rate": self.hourly_rate, "client_id": self.client_id,
        }

    def _require_existing(self):
        if not self.exists:
            raise NotFound(f"project {self.id} not found", code="project.not_found")

    def _require_not_archived(self):
        if self.status == "archived":
            raise RuleViolation(f"project {self.code} is archived", code="project.archived")

    def to_dict(self) -> dict:
        return {
            "id": self.id, "code": self.code, "name": self.name, "manager_id": self.manager_id,
            "customer": self.customer, "client_id": self.client_id, "starts_on": self.starts_on,
            "ends_on": self.ends_on, "billable": self.billable, "currency": self.currency, "hourly_rate": self.hourly_rate,
            "status": self.status, "version": self.version,
            "budget": {"hours": hours(self.budget_centi), "amount": self.budget_amount, "currency": self.currency,
                       "thresholds_reached": sorted(self.reached)},
            "budget_hours": hours(self.budget_centi), "budget_amount": self.budget_amount,
            "tasks": [self.task_view(task_id) for task_id in self.tasks],
            "phases": self.phase_list(),
            "members": [dict(m) for m in self.members.values()],
        }

    # -- state changes ----------------------------------------------------------------------
    def on_ProjectCreated(self, d):
        self.name, self.code, self.manager_id, self.customer = d["name"], d["code"], d["manager_id"], d["customer"]
        self.client_id = d.get("client_id")
        self.starts_on, self.ends_on, self.billable = d["starts_on"], d["ends_on"], d["billable"]
        self.budget_centi = _centi(d["budget_hours"])
        self.budget_amount, self.currency, self.hourly_rate = d["budget_amount"], d["currency"], d["hourly_rate"]
        self.status = "active"

    def on_ProjectUpdated(self, d):
        for field, value in d["changes"].items():
            if field == "budget_hours":
                self.budget_centi = _centi(value)
            else:
                setattr(self, field, value)

    def on_TaskAdded(self, d):  # v1 data (domain tests) read as the upcaster reads it
        self.tasks[d["task_id"]] = {"id": d["task_id"], "name": d["name"], "status": d.get("status", "todo"),
                                    "estimate_centi": _centi(d["estimate_hours"]), "billable": d["billable"],
                                    "phase_id": d.get("phase_id"), "assignee_id": d.get("assignee_id"),
                                    "due_on": d.get("due_on")}

    def on_TaskUpdated(self, d):
        task = self.tasks[d["task_id"]]
        for field, value in d["changes"].items():
            if field == "estimate_hours":
                task["estimate_centi"] = _centi(value)
            else:
                task[field] = value

    def on_TaskClosed(self, d):
        self.tasks[d["task_id"]]["status"] = "done"

    def on_TaskReopened(self, d):
        self.tasks[d["task_id"]]["status"] = "todo"

    def on_MemberAssigned(self, d):
        self.members[d["employee_id"]] = {"employee_id": d["employee_id"], "role": d["role"],
                                          "hourly_rate": d["hourly_rate"]}

    def on_MemberRemoved(self, d):
        self.members.pop(d["employee_id"], None)

    def on_ProjectStatusChanged(self, d):
        self.status = d["to_status"]

    def on_ApprovalsDelegated(self, d):
        self.delegations.append(dict(d))

    def on_BillingRateSet(self, d):
        self.rates.setdefault((d["scope"], d["subject_id"]), RateHistory()).set(d["rate"], d["effective_from"])

    def _reached(self, d) -> set[int]:
        return self.money_reached if d.get("budget") == "money" else self.reached

    def on_BudgetThresholdReached(self, d):
        self._reached(d).add(d["threshold"])

    def on_BudgetThresholdCleared(self, d):
        self._reached(d).discard(d["threshold"])


class CodeReservation(Reservation):
    """A project code (normalised), held by the project created with it. ``data``: the creation and its command id,
    so that whoever finds the code without its project (a crash between the two appends) can finish it."""

    category = "projectcode"

    def on_ProjectCodeReserved(self, d):  # the streams written before the kit's reservations
        self.owner, self.reserved_at = d["project_id"], None
        self.data = {"command_id": d["command_id"], "creation": d["creation"]}


def _money_figures(centi_hours: int, billable_centi: int, revenue_cents: int, cost_cents: int) -> dict:
    """Hours, billable hours, revenue, cost, margin and margin percent (money as strings with 2 decimals)."""
    revenue, cost = from_cents(revenue_cents), from_cents(cost_cents)
    margin_pct = margin_percent(revenue, cost)
    return {"hours": hours(centi_hours), "billable_hours": hours(billable_centi), "revenue": as_str(revenue),
            "cost": as_str(cost), "margin": as_str(revenue - cost),
            "margin_percent": None if margin_pct is None else float(margin_pct)}


def _check_dates(starts_on, ends_on):
    if starts_on and ends_on and ends_on < starts_on:
        raise ValidationError({"ends_on": ["Must not be before starts_on."]})
