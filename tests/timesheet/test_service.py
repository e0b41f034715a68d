"""The timesheet service's RPCs through a real nameko container and RabbitMQ (fake project service)."""
import csv
import io

import pytest

from services.timesheet.domain import Timesheet, timesheet_id
from shared.errors import Forbidden, NotFound, RuleViolation, ValidationError
from shared.kit import ChronicleHandle
from tests.timesheet.conftest import EXPORT_MAX_ROWS, new_id

WEEK = "2026-W10"  # Mon 2026-03-02 .. Sun 2026-03-08
MON, TUE, WED = "2026-03-02", "2026-03-03", "2026-03-04"


def staffed(env, **kw):
    employee, manager = new_id(), new_id()
    project = env.project(members=[employee], manager_id=manager, **kw)
    return employee, manager, project


# -- log_time -----------------------------------------------------------------------------------
def test_log_time_and_read_the_week(env):
    employee, _, project = staffed(env)  # just published: the service pulls the project feed if needed
    task = env.task(project, billable=False)
    out = env.rpc.timesheet.log_time(employee_id=employee, project_id=project, date=TUE, hours=7.25,
                                     task_id=task, description="workshop")
    assert out["hours"] == 7.25 and out["billable"] is False and out["week"] == WEEK
    assert out["status"] == "open" and out["task_id"] == task and out["position"] >= 1
    env.rpc.timesheet.log_time(employee_id=employee, project_id=project, date=TUE, hours=0.5)
    week = env.rpc.timesheet.get_timesheet(employee_id=employee, week=WEEK, min_position=out["position"])
    assert week["status"] == "open" and week["total_hours"] == 7.75 and week["version"] == 1
    assert week["daily_totals"][TUE] == 7.75 and week["daily_totals"][MON] == 0 and len(week["daily_totals"]) == 7
    assert [p["hours"] for p in week["projects"]] == [7.75] and week["projects"][0]["billable_hours"] == 0.5
    assert {e["id"] for e in week["entries"]} >= {out["id"]}


@pytest.mark.parametrize("bad", [
    {"hours": 0}, {"hours": -1}, {"hours": 24.01}, {"hours": 1.234}, {"hours": "8"}, {"hours": True},
    {"date": "2026-02-30"}, {"project_id": "nope"}, {"surprise": 1}, {"billable": "yes"},
])
def test_log_time_refuses_bad_input_and_appends_nothing(env, bad):
    employee, _, project = staffed(env)
    before = env.head()
    args = {"employee_id": employee, "project_id": project, "date": TUE, "hours": 8, **bad}
    with pytest.raises(ValidationError) as err:
        env.rpc.timesheet.log_time(**args)
    assert set(err.value.errors) == ({"hours", "date", "project_id", "surprise", "billable"} & set(bad))
    assert env.head() == before


def test_log_time_rules(env):
    employee, _, project = staffed(env, starts_on="2026-03-03", ends_on="2026-03-31")
    stranger = new_id()
    task = env.task(project)
    other_task = env.task(env.project())
    env.emit(project, "TaskClosed", task_id=task)
    before = env.head()
    cases = [
        ({"project_id": new_id()}, "timesheet.project_unknown"),
        ({"employee_id": stranger}, "timesheet.not_a_member"),
        ({"task_id": other_task}, "timesheet.task_not_in_project"),
        ({"task_id": task}, "timesheet.task_closed"),
        ({"date": MON}, "timesheet.before_project_start"),
        ({"date": "2026-04-01"}, "timesheet.after_project_end"),
    ]
    for change, code in cases:
        with pytest.raises(RuleViolation) as err:
            env.rpc.timesheet.log_time(**{"employee_id": employee, "project_id": project, "date": TUE,
                                          "hours": 1, **change})
        assert err.value.code == code, change
    env.emit(project, "ProjectStatusChanged", from_status="active", to_status="on_hold", reason="x",
             effective_on=None)
    with pytest.raises(RuleViolation) as err:
        env.rpc.timesheet.log_time(employee_id=employee, project_id=project, date=TUE, hours=1)
    assert err.value.code == "timesheet.project_not_active"
    assert env.head() == before


def test_command_id_makes_log_time_idempotent(env):
    employee, _, project = staffed(env)
    first = env.rpc.timesheet.log_time(employee_id=employee, project_id=project, date=TUE, hours=2,
                                       command_id="log-once")
    before = env.head()
    again = env.rpc.timesheet.log_time(employee_id=employee, project_id=project, date=TUE, hours=2,
                                       command_id="log-once")
    assert again["id"] == first["id"] and again["position"] == first["position"]
    assert env.head() == before


def test_concurrent_log_time_never_exceeds_24_hours_a_day(env):
    employee, _, project = staffed(env)
    env.rpc.timesheet.log_time(employee_id=employee, project_id=project, date=WED, hours=1)  # facts in place
    calls = [env.rpc.timesheet.log_time.call_async(employee_id=employee, project_id=project, date=WED, hours=5)
             for _ in range(6)]
    won, refused = [], []
    for call in calls:
        try:
            won.append(call.result())
        except RuleViolation as exc:
            refused.append(exc.code)
    assert len(won) == 4 and refused == ["timesheet.day_over_24h"] * 2
    week = env.rpc.timesheet.get_timesheet(employee_id=employee, week=WEEK)
    assert week["daily_totals"][WED] == 21


