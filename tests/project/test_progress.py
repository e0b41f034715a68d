"""project_progress and budget thresholds from timesheet events: emitted by a fake timesheet
service, published by its relay, consumed over AMQP and recorded in the project service's store."""
import uuid

import pytest

from shared.testing import wait_until

WEEK, NEXT = "2026-W48", "2026-W49"


class Timesheet:
    def __init__(self, env, project_id):
        self.env, self.project_id = env, project_id

    def _stream(self, employee, week):
        return f"timesheet-{employee}_{week.replace('-', '')}"

    def entry(self, employee, hours, week=WEEK, entry_id=None, billable=True):
        return {"entry_id": entry_id or str(uuid.uuid4()), "employee_id": employee, "week": week,
                "project_id": self.project_id, "task_id": None, "date": "2026-11-24", "hours": hours,
                "billable": billable, "description": ""}

    def log(self, employee, hours, **kw):
        data = self.entry(employee, hours, **kw)
        self.emit(employee, data["week"], "TimeLogged", data)
        return data

    def amend(self, entry, hours):
        data = {**entry, "hours": hours, "previous": {"hours": entry["hours"]}, "reason": "typo"}
        self.emit(entry["employee_id"], entry["week"], "TimeEntryAmended", data)
        return data

    def correct(self, entry, hours):
        """A correction after the timesheet's lock (``TimeEntryCorrected``): the entry's full state, before/after."""
        values = {"task_id": None, "billable": entry["billable"], "invoice_ref": None}
        data = {**entry, "hours": hours, "correction": "change", "before": {**values, "hours": entry["hours"]},
                "after": {**values, "hours": hours}, "reason": "fix", "booked_on": "2026-12-01"}
        self.emit(entry["employee_id"], entry["week"], "TimeEntryCorrected", data)
        return data

    def delete(self, entry, reason="mistake"):
        data = {k: v for k, v in entry.items() if k != "description"}
        self.emit(entry["employee_id"], entry["week"], "TimeEntryDeleted", {**data, "reason": reason})

    def approve(self, employee, week=WEEK, project_ids=None):
        self.emit(employee, week, "TimesheetApproved", {
            "employee_id": employee, "week": week, "approver_id": str(uuid.uuid4()),
            "project_ids": project_ids or [self.project_id], "status": "approved", "lines": []})

    def submit(self, employee, project_ids, week=WEEK):
        self.emit(employee, week, "TimesheetSubmitted", {
            "employee_id": employee, "week": week, "total_hours": 0, "actor_id": employee,
            "projects": [{"project_id": p, "hours": 0, "billable_hours": 0, "manager_id": None} for p in project_ids]})

    def reject(self, employee, project_ids, week=WEEK):
        self.emit(employee, week, "TimesheetRejected", {
            "employee_id": employee, "week": week, "approver_id": str(uuid.uuid4()), "reason": "wrong",
            "project_ids": project_ids, "lines": [{"project_id": p, "hours": 0} for p in project_ids]})

    def reopen(self, employee, week=WEEK):
        self.emit(employee, week, "TimesheetReopened", {
            "employee_id": employee, "week": week, "actor_id": employee, "reason": "fix",
            "from_status": "approved", "total_hours": 0, "projects": []})

    def emit(self, employee, week, event_type, data):
        self.env.rpc.timesheet.emit(stream=self._stream(employee, week), type=event_type, data=data)


def progress_is(env, project_id, **expected):
    def check():
        got = env.rpc.project.project_progress(project_id=project_id)
        assert {k: got[k] for k in expected} == expected, got
        return got
    return wait_until(check, timeout=15, message="progress")


def thresholds(env, project_id):
    return [(e["type"], e["data"]["threshold"]) for e in env.rpc.project.history(project_id=project_id)
            if e["type"].startswith("BudgetThreshold") and e["data"]["budget"] == "hours"]


@pytest.fixture
def project(env):
    return env.project(budget_hours=10, budget_amount="12000.00", hourly_rate="1200.00")


