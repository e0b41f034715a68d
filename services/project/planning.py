"""A project's plan: its ordered phases, its milestones (and the notices of their dates) and the manager's weekly
status reports. Pure: no nameko, no I/O, no clock (``today`` comes in as an ISO date). ``Planning`` is a part of the
``Project`` aggregate (its events are in the project's stream, so its history shows them), kept apart here."""
from __future__ import annotations

from datetime import date

from shared.errors import NotFound, RuleViolation, ValidationError
from shared.validation import hours, to_centi

PHASE_CHANGEABLE = ("name", "starts_on", "ends_on", "budget_hours", "budget_amount", "position")
MILESTONE_CHANGEABLE = ("name", "due_on", "owner_id")
MILESTONE_STATUSES = ("open", "done", "missed")
RAG = ("green", "amber", "red")
LEVELS = ("low", "medium", "high")
DUE_SOON_DAYS = 7  # the week's notice; the other is on the day


def _centi(value):
    return None if value is None else to_centi(value, allow_zero=True)


def days_between(first: str, then: str) -> int:
    return (date.fromisoformat(then) - date.fromisoformat(first)).days


class Planning:
    """Mixed into ``Project``: its commands check ``_require_existing``/``_require_not_archived`` like the rest."""

    def _init_planning(self):
        self.phases: dict[str, dict] = {}
        self.milestones: dict[str, dict] = {}
        self.status_reports: list[dict] = []

    # -- phases -------------------------------------------------------------------------------
    def add_phase(self, phase_id, name, starts_on=None, ends_on=None, budget_centi=None, budget_amount=None,
                  position=None):
        """A new phase at ``position`` (0-based; None: last). The phases from there on move one down."""
        self._require_existing()
        self._require_not_archived()
        if phase_id in self.phases:
            return  # the same phase again (a retried command): nothing new
        self._require_phase_name_free(name)
        _check_phase_dates(starts_on, ends_on)
        count = len(self.phases)
        position = count if position is None else position
        if not 0 <= position <= count:
            raise ValidationError({"position": [f"Must be between 0 and {count}."]})
        self.record("PhaseAdded", project_id=self.id, phase_id=phase_id, name=name, starts_on=starts_on,
                    ends_on=ends_on, budget_hours=hours(budget_centi), budget_amount=budget_amount, position=count)
        if position != count:
            self._move_phase(phase_id, position)

    def update_phase(self, phase_id, changes: dict):
        """``changes``: field -> new value (hours in centi-hours). A new ``position`` reorders the phases: each phase
        whose position moves records its own PhaseUpdated."""
        self._require_existing()
        self._require_not_archived()
        phase = self.phase(phase_id)
        unknown = sorted(set(changes) - set(PHASE_CHANGEABLE))
        if unknown:
            raise ValidationError({f: ["Unknown field."] for f in unknown})
        current = {"name": phase["name"], "starts_on": phase["starts_on"], "ends_on": phase["ends_on"],
                   "budget_hours": phase["budget_centi"], "budget_amount": phase["budget_amount"],
                   "position": phase["position"]}
        changed = {f: v for f, v in changes.items() if current[f] != v}
        if "name" in changed and changed["name"].casefold() != phase["name"].casefold():
            self._require_phase_name_free(changed["name"])
        merged = {**current, **changed}
        _check_phase_dates(merged["starts_on"], merged["ends_on"])
        if not 0 <= merged["position"] < len(self.phases):
            raise ValidationError({"position": [f"Must be between 0 and {len(self.phases) - 1}."]})
        position = changed.pop("position", None)
        if changed:
            as_event = lambda f, v: hours(v) if f == "budget_hours" else v  # noqa: E731
            self.record("PhaseUpdated", project_id=self.id, phase_id=phase_id,
                        changes={f: as_event(f, v) for f, v in changed.items()},
                        previous={f: as_event(f, current[f]) for f in changed})
        if position is not None:
            self._move_phase(phase_id, position)

    def _move_phase(self, phase_id, position):
        """``phase_id`` to ``position``: it first, then each other phase whose position moves, in their new order."""
        order = [p["id"] for p in self.phase_list() if p["id"] != phase_id]
        order.insert(position, phase_id)
        moves = [(pid, at) for at, pid in enumerate(order) if self.phases[pid]["position"] != at]
        for pid, at in sorted(moves, key=lambda move: move[0] != phase_id):
            self.record("PhaseUpdated", project_id=self.id, phase_id=pid, changes={"position": at},
                        previous={"position": self.phases[pid]["position"]})

    def phase(self, phase_id):
        try:
            return self.phases[phase_id]
        except KeyError:
            raise NotFound(f"phase {phase_id} not found in project {self.code}", code="project.phase_not_found") \
                from None

    def phase_list(self) -> list[dict]:
        """The phases in order, as answered."""
        return [{"id": p["id"], "name": p["name"], "starts_on": p["starts_on"], "ends_on": p["ends_on"],
                 "budget_hours": hours(p["budget_centi"]), "budget_amount": p["budget_amount"],
                 "position": p["position"]}
                for p in sorted(self.phases.values(), key=lambda p: p["position"])]

    def _require_phase_name_free(self, name):
        if any(p["name"].casefold() == name.casefold() for p in self.phases.values()):
            raise RuleViolation(f"project {self.code} already has a phase named {name!r}",
                                code="project.phase_name_taken")

    # -- milestones ---------------------------------------------------------------------------
    def add_milestone(self, milestone_id, name, due_on, owner_id):
        self._require_existing()
        self._require_not_archived()
        if milestone_id in self.milestones:
            return  # the same milestone again (a retried command)
        self._require_owner(owner_id)
        self.record("MilestoneAdded", project_id=self.id, milestone_id=milestone_id, name=name, due_on=due_on,
                    owner_id=owner_id)

    def update_milestone(self, milestone_id, changes: dict, today: str):
        """Records only what changes. A missed milestone given a due date from ``today`` on is open again."""
        self._require_existing()
        self._require_not_archived()
        milestone = self.milestone(milestone_id)
        unknown = sorted(set(changes) - set(MILESTONE_CHANGEABLE))
        if unknown:
            raise ValidationError({f: ["Unknown field."] for f in unknown})
        changed = {f: v for f, v in changes.items() if milestone[f] != v}
        if "owner_id" in changed:
            self._require_owner(changed["owner_id"])
        if not changed:
            return
        self.record("MilestoneUpdated", project_id=self.id, milestone_id=milestone_id, changes=changed,
                    previous={f: milestone[f] for f in changed})
        if milestone["status"] == "missed" and "due_on" in changed and changed["due_on"] >= today:
            self.record("MilestoneReopened", project_id=self.id, milestone_id=milestone_id)

    def complete_milestone(self, milestone_id, completed_on: str):
        """Open or missed (done late) -> done."""
        self._require_existing()
        self._require_not_archived()
        if self.milestone(milestone_id)["status"] == "done":
            return  # done already
        self.record("MilestoneCompleted", project_id=self.id, milestone_id=milestone_id, completed_on=completed_on)

    def reopen_milestone(self, milestone_id):
        """Done -> open (its date, if past, makes it missed at the next check). A missed one is reopened by giving
        it a new due date (``update_milestone``)."""
        self._require_existing()
        self._require_not_archived()
        milestone = self.milestone(milestone_id)
        if milestone["status"] == "open":
            return
        if milestone["status"] == "missed":
            raise RuleViolation(f"milestone {milestone['name']!r} was missed: give it a new due date to reopen it",
                                code="project.milestone_missed")
        self.record("MilestoneReopened", project_id=self.id, milestone_id=milestone_id)

    def milestone_notice_due(self, milestone_id, today: str):
        """The notice the milestone is owed on ``today``, as a key naming it (for a command id): ``None``, or
        ``<due_on>:due-7``, ``<due_on>:due-0`` or ``<due_on>:missed:<round>``, ``round`` counting its reopenings."""
        milestone = self.milestones.get(milestone_id)
        if milestone is None or milestone["status"] != "open" or self.status == "archived":
            return None
        left, due_on = days_between(today, milestone["due_on"]), milestone["due_on"]
        if left < 0:
            return f"{due_on}:missed:{milestone['round']}"
        kind = 0 if left == 0 else DUE_SOON_DAYS if left <= DUE_SOON_DAYS else None
        if kind is None or (due_on, kind) in milestone["noticed"]:
            return None
        return f"{due_on}:due-{kind}"

    def check_milestone(self, milestone_id, today: str):
        """The timer's decision on ``today``: an open milestone whose date has passed is missed; one due within
        ``DUE_SOON_DAYS`` days gets the week's notice once (recorded when 7 or fewer days are left, so a check that
        was down on the day catches up; ``days_left`` says how many: 7 when the check ran on the day), and one due
        today its notice on the day (``days_left`` 0), once."""
        key = self.milestone_notice_due(milestone_id, today)
        if key is None:
            return
        milestone = self.milestones[milestone_id]
        notice = dict(project_id=self.id, milestone_id=milestone_id, name=milestone["name"],
                      due_on=milestone["due_on"], owner_id=milestone["owner_id"], manager_id=self.manager_id)
        if ":missed:" in key:
            self.record("MilestoneMissed", **notice)
        else:
            self.record("MilestoneDueSoon", **notice, days_left=days_between(today, milestone["due_on"]))

    def milestone(self, milestone_id):
        try:
            return self.milestones[milestone_id]
        except KeyError:
            raise NotFound(f"milestone {milestone_id} not found in project {self.code}",
                           code="project.milestone_not_found") from None

    def milestone_list(self) -> list[dict]:
        """The milestones by due date, as answered."""
        return [{k: m[k] for k in ("id", "name", "due_on", "owner_id", "status", "completed_on")}
                for m in sorted(self.milestones.values(), key=lambda m: (m["due_on"], m["name"]))]

    def _require_owner(self, owner_id):
        if owner_id != self.manager_id and owner_id not in self.members:
            raise RuleViolation(f"{owner_id} neither manages nor is a member of project {self.code}",
                                code="project.owner_not_member")

    # -- status reports -----------------------------------------------------------------------
    def record_status_report(self, report_id, week, rag, summary, risks, author_id):
        self._require_existing()
        self._require_not_archived()
        if any(r["report_id"] == report_id for r in self.status_reports):
            return  # the same report again (a retried command)
        if rag not in RAG:
            raise ValidationError({"rag": [f"Must be one of: {', '.join(RAG)}."]})
        for i, risk in enumerate(risks):
            for level in ("impact", "likelihood"):
                if risk[level] not in LEVELS:
                    raise ValidationError({"risks": {i: {level: [f"Must be one of: {', '.join(LEVELS)}."]}}})
        self.record("StatusReportRecorded", project_id=self.id, report_id=report_id, week=week, rag=rag,
                    summary=summary, risks=[dict(r) for r in risks], author_id=author_id)

    # -- state changes ------------------------------------------------------------------------
    def on_PhaseAdded(self, d):
        self.phases[d["phase_id"]] = {"id": d["phase_id"], "name": d["name"], "starts_on": d["starts_on"],
                                      "ends_on": d["ends_on"], "budget_centi": _centi(d["budget_hours"]),
                                      "budget_amount": d["budget_amount"], "position": d["position"]}

    def on_PhaseUpdated(self, d):
        phase = self.phases[d["phase_id"]]
        for field, value in d["changes"].items():
            if field == "budget_hours":
                phase["budget_centi"] = _centi(value)
            else:
                phase[field] = value

    def on_MilestoneAdded(self, d):
        self.milestones[d["milestone_id"]] = {
            "id": d["milestone_id"], "name": d["name"], "due_on": d["due_on"], "owner_id": d["owner_id"],
            "status": "open", "completed_on": None, "noticed": set(), "round": 0}

    def on_MilestoneUpdated(self, d):
        self.milestones[d["milestone_id"]].update(d["changes"])

    def on_MilestoneCompleted(self, d):
        self.milestones[d["milestone_id"]].update(status="done", completed_on=d["completed_on"])

    def on_MilestoneReopened(self, d):
        milestone = self.milestones[d["milestone_id"]]
        milestone.update(status="open", completed_on=None, round=milestone["round"] + 1)

    def on_MilestoneDueSoon(self, d):  # the notice's kind: on the day (0) or the week's (DUE_SOON_DAYS)
        kind = 0 if d["days_left"] == 0 else DUE_SOON_DAYS
        self.milestones[d["milestone_id"]]["noticed"].add((d["due_on"], kind))

    def on_MilestoneMissed(self, d):
        self.milestones[d["milestone_id"]]["status"] = "missed"

    def on_StatusReportRecorded(self, d):
        self.status_reports.append({k: d[k] for k in ("report_id", "week", "rag", "summary", "risks", "author_id")})


def _check_phase_dates(starts_on, ends_on):
    if starts_on and ends_on and ends_on < starts_on:
        raise ValidationError({"ends_on": ["Must not be before starts_on."]})