# -- amend, delete, move, history ----------------------------------------------------------------
def test_amend_delete_and_move_with_history(env):
    employee, _, project = staffed(env)
    entry = env.rpc.timesheet.log_time(employee_id=employee, project_id=project, date=MON, hours=4)
    env.rpc.timesheet.log_time(employee_id=employee, project_id=project, date=MON, hours=10)
    amended = env.rpc.timesheet.amend_entry(entry_id=entry["id"], hours=6, description="more, \"quoted\"",
                                            reason="forgot")
    assert amended["hours"] == 6 and amended["id"] == entry["id"]
    before = env.head()
    with pytest.raises(RuleViolation) as err:
        env.rpc.timesheet.amend_entry(entry_id=entry["id"], hours=14.01)
    assert err.value.code == "timesheet.day_over_24h" and env.head() == before
    with pytest.raises(NotFound):
        env.rpc.timesheet.amend_entry(entry_id=new_id(), hours=1)
    with pytest.raises(ValidationError):
        env.rpc.timesheet.amend_entry(entry_id=entry["id"], hours=0)

    moved = env.rpc.timesheet.amend_entry(entry_id=entry["id"], date="2026-03-10", reason="wrong week",
                                          command_id="move-1")
    assert moved["id"] == entry["id"] and moved["week"] == "2026-W11" and moved["hours"] == 6
    again = env.rpc.timesheet.amend_entry(entry_id=entry["id"], date="2026-03-10", reason="wrong week",
                                          command_id="move-1")
    assert again["week"] == "2026-W11"
    old = env.rpc.timesheet.get_timesheet(employee_id=employee, week=WEEK)
    new = env.rpc.timesheet.get_timesheet(employee_id=employee, week="2026-W11")
    assert entry["id"] not in [e["id"] for e in old["entries"]] and old["total_hours"] == 10
    assert [e["id"] for e in new["entries"]] == [entry["id"]] and new["total_hours"] == 6

    trail = env.rpc.timesheet.history(employee_id=employee, week=WEEK)["events"]
    assert [t["type"] for t in trail] == ["TimeLogged", "TimeLogged", "TimeEntryAmended", "TimeEntryDeleted"]
    assert trail[2]["changes"]["hours"] == {"old": 4, "new": 6} and trail[2]["reason"] == "forgot"
    assert trail[2]["actor"] == "admin-of-tests" and trail[2]["at"]  # the verified caller
    assert trail[3]["moved_to_week"] == "2026-W11" and trail[3]["changes"]["hours"] == {"old": 6, "new": None}
    moved_in = env.rpc.timesheet.history(employee_id=employee, week="2026-W11")["events"]
    assert moved_in[0]["moved_from_week"] == WEEK

    deleted = env.rpc.timesheet.delete_entry(entry_id=entry["id"], reason="not worked", command_id="del-1")
    assert deleted["deleted"] is True and deleted["hours"] == 6
    before = env.head()
    assert env.rpc.timesheet.delete_entry(entry_id=entry["id"], reason="not worked",
                                          command_id="del-1")["position"] == deleted["position"]
    assert env.head() == before
    assert env.rpc.timesheet.get_timesheet(employee_id=employee, week="2026-W11",
                                           min_position=deleted["position"])["entries"] == []
    with pytest.raises(NotFound):
        env.rpc.timesheet.delete_entry(entry_id=entry["id"])