def test_progress_follows_logged_amended_deleted_and_approved_hours(env, project):
    pid, member, other = project["id"], env.resource(), env.resource()
    env.rpc.project.assign_member(project_id=pid, employee_id=member, hourly_rate="1000.00")
    sheet = Timesheet(env, pid)
    assert env.rpc.project.project_progress(project_id=pid)["logged_hours"] == 0

    first = sheet.log(member, 2.5)
    second = sheet.log(other, 1.25, billable=False)
    sheet.log(member, 1)
    progress_is(env, pid, logged_hours=4.75, billable_hours=3.5, approved_hours=0)
    sheet.amend(first, 3)
    sheet.approve(member)
    got = progress_is(env, pid, logged_hours=5.25, approved_hours=4)
    assert got == {**got, "budget_hours": 10, "remaining_hours": 4.75, "percent_used": 52.5,
                   "budget_amount": "12000.00", "logged_amount": "4000.00"}  # 4 h x 1000; 1.25 h not billable
    sheet.delete(second)
    progress_is(env, pid, logged_hours=4, approved_hours=4, logged_amount="4000.00")


def test_approved_hours_agree_with_the_timesheet_through_rejection_resubmission_and_reopening(env, project):
    """Employee E logs on A (another manager's project) and on this project B in one week. As in the
    timesheet service: a rejection of A makes the whole week rejected (B's hours are no longer approved),
    and a new submission makes every line pending again."""
    pid, employee, other = project["id"], env.resource(), str(uuid.uuid4())
    sheet, elsewhere = Timesheet(env, pid), Timesheet(env, other)
    elsewhere.log(employee, 3)
    sheet.log(employee, 4)
    sheet.submit(employee, [other, pid])
    sheet.approve(employee)  # B's manager approves B: partially approved
    progress_is(env, pid, logged_hours=4, approved_hours=4)

    sheet.reject(employee, [other])  # A's manager rejects A: the week is rejected
    progress_is(env, pid, logged_hours=4, approved_hours=0)

    elsewhere.log(employee, 1)
    sheet.submit(employee, [other, pid])
    progress_is(env, pid, logged_hours=4, approved_hours=0)
    sheet.approve(employee)
    progress_is(env, pid, approved_hours=4)
    sheet.submit(employee, [other, pid])  # a submission: every line of the week is pending again
    progress_is(env, pid, approved_hours=0)
    sheet.approve(employee, project_ids=[other, pid])
    progress_is(env, pid, approved_hours=4)
    sheet.reopen(employee)
    progress_is(env, pid, logged_hours=4, approved_hours=0)


def test_percent_used_is_rounded_half_up_to_one_decimal(env):
    project = env.project(budget_hours=4)
    Timesheet(env, project["id"]).log(env.resource(), 0.05)  # exactly 1.25 %
    progress_is(env, project["id"], logged_hours=0.05, percent_used=1.3, remaining_hours=3.95)


def test_removing_the_budget_clears_the_reached_thresholds(env):
    project = env.project(budget_hours=2)
    pid, employee = project["id"], env.resource()
    sheet = Timesheet(env, pid)
    sheet.log(employee, 2)
    wait_until(lambda: env.rpc.project.project_progress(project_id=pid)["thresholds_reached"] == [50, 80, 100],
               timeout=15)

    updated = env.rpc.project.update_project(project_id=pid, budget_hours=None)
    # at once, in the same command: no budget, no thresholds
    assert updated["budget"] == {"hours": None, "amount": None, "currency": "NOK", "thresholds_reached": []}
    got = env.rpc.project.project_progress(project_id=pid, min_position=updated["position"])
    assert got["budget_hours"] is None and got["thresholds_reached"] == [] and got["percent_used"] is None
    cleared = [e["data"] for e in env.rpc.project.history(project_id=pid) if e["type"] == "BudgetThresholdCleared"]
    assert [(c["threshold"], c["used_hours"], c["budget_hours"]) for c in cleared] == [
        (50, 2, None), (80, 2, None), (100, 2, None)]

    # a new budget counts the hours afresh
    sheet.log(employee, 1)
    progress_is(env, pid, logged_hours=3)
    env.rpc.project.update_project(project_id=pid, budget_hours=6)
    wait_until(lambda: env.rpc.project.project_progress(project_id=pid)["thresholds_reached"] == [50], timeout=15)