# -- approvals -----------------------------------------------------------------------------------
def test_submit_approve_per_project_reject_and_resubmit(env):
    employee, manager_a, project_a = staffed(env, code="ALPHA")
    manager_b = new_id()
    project_b = env.project(members=[employee], manager_id=manager_b, code="BETA")
    env.rpc.timesheet.log_time(employee_id=employee, project_id=project_a, date=MON, hours=7.5)
    env.rpc.timesheet.log_time(employee_id=employee, project_id=project_b, date=TUE, hours=2)
    week = env.rpc.timesheet.submit_timesheet(employee_id=employee, week=WEEK)
    assert week["status"] == "submitted" and not week["editable"]
    with pytest.raises(RuleViolation) as err:
        env.rpc.timesheet.log_time(employee_id=employee, project_id=project_a, date=WED, hours=1)
    assert err.value.code == "timesheet.week_closed"

    pending = env.rpc.timesheet.pending_approvals(approver_id=manager_a, min_position=week["position"])
    mine = [p for p in pending if p["employee_id"] == employee]
    assert mine == [{"employee_id": employee, "week": WEEK, "hours": 7.5,
                     "projects": [{"project_id": project_a, "project_code": "ALPHA", "hours": 7.5}]}]
    with pytest.raises(Forbidden) as err:
        env.as_(new_id(), "manager").approve_timesheet(employee_id=employee, week=WEEK)
    assert err.value.code == "auth.not_manager"

    week = env.as_(manager_a, "manager").approve_timesheet(employee_id=employee, week=WEEK)
    assert week["status"] == "partially_approved"
    assert {p["project_code"]: p["status"] for p in week["projects"]} == {"ALPHA": "approved", "BETA": "submitted"}
    with pytest.raises(ValidationError) as err:
        env.as_(manager_b, "manager").reject_timesheet(employee_id=employee, week=WEEK)
    assert "reason" in err.value.errors
    week = env.as_(manager_b, "manager").reject_timesheet(employee_id=employee, week=WEEK, reason="BETA was 1 hour")
    assert week["status"] == "rejected" and week["editable"]
    beta = [e for e in week["entries"] if e["project_id"] == project_b][0]
    env.rpc.timesheet.amend_entry(entry_id=beta["id"], hours=1, reason="per manager")
    env.rpc.timesheet.submit_timesheet(employee_id=employee, week=WEEK)
    env.as_(manager_a, "manager").approve_timesheet(employee_id=employee, week=WEEK)
    week = env.as_(manager_b, "manager").approve_timesheet(employee_id=employee, week=WEEK, project_id=project_b)
    assert week["status"] == "approved" and week["total_hours"] == 8.5
    assert all(p["approved_by"] in (manager_a, manager_b) for p in week["projects"])
    assert not [p for p in env.rpc.timesheet.pending_approvals(approver_id=manager_b)
                if p["employee_id"] == employee]

    statuses = [t["status_after"] for t in env.rpc.timesheet.history(employee_id=employee, week=WEEK)["events"]]
    assert statuses[-5:] == ["rejected", "rejected", "submitted", "partially_approved", "approved"]
    approved_at = env.rpc.timesheet.history(employee_id=employee, week=WEEK)["events"][-1]["at"]
    week = env.as_(manager_a, "manager").reopen_timesheet(employee_id=employee, week=WEEK, reason="audit")
    assert week["status"] == "open"
    then = env.rpc.timesheet.get_timesheet(employee_id=employee, week=WEEK, as_of=approved_at)
    assert then["status"] == "approved" and then["total_hours"] == 8.5
    assert env.rpc.timesheet.get_timesheet(employee_id=employee, week=WEEK, as_of="2000-01-01T00:00:00Z")[
        "entries"] == []


def test_an_empty_week_can_be_submitted(env):
    employee, _, _ = staffed(env)
    week = env.rpc.timesheet.submit_timesheet(employee_id=employee, week="2026-W09")
    assert week["status"] == "submitted" and week["total_hours"] == 0 and week["entries"] == []
    with pytest.raises(RuleViolation) as err:
        env.rpc.timesheet.submit_timesheet(employee_id=employee, week="2026-W09")
    assert err.value.code == "timesheet.not_open"


# -- reports and exports ---------------------------------------------------------------------------
NASTY = 'Meeting, "kick-off"\nwith client; 50% done'


def test_project_hours_and_export_json_and_csv(env):
    employee, manager, project = staffed(env, code="EXP-1")
    task = env.task(project, name="Build, test")
    env.rpc.timesheet.log_time(employee_id=employee, project_id=project, date="2026-05-04", hours=3, task_id=task,
                               description=NASTY)
    env.rpc.timesheet.log_time(employee_id=employee, project_id=project, date="2026-05-05", hours=1.25,
                               billable=False)
    env.rpc.timesheet.submit_timesheet(employee_id=employee, week="2026-W19")
    done = env.as_(manager, "manager").approve_timesheet(employee_id=employee, week="2026-W19")
    env.rpc.timesheet.log_time(employee_id=employee, project_id=project, date="2026-05-11", hours=2)  # open

    report = env.rpc.timesheet.project_hours(project_id=project, min_position=done["position"])
    assert report["total_hours"] == 6.25 and report["approved_hours"] == 4.25 and report["billable_hours"] == 5
    assert report["by_employee"] == [{"employee_id": employee, "hours": 6.25, "approved_hours": 4.25,
                                      "billable_hours": 5}]
    assert {t["task_name"]: t["hours"] for t in report["by_task"]} == {"Build, test": 3, None: 3.25}
    assert env.rpc.timesheet.project_hours(project_id=project, from_date="2026-05-05",
                                           to_date="2026-05-10")["total_hours"] == 1.25

    exported = env.rpc.timesheet.export_hours(from_date="2026-05-01", to_date="2026-05-31")
    rows = [r for r in exported["rows"] if r["employee_id"] == employee]
    assert [(r["date"], r["hours"], r["billable"], r["project_code"]) for r in rows] == [
        ("2026-05-04", 3, True, "EXP-1"), ("2026-05-05", 1.25, False, "EXP-1")]
    assert rows[0]["task_name"] == "Build, test" and rows[0]["approved_by"] == manager and rows[0]["approved_at"]
    everything = env.rpc.timesheet.export_hours(from_date="2026-05-01", to_date="2026-05-31", status="all")
    assert len([r for r in everything["rows"] if r["employee_id"] == employee]) == 3

    text = env.rpc.timesheet.export_hours(from_date="2026-05-01", to_date="2026-05-31", format="csv")
    assert text.startswith("entry_id,date,employee_id,employee_name,client,project_id,project_code,") \
        and "\r\n" in text
    parsed = list(csv.reader(io.StringIO(text, newline="")))
    header, body = parsed[0], [r for r in parsed[1:] if r[2] == employee]
    assert header[:7] == ["entry_id", "date", "employee_id", "employee_name", "client", "project_id", "project_code"]
    first = dict(zip(header, body[0], strict=True))
    assert first["description"] == NASTY and first["task_name"] == "Build, test" and first["hours"] == "3"
    assert first["billable"] == "true" and dict(zip(header, body[1], strict=True))["hours"] == "1.25"
    with pytest.raises(ValidationError):
        env.rpc.timesheet.export_hours(from_date="2026-05-31", to_date="2026-05-01")
    with pytest.raises(ValidationError):
        env.rpc.timesheet.export_hours(from_date="2026-05-01", to_date="2026-05-31", format="xml")


def test_export_hours_comes_in_pages_that_add_up_to_the_whole_export(env):
    """A big export is read page by page (``limit``, then ``after`` the page's ``next``): no row twice, none
    missed, in the export's order."""
    whole = env.rpc.timesheet.export_hours(from_date="2026-01-01", to_date="2026-12-31", status="all")
    assert whole["count"] >= 3 and whole.get("next") is None
    pages, after = [], None
    while True:
        page = env.rpc.timesheet.export_hours(from_date="2026-01-01", to_date="2026-12-31", status="all", limit=2,
                                              **({"after": after} if after else {}))
        assert len(page["rows"]) <= 2
        pages += page["rows"]
        after = page["next"]
        if after is None:
            break
    assert pages == whole["rows"]
    with pytest.raises(ValidationError):
        env.rpc.timesheet.export_hours(from_date="2026-01-01", to_date="2026-12-31", after="not a key", limit=2)
    with pytest.raises(ValidationError):
        env.rpc.timesheet.export_hours(from_date="2026-01-01", to_date="2026-12-31", format="csv", limit=2)


def test_an_unpaged_export_is_bounded_and_the_same_range_pages(env):
    """No single reply holds an unbounded export: past EXPORT_MAX_ROWS lines an unpaged one (JSON or CSV) is refused
    with the way out, and the same range reads whole in pages."""
    employee, _, project = staffed(env)
    day = "2019-06-04"
    for _ in range(EXPORT_MAX_ROWS + 1):
        env.rpc.timesheet.log_time(employee_id=employee, project_id=project, date=day, hours=0.1)
    for format in ("json", "csv"):
        with pytest.raises(RuleViolation) as err:
            env.rpc.timesheet.export_hours(from_date=day, to_date=day, status="all", format=format)
        assert err.value.code == "export.too_large" and "page it" in str(err.value)
    rows, after = [], None
    while True:
        page = env.rpc.timesheet.export_hours(from_date=day, to_date=day, status="all", limit=150,
                                              **({"after": after} if after else {}))
        rows += page["rows"]
        after = page["next"]
        if after is None:
            break
    assert len(rows) == EXPORT_MAX_ROWS + 1 and len({r["entry_id"] for r in rows}) == EXPORT_MAX_ROWS + 1


# -- the period lock -------------------------------------------------------------------------------
def test_a_locked_period_refuses_every_change(env):
    employee, manager, project = staffed(env)
    entry = env.rpc.timesheet.log_time(employee_id=employee, project_id=project, date="2020-03-03", hours=8)
    env.rpc.timesheet.submit_timesheet(employee_id=employee, week="2020-W10")
    env.as_(manager, "manager").approve_timesheet(employee_id=employee, week="2020-W10")
    lock = env.rpc.timesheet.lock_period(through_date="2020-03-03")  # a Tuesday: entries dated through it
    assert lock["locked_through"] == "2020-03-03"
    with pytest.raises(RuleViolation) as err:
        env.rpc.timesheet.lock_period(through_date="2020-01-01")
    assert err.value.code == "timesheet.already_locked"
    before = env.head()
    attempts = [  # reopening would change the status of the locked entry of 3 March
        lambda: env.as_(manager, "manager").reopen_timesheet(employee_id=employee, week="2020-W10", reason="fix"),
        lambda: env.rpc.timesheet.log_time(employee_id=employee, project_id=project, date="2020-02-28", hours=1),
        lambda: env.rpc.timesheet.log_time(employee_id=employee, project_id=project, date="2020-03-03", hours=1),
    ]
    for attempt in attempts:
        with pytest.raises(RuleViolation) as err:
            attempt()
        assert err.value.code == "timesheet.period_locked"
    assert env.head() == before
    # an open week before the lock: amend and delete are refused too
    other = new_id()
    env.member(project, other)
    later = env.rpc.timesheet.log_time(employee_id=other, project_id=project, date="2020-03-10", hours=1)
    env.rpc.timesheet.lock_period(through_date="2020-03-10")
    before = env.head()
    for attempt in (lambda: env.rpc.timesheet.amend_entry(entry_id=later["id"], hours=2),
                    lambda: env.rpc.timesheet.delete_entry(entry_id=later["id"]),
                    lambda: env.rpc.timesheet.amend_entry(entry_id=later["id"], date="2020-03-30")):
        with pytest.raises(RuleViolation) as err:
            attempt()
        assert err.value.code == "timesheet.period_locked"
    assert env.head() == before and entry["week"] == "2020-W10"
    # the lock is by date: the later days of the lock's week take hours
    assert env.rpc.timesheet.log_time(employee_id=other, project_id=project, date="2020-03-11", hours=1)["week"] \
        == "2020-W11"