def test_an_entry_moved_to_another_week_counts_once_whatever_the_order(env, project):
    pid, employee = project["id"], env.resource()
    sheet = Timesheet(env, pid)
    entry = sheet.log(employee, 3)
    progress_is(env, pid, logged_hours=3)
    # The new week's TimeLogged recorded before the old week's TimeEntryDeleted.
    sheet.log(employee, 3, week=NEXT, entry_id=entry["entry_id"])
    sheet.delete(entry, reason=f"moved to {NEXT}")
    sheet.log(employee, 0.5)  # a marker after both
    progress_is(env, pid, logged_hours=3.5)


def test_budget_thresholds_are_recorded_once_each_and_again_after_hours_drop(env, project):
    pid, employee = project["id"], env.resource()
    sheet = Timesheet(env, pid)
    sheet.log(employee, 5)
    wait_until(lambda: thresholds(env, pid) == [("BudgetThresholdReached", 50)], timeout=15)
    big = sheet.log(employee, 6)  # 11 h of 10: 80 and 100 at once
    wait_until(lambda: len(thresholds(env, pid)) == 3, timeout=15)
    assert thresholds(env, pid)[1:] == [("BudgetThresholdReached", 80), ("BudgetThresholdReached", 100)]
    reached = [e for e in env.rpc.project.history(project_id=pid) if e["type"] == "BudgetThresholdReached"
               and e["data"]["budget"] == "hours"]
    assert reached[-1]["data"] == {"project_id": pid, "project_code": project["code"],
                                   "manager_id": project["manager_id"], "threshold": 100, "budget": "hours",
                                   "used_hours": 11, "budget_hours": 10, "used_amount": None, "budget_amount": None}

    sheet.delete(big)
    wait_until(lambda: len(thresholds(env, pid)) == 5, timeout=15)
    assert sorted(thresholds(env, pid)[3:]) == [("BudgetThresholdCleared", 80), ("BudgetThresholdCleared", 100)]
    sheet.log(employee, 3.5)  # 8.5 h: 80 again
    wait_until(lambda: thresholds(env, pid)[-1] == ("BudgetThresholdReached", 80), timeout=15)

    # A lower budget crosses 100 with the same hours.
    env.rpc.project.update_project(project_id=pid, budget_hours=8)
    wait_until(lambda: thresholds(env, pid)[-1] == ("BudgetThresholdReached", 100), timeout=15)
    assert env.rpc.project.project_progress(project_id=pid)["thresholds_reached"] == [50, 80, 100]
    # Published on project.events like every project event.
    feed = env.rpc.project.events_since(position=0, limit=1000)["events"]
    assert sum(e["type"] == "BudgetThresholdReached" and e["data"]["project_id"] == pid
               and e["data"]["budget"] == "hours" for e in feed) == 5


def test_progress_of_unknown_project_is_not_found(env):
    from shared.errors import NotFound

    with pytest.raises(NotFound):
        env.rpc.project.project_progress(project_id=str(uuid.uuid4()))


def test_read_models_rebuilt_from_the_store_give_the_same_answers(env, project):
    pid, employee = project["id"], env.resource()
    env.rpc.project.assign_member(project_id=pid, employee_id=employee, hourly_rate="900.00")
    sheet = Timesheet(env, pid)
    sheet.log(employee, 2)
    sheet.approve(employee)
    live = progress_is(env, pid, logged_hours=2, approved_hours=2)
    listed = env.rpc.project.list_projects(member_id=employee)
    env.kit().runner.rebuild()
    assert env.rpc.project.project_progress(project_id=pid) == live
    assert env.rpc.project.list_projects(member_id=employee) == listed
    assert [p["id"] for p in listed] == [pid]


def budget_watch_idle(env, project_id, **expected):
    """The view shows ``expected`` and the budget watch has reacted to every event recorded so far."""
    progress_is(env, project_id, **expected)
    kit = env.kit()

    def idle():
        head = kit.store.head_position(kit.runner.categories)
        return kit.state.get_checkpoint("reactor:budget") >= head
    wait_until(idle, timeout=15, message="budget watch idle")


def moved_out(entry, to_week):
    return {**{k: v for k, v in entry.items() if k != "description"}, "reason": f"moved to {to_week}",
            "moved_to_week": to_week}