def test_feed_serves_the_events_with_full_payloads(env):
    employee, _, project = staffed(env)
    out = env.rpc.timesheet.log_time(employee_id=employee, project_id=project, date=WED, hours=1.5)
    page = env.rpc.timesheet.events_since(position=out["position"] - 1, limit=1)
    [event] = page["events"]
    assert event["type"] == "TimeLogged" and event["stream"] == f"timesheet-{employee}_2026W10"
    assert event["data"]["hours"] == 1.5 and event["data"]["project_id"] == project
    assert event["data"]["week"] == WEEK and event["data"]["employee_id"] == employee


# -- review fixes ----------------------------------------------------------------------------------
def test_a_log_time_command_id_reused_in_another_week_replays_the_first_entry(env):
    employee, _, project = staffed(env)
    first = env.rpc.timesheet.log_time(employee_id=employee, project_id=project, date="2026-11-17", hours=2,
                                       command_id="log-two-weeks")
    before = env.head()
    again = env.rpc.timesheet.log_time(employee_id=employee, project_id=project, date="2026-11-24", hours=2,
                                       command_id="log-two-weeks")
    assert again["id"] == first["id"] and again["week"] == "2026-W47" and again["date"] == "2026-11-17"
    assert again["position"] == first["position"]
    assert env.head() == before
    assert env.rpc.timesheet.get_timesheet(employee_id=employee, week="2026-W48")["entries"] == []
    assert env.rpc.timesheet.project_hours(project_id=project)["total_hours"] == 2
    # the one entry stays reachable: deleted once, then it is gone
    env.rpc.timesheet.delete_entry(entry_id=first["id"])
    with pytest.raises(NotFound):
        env.rpc.timesheet.delete_entry(entry_id=first["id"])
    assert env.rpc.timesheet.get_timesheet(employee_id=employee, week="2026-W47")["entries"] == []


def test_a_log_time_command_id_replays_after_its_entry_moved_to_another_week(env):
    employee, _, project = staffed(env)
    first = env.rpc.timesheet.log_time(employee_id=employee, project_id=project, date="2026-11-17", hours=3,
                                       command_id="log-then-move")
    env.rpc.timesheet.amend_entry(entry_id=first["id"], date="2026-12-01", reason="wrong week")
    before = env.head()
    for day in ("2026-11-17", "2026-12-01", "2026-11-24"):
        again = env.rpc.timesheet.log_time(employee_id=employee, project_id=project, date=day, hours=3,
                                           command_id="log-then-move")
        assert again["id"] == first["id"] and again["week"] == "2026-W47" and again["position"] == first["position"]
    assert env.head() == before
    assert env.rpc.timesheet.project_hours(project_id=project)["total_hours"] == 3


def test_a_project_put_on_hold_just_before_log_time_refuses_it(env):
    for attempt in range(5):
        employee, _, project = staffed(env)
        env.rpc.timesheet.log_time(employee_id=employee, project_id=project, date=TUE, hours=1)  # facts in place
        env.commit(project, "ProjectStatusChanged", from_status="active", to_status="on_hold", reason="x",
                   effective_on=None)
        before = env.head()
        with pytest.raises(RuleViolation) as err:
            env.rpc.timesheet.log_time(employee_id=employee, project_id=project, date=TUE, hours=1)
        assert err.value.code == "timesheet.project_not_active", attempt
        assert env.head() == before


def test_a_task_closed_or_member_removed_just_before_amend_refuses_it(env):
    for attempt in range(3):
        employee, _, project = staffed(env)
        task = env.task(project)
        entry = env.rpc.timesheet.log_time(employee_id=employee, project_id=project, date=TUE, hours=1)
        env.commit(project, "TaskClosed", task_id=task)
        with pytest.raises(RuleViolation) as err:
            env.rpc.timesheet.amend_entry(entry_id=entry["id"], task_id=task)
        assert err.value.code == "timesheet.task_closed", attempt
        env.commit(project, "MemberRemoved", employee_id=employee)
        with pytest.raises(RuleViolation) as err:
            env.rpc.timesheet.amend_entry(entry_id=entry["id"], hours=2)
        assert err.value.code == "timesheet.not_a_member", attempt


@pytest.mark.parametrize("call", [
    lambda rpc: rpc.get_timesheet(employee_id="nope", week=WEEK, min_position=-1),
    lambda rpc: rpc.pending_approvals(approver_id="nope", min_position=-1),
    lambda rpc: rpc.project_hours(project_id="nope", min_position=-1),
    lambda rpc: rpc.export_hours(from_date=MON, to_date=TUE, format="nope", min_position=-1),
])
def test_min_position_below_zero_is_refused_with_the_other_field_errors(env, call):
    with pytest.raises(ValidationError) as err:
        call(env.rpc.timesheet)
    assert "min_position" in err.value.errors and len(err.value.errors) == 2


def test_project_hours_refuses_from_date_after_to_date(env):
    with pytest.raises(ValidationError) as err:
        env.rpc.timesheet.project_hours(project_id=new_id(), from_date="2026-12-02", to_date="2026-12-01")
    assert set(err.value.errors) == {"to_date"}
    assert env.rpc.timesheet.project_hours(project_id=new_id(), from_date="2026-12-01",
                                           to_date="2026-12-01")["total_hours"] == 0


# -- review round 2 --------------------------------------------------------------------------------
def weeks_holding(env, employee, entry_id, weeks):
    return [w for w in weeks if entry_id in
            [e["id"] for e in env.rpc.timesheet.get_timesheet(employee_id=employee, week=w)["entries"]]]


def test_a_retried_move_returns_the_first_result_and_undoes_no_later_change(env):
    employee, _, project = staffed(env)
    entry = env.rpc.timesheet.log_time(employee_id=employee, project_id=project, date="2026-11-16", hours=2)
    moved = env.rpc.timesheet.amend_entry(entry_id=entry["id"], date="2026-11-24", hours=4, command_id="mv-X")
    assert moved["week"] == "2026-W48" and moved["hours"] == 4
    env.rpc.timesheet.amend_entry(entry_id=entry["id"], hours=3, command_id="am-X")
    before = env.head()
    again = env.rpc.timesheet.amend_entry(entry_id=entry["id"], date="2026-11-24", hours=4, command_id="mv-X")
    assert again == moved and env.head() == before
    assert [t["type"] for t in env.rpc.timesheet.history(employee_id=employee, week="2026-W48")["events"]] == [
        "TimeLogged", "TimeEntryAmended"]
    assert env.rpc.timesheet.project_hours(project_id=project)["total_hours"] == 3
    # still the first result once the entry is gone
    env.rpc.timesheet.delete_entry(entry_id=entry["id"])
    before = env.head()
    assert env.rpc.timesheet.amend_entry(entry_id=entry["id"], date="2026-11-24", hours=4,
                                         command_id="mv-X") == moved
    assert env.head() == before


def test_an_amend_retried_after_the_entry_was_deleted_returns_the_first_result(env):
    employee, _, project = staffed(env)
    entry = env.rpc.timesheet.log_time(employee_id=employee, project_id=project, date=TUE, hours=1)
    first = env.rpc.timesheet.amend_entry(entry_id=entry["id"], hours=1.5, command_id="am2-Y")
    env.rpc.timesheet.delete_entry(entry_id=entry["id"])
    before = env.head()
    assert env.rpc.timesheet.amend_entry(entry_id=entry["id"], hours=1.5, command_id="am2-Y") == first
    assert env.head() == before
    with pytest.raises(NotFound):  # without a command_id it is a new command on a deleted entry
        env.rpc.timesheet.amend_entry(entry_id=entry["id"], hours=1.5)


def test_a_move_whose_second_step_failed_is_undone_and_its_retry_moves_the_entry_once(env, monkeypatch):
    employee, _, project = staffed(env)
    entry = env.rpc.timesheet.log_time(employee_id=employee, project_id=project, date="2026-11-17", hours=2)
    target = timesheet_id(employee, "2026-W48")
    execute, raced = ChronicleHandle.execute, []

    def submitted_meanwhile(self, cls, aggregate_id, decide, **kw):
        if aggregate_id == target and not raced:  # the target week is submitted after the probe passed
            raced.append(execute(self, Timesheet, target, lambda ts: ts.submit({})))
        return execute(self, cls, aggregate_id, decide, **kw)

    monkeypatch.setattr(ChronicleHandle, "execute", submitted_meanwhile)
    move = dict(entry_id=entry["id"], date="2026-11-24", command_id="mv-fail")
    with pytest.raises(RuleViolation) as err:
        env.rpc.timesheet.amend_entry(**move)
    assert err.value.code == "timesheet.week_closed" and raced
    monkeypatch.undo()
    weeks = ["2026-W47", "2026-W48"]
    assert weeks_holding(env, employee, entry["id"], weeks) == ["2026-W47"]
    before = env.head()
    with pytest.raises(RuleViolation) as err:  # the retry is decided again: still refused, nothing written
        env.rpc.timesheet.amend_entry(**move)
    assert err.value.code == "timesheet.week_closed" and env.head() == before
    env.rpc.timesheet.reopen_timesheet(employee_id=employee, week="2026-W48", reason="oops")  # as an admin
    moved = env.rpc.timesheet.amend_entry(**move)
    assert moved["week"] == "2026-W48" and weeks_holding(env, employee, entry["id"], weeks) == ["2026-W48"]
    before = env.head()
    assert env.rpc.timesheet.amend_entry(**move) == moved and env.head() == before
    assert env.rpc.timesheet.project_hours(project_id=project, min_position=before)["total_hours"] == 2
    assert [t["type"] for t in env.rpc.timesheet.history(employee_id=employee, week="2026-W47")["events"]] == [
        "TimeLogged", "TimeEntryDeleted", "TimeLogged", "TimeEntryDeleted"]