@pytest.mark.parametrize("step_in_first", [False, True], ids=["step-out-first", "step-in-first"])
def test_moving_an_entry_to_another_week_leaves_the_thresholds_alone(env, step_in_first):
    """Given 6 h of a 10 h budget (50 % reached), when the entry moves to another week with the same hours
    (its two halves recorded in either order), then no threshold is cleared or reached again."""
    project = env.project(budget_hours=10)
    pid, employee = project["id"], env.resource()
    sheet = Timesheet(env, pid)
    entry = sheet.log(employee, 6)
    wait_until(lambda: thresholds(env, pid) == [("BudgetThresholdReached", 50)], timeout=15)
    budget_watch_idle(env, pid, logged_hours=6)

    step_out = lambda: sheet.emit(employee, WEEK, "TimeEntryDeleted", moved_out(entry, NEXT))  # noqa: E731
    step_in = lambda: sheet.emit(employee, NEXT, "TimeLogged",  # noqa: E731
                                 {**entry, "week": NEXT, "date": "2026-12-01", "moved_from_week": WEEK})
    first, second = (step_in, step_out) if step_in_first else (step_out, step_in)
    first()
    budget_watch_idle(env, pid, logged_hours=12 if step_in_first else 0)  # the view between the two halves
    second()
    budget_watch_idle(env, pid, logged_hours=6)
    sheet.log(employee, 2)  # 8 h: 80 % (a marker after the move)
    wait_until(lambda: ("BudgetThresholdReached", 80) in thresholds(env, pid), timeout=15)
    assert thresholds(env, pid) == [("BudgetThresholdReached", 50), ("BudgetThresholdReached", 80)]


def test_a_move_put_back_after_a_refused_second_step_leaves_the_thresholds_alone(env):
    """Given 6 h of a 10 h budget, when a move's step out of the week is recorded and then the entry is put
    back in the same week (the new week refused it), then no threshold is cleared or reached again."""
    project = env.project(budget_hours=10)
    pid, employee = project["id"], env.resource()
    sheet = Timesheet(env, pid)
    entry = sheet.log(employee, 6)
    wait_until(lambda: thresholds(env, pid) == [("BudgetThresholdReached", 50)], timeout=15)

    sheet.emit(employee, WEEK, "TimeEntryDeleted", moved_out(entry, NEXT))
    budget_watch_idle(env, pid, logged_hours=0)
    sheet.emit(employee, WEEK, "TimeLogged", {**entry, "moved_from_week": NEXT})
    budget_watch_idle(env, pid, logged_hours=6)
    sheet.log(employee, 2)
    wait_until(lambda: ("BudgetThresholdReached", 80) in thresholds(env, pid), timeout=15)
    assert thresholds(env, pid) == [("BudgetThresholdReached", 50), ("BudgetThresholdReached", 80)]


def test_logged_amount_is_rounded_half_up_to_cents(env):
    project = env.project(hourly_rate="50.5")
    Timesheet(env, project["id"]).log(env.resource(), 4.25)  # exactly 214.625
    progress_is(env, project["id"], logged_hours=4.25, logged_amount="214.63")


def test_the_budget_watch_acts_as_the_service_after_the_employees_hours(env, project):
    """The reactor is nobody's caller: no role rule stops it, and its events name it and whose act it follows."""
    employee = env.resource()
    data = Timesheet(env, project["id"]).entry(employee, 6)
    env.rpc.timesheet.emit(stream=f"timesheet-{employee}_{WEEK.replace('-', '')}", type="TimeLogged", data=data,
                           metadata={"actor": employee, "actor_role": "employee"})
    wait_until(lambda: thresholds(env, project["id"]) == [("BudgetThresholdReached", 50)], timeout=15,
               message="threshold")
    [reached] = [e for e in env.kit().store.read_stream(f"project-{project['id']}")
                 if e.type == "BudgetThresholdReached" and e.data["budget"] == "hours"]
    assert (reached.metadata["actor"], reached.metadata["cause_actor"]) == ("reactor:budget", employee)


def test_a_correction_after_the_timesheets_lock_changes_the_hours_and_keeps_their_approval(env, project):
    pid, member = project["id"], env.resource()
    env.rpc.project.assign_member(project_id=pid, employee_id=member, hourly_rate="1000.00")
    sheet = Timesheet(env, pid)
    entry = sheet.log(member, 4)
    sheet.approve(member)
    progress_is(env, pid, logged_hours=4, approved_hours=4, logged_amount="4000.00")
    sheet.correct(entry, 2.5)
    progress_is(env, pid, logged_hours=2.5, approved_hours=2.5, logged_amount="2500.00")