def test_a_move_interrupted_after_its_first_step_is_completed_by_its_retry(env, monkeypatch):
    employee, _, project = staffed(env)
    entry = env.rpc.timesheet.log_time(employee_id=employee, project_id=project, date="2026-11-17", hours=2)
    source = timesheet_id(employee, "2026-W47")
    execute = ChronicleHandle.execute

    def dies_after_the_first_step(self, cls, aggregate_id, decide, **kw):
        outcome = execute(self, cls, aggregate_id, decide, **kw)
        if aggregate_id == source:
            raise RuntimeError("the process died here")
        return outcome

    monkeypatch.setattr(ChronicleHandle, "execute", dies_after_the_first_step)
    move = dict(entry_id=entry["id"], date="2026-11-25", hours=5, command_id="mv-crash")
    with pytest.raises(Exception):  # noqa: B017 (a remote RuntimeError)
        env.rpc.timesheet.amend_entry(**move)
    monkeypatch.undo()
    weeks = ["2026-W47", "2026-W48"]
    assert weeks_holding(env, employee, entry["id"], weeks) == []
    moved = env.rpc.timesheet.amend_entry(**move)
    assert moved["week"] == "2026-W48" and moved["hours"] == 5 and moved["date"] == "2026-11-25"
    assert weeks_holding(env, employee, entry["id"], weeks) == ["2026-W48"]
    before = env.head()
    assert env.rpc.timesheet.amend_entry(**move) == moved and env.head() == before
    assert env.rpc.timesheet.project_hours(project_id=project, min_position=before)["total_hours"] == 5


def test_the_same_log_time_command_id_for_another_employee_logs_their_own_entry(env):
    first, _, project = staffed(env)
    second = new_id()
    env.member(project, second)
    mine = env.rpc.timesheet.log_time(employee_id=first, project_id=project, date=TUE, hours=1, command_id="lt-1")
    theirs = env.rpc.timesheet.log_time(employee_id=second, project_id=project, date=TUE, hours=2,
                                        command_id="lt-1")
    assert theirs["employee_id"] == second and theirs["id"] != mine["id"] and theirs["hours"] == 2


def test_the_verified_caller_is_the_recorded_actor_and_history_shows_it(env):
    employee, manager, project = staffed(env)
    admin = env.rpc.timesheet  # the tests' admin token: subject "admin-of-tests"
    entry = admin.log_time(employee_id=employee, project_id=project, date="2026-03-17", hours=1)
    admin.amend_entry(entry_id=entry["id"], hours=2)
    admin.submit_timesheet(employee_id=employee, week="2026-W12")
    admin.approve_timesheet(employee_id=employee, week="2026-W12")
    trail = admin.history(employee_id=employee, week="2026-W12")["events"]
    assert [t["actor"] for t in trail] == ["admin-of-tests"] * 4
    mine, boss = env.as_(employee), env.as_(manager, "manager")
    own = mine.log_time(employee_id=employee, project_id=project, date="2026-03-24", hours=1)
    mine.amend_entry(entry_id=own["id"], hours=2)
    mine.submit_timesheet(employee_id=employee, week="2026-W13")
    boss.approve_timesheet(employee_id=employee, week="2026-W13")
    trail = mine.history(employee_id=employee, week="2026-W13")["events"]
    assert [t["actor"] for t in trail] == [employee, employee, employee, manager]
    submitted = env.rpc.timesheet.events_since(position=trail[2]["position"] - 1, limit=1)["events"][0]
    assert submitted["data"]["actor_id"] == employee and submitted["metadata"]["actor_role"] == "employee"


def test_a_rejected_line_carries_no_approval_and_a_locked_week_is_not_editable(env):
    employee, manager_a, project_a = staffed(env)
    manager_b = new_id()
    project_b = env.project(members=[employee], manager_id=manager_b)
    week = "2021-W09"  # Mon 2021-03-01: after the locks of test_a_locked_period_refuses_every_change
    env.rpc.timesheet.log_time(employee_id=employee, project_id=project_a, date="2021-03-01", hours=1)
    env.rpc.timesheet.log_time(employee_id=employee, project_id=project_b, date="2021-03-02", hours=1)
    env.rpc.timesheet.submit_timesheet(employee_id=employee, week=week)
    env.as_(manager_a, "manager").approve_timesheet(employee_id=employee, week=week)
    view = env.as_(manager_b, "manager").reject_timesheet(employee_id=employee, week=week, reason="B is wrong")
    lines = {p["project_id"]: p for p in view["projects"]}
    assert lines[project_a]["status"] == "rejected" and view["editable"]
    assert lines[project_a]["approved_by"] is None and lines[project_a]["approved_at"] is None
    env.rpc.timesheet.lock_period(through_date="2021-03-07")  # the week's Sunday: the whole week
    view = env.rpc.timesheet.get_timesheet(employee_id=employee, week=week)
    assert view["status"] == "rejected" and view["editable"] is False
    with pytest.raises(RuleViolation) as err:
        env.rpc.timesheet.log_time(employee_id=employee, project_id=project_a, date="2021-03-03", hours=1)
    assert err.value.code == "timesheet.period_locked"


@pytest.mark.parametrize("reason", ["", "   ", "\t\n"])
def test_a_blank_reason_is_a_validation_error_for_reject_and_reopen(env, reason):
    employee, manager, project = staffed(env)
    env.rpc.timesheet.log_time(employee_id=employee, project_id=project, date="2026-03-31", hours=1)
    env.rpc.timesheet.submit_timesheet(employee_id=employee, week="2026-W14")
    before = env.head()
    boss = env.as_(manager, "manager")
    for call in (lambda: boss.reject_timesheet(employee_id=employee, week="2026-W14", reason=reason),
                 lambda: boss.reopen_timesheet(employee_id=employee, week="2026-W14", reason=reason)):
        with pytest.raises(ValidationError) as err:
            call()
        assert set(err.value.errors) == {"reason"}
    assert env.head() == before


# -- bad input is refused before anything is appended (issue 9, item 4) ----------------------------------------
def test_an_unknown_employee_cannot_submit_a_week(env):
    before = env.head()
    with pytest.raises(NotFound) as err:
        env.rpc.timesheet.submit_timesheet(employee_id=new_id(), week="2027-W09")
    assert err.value.code == "timesheet.employee_unknown"
    assert env.head() == before
    # a member known a moment ago only in the project feed is pulled in, then accepted
    employee = new_id()
    env.commit(env.project(), "MemberAssigned", project_code="X", project_name="x", employee_id=employee,
               role="consultant", hourly_rate=None)
    assert env.rpc.timesheet.submit_timesheet(employee_id=employee, week="2027-W09")["status"] == "submitted"


def test_dates_and_weeks_beyond_the_accepted_range_are_validation_errors(env):
    employee, _, project = staffed(env)
    entry = env.rpc.timesheet.log_time(employee_id=employee, project_id=project, date="2027-03-02", hours=1)
    before = env.head()
    refused = [
        ("week", lambda: env.rpc.timesheet.submit_timesheet(employee_id=employee, week="9999-W52")),
        ("week", lambda: env.rpc.timesheet.get_timesheet(employee_id=employee, week="9999-W52")),
        ("week", lambda: env.rpc.timesheet.reopen_timesheet(employee_id=employee, week="9999-W52", reason="x")),
        ("date", lambda: env.rpc.timesheet.log_time(employee_id=employee, project_id=project, date="9999-12-31",
                                                    hours=1)),
        ("date", lambda: env.rpc.timesheet.log_time(employee_id=employee, project_id=project, date="0001-01-01",
                                                    hours=1)),
        ("date", lambda: env.rpc.timesheet.amend_entry(entry_id=entry["id"], date="9999-12-31")),
        ("through_date", lambda: env.rpc.timesheet.lock_period(through_date="9999-12-31")),
        ("as_of", lambda: env.rpc.timesheet.get_timesheet(employee_id=employee, week="2027-W10",
                                                          as_of="9999-12-31T00:00:00Z")),
        ("description", lambda: env.rpc.timesheet.log_time(employee_id=employee, project_id=project,
                                                           date="2027-03-03", hours=1, description="a\x00b")),
        ("description", lambda: env.rpc.timesheet.amend_entry(entry_id=entry["id"], description="\u202etxt.exe")),
        ("reason", lambda: env.rpc.timesheet.delete_entry(entry_id=entry["id"], reason="\x1b[31m")),
        ("command_id", lambda: env.rpc.timesheet.delete_entry(entry_id=entry["id"], command_id="c\x00")),
        ("min_position", lambda: env.rpc.timesheet.pending_approvals(approver_id=employee, min_position="1")),
    ]
    for field, call in refused:
        with pytest.raises(ValidationError) as err:
            call()
        assert field in err.value.errors, (field, err.value.errors)
    assert env.head() == before
    kept = env.rpc.timesheet.amend_entry(entry_id=entry["id"], description="Ærøskøbing ferry, 2 h\nback")
    assert kept["description"] == "Ærøskøbing ferry, 2 h\nback"


def test_the_last_accepted_week_can_be_written_read_and_reopened(env):
    employee, manager, project = staffed(env)
    entry = env.rpc.timesheet.log_time(employee_id=employee, project_id=project, date="2999-12-31", hours=1)
    assert entry["week"] == "3000-W01"  # 2999-12-31 is a Tuesday of ISO week 3000-W01
    env.rpc.timesheet.submit_timesheet(employee_id=employee, week="3000-W01")
    week = env.rpc.timesheet.get_timesheet(employee_id=employee, week="3000-W01")
    assert week["status"] == "submitted" and list(week["daily_totals"])[-1] == "3000-01-05"
    assert env.rpc.timesheet.reopen_timesheet(employee_id=employee, week="3000-W01",
                                              reason="typo")["status"] == "open"


def test_a_reopened_task_takes_hours_again(env):
    employee, _, project = staffed(env, starts_on="2026-03-03", ends_on="2026-03-31")
    task = env.task(project)
    env.emit(project, "TaskClosed", task_id=task)
    with pytest.raises(RuleViolation) as err:
        env.rpc.timesheet.log_time(employee_id=employee, project_id=project, task_id=task, date=TUE, hours=1)
    assert err.value.code == "timesheet.task_closed"
    env.emit(project, "TaskReopened", task_id=task)
    logged = env.rpc.timesheet.log_time(employee_id=employee, project_id=project, task_id=task, date=TUE, hours=1)
    assert logged["task_id"] == task
