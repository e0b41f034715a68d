"""Follow-up notifications (issue 17) in a real nameko container on the real RabbitMQ, fed by fake project,
timesheet and resource services (real kit services: their events are built through the producers' own
registries), with a fixed clock and the follow-up timer ticking. One container for the module; the missed-hours
runs, which need the clock to move from week to week, restart the service with a new clock."""
from types import SimpleNamespace

import pytest

from services.notification.service import NotificationService
from shared.testing import rpc_proxy, running, service_config, wait_until
from tests.notification.helpers import FakeProject, FakeResource, FakeTimesheet, SmtpServer, new_id

# The module's clock: Tuesday 2030-03-12, long after anything submitted today (real time) is overdue.
NOW = "2030-03-12T10:00:00Z"
WEEK = "2030-W09"


@pytest.fixture(scope="module")
def env(amqp_uri, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("followup")
    smtp = SmtpServer(tmp / "maildir").start()
    config = service_config(amqp_uri, tmp / "data", SMTP_HOST="127.0.0.1", SMTP_PORT=smtp.port,
                            SMTP_FROM="chronicle@example.com", DELIVERY_POLL_INTERVAL=0.1,
                            REMINDER_FIXED_NOW=NOW, REMINDER_CHECK_SECONDS=0.3,
                            APPROVAL_CHASE_MAX_AGE_DAYS=100_000)  # submissions are recorded today, years before NOW
    try:
        with running(config, FakeProject, FakeTimesheet, FakeResource, NotificationService), \
                rpc_proxy(config) as rpc:
            yield SimpleNamespace(config=config, rpc=rpc, smtp=smtp)
    finally:
        smtp.stop()


def person(rpc, name, capacity=40):
    rid = new_id()
    rpc.resource.emit(stream=f"resource-{rid}", type="ResourceRegistered", data={
        "resource_id": rid, "name": name, "email": f"{name.lower()}.{rid[:6]}@example.com",
        "weekly_capacity_hours": capacity, "skills": [], "working_days": [1, 2, 3, 4, 5], "title": "Consultant"})
    return SimpleNamespace(id=rid, name=name)


def project(rpc, manager, name="Harbour Bridge"):
    pid = new_id()
    code = f"P{pid[:4].upper()}"
    rpc.project.emit(stream=f"project-{pid}", type="ProjectCreated", data={
        "project_id": pid, "name": name, "code": code, "manager_id": manager.id, "customer": "ACME",
        "starts_on": "2030-01-01", "ends_on": None, "billable": True, "budget_hours": 100,
        "budget_amount": "100000.00", "currency": "NOK", "hourly_rate": "1000.00"})
    return SimpleNamespace(id=pid, name=name, code=code, manager=manager)


def known(rpc, *people):
    wait_until(lambda: all(rpc.notification.get_preferences(user_id=p.id) for p in people))  # the service is up
    for p in people:
        wait_until(lambda p=p: _person(rpc, p.id), message=f"{p.name} known")


def _person(rpc, person_id):
    from shared.errors import NotFound
    try:
        return rpc.notification.person(person_id=person_id)
    except NotFound:
        return None


def told(rpc, source, count):
    return wait_until(lambda: len(n := rpc.notification.notifications_for(source_event_id=source["id"])) == count
                      and n, message=f"{count} notification(s) for {source['type']}")


def kinds_in(rpc, person_id, kind):
    return [n for n in rpc.notification.inbox(user_id=person_id, limit=500) if n["kind"] == kind]


# -- milestones ---------------------------------------------------------------------------------------
def milestone(rpc, p, owner, type, **extra):
    return rpc.project.emit(stream=f"project-{p.id}", type=type, data={
        "project_id": p.id, "milestone_id": "m-1", "name": "Design approved", "due_on": "2030-03-19",
        "owner_id": owner.id, "manager_id": p.manager.id, **extra})


def test_the_owner_and_the_manager_are_told_a_week_before_on_the_day_and_when_missed(env):
    mona, olga = person(env.rpc, "Mona"), person(env.rpc, "Olga")
    p = project(env.rpc, mona)
    known(env.rpc, mona, olga)
    week_before = milestone(env.rpc, p, olga, "MilestoneDueSoon", days_left=7)
    notes = told(env.rpc, week_before, 2)
    assert {(n["recipient_id"], n["kind"]) for n in notes} == {(olga.id, "milestone_due"), (mona.id, "milestone_due")}
    assert notes[0]["title"] == f"Milestone Design approved of {p.name} ({p.code}) is due in 7 days"
    on_the_day = milestone(env.rpc, p, olga, "MilestoneDueSoon", days_left=0)
    assert {n["title"] for n in told(env.rpc, on_the_day, 2)} == {
        f"Milestone Design approved of {p.name} ({p.code}) is due today"}
    missed = milestone(env.rpc, p, olga, "MilestoneMissed")
    notes = told(env.rpc, missed, 2)
    assert {(n["recipient_id"], n["kind"]) for n in notes} == {(olga.id, "milestone_missed"),
                                                               (mona.id, "milestone_missed")}
    (note,) = kinds_in(env.rpc, mona.id, "milestone_missed")
    assert "was due on 2030-03-19 and is not done" in note["body"] and "Owner: Olga" in note["body"]


def test_a_manager_who_owns_the_milestone_is_told_once(env):
    mona = person(env.rpc, "Mona")
    p = project(env.rpc, mona)
    known(env.rpc, mona)
    source = milestone(env.rpc, p, mona, "MilestoneMissed")
    (note,) = told(env.rpc, source, 1)
    assert note["recipient_id"] == mona.id


# -- forecast over budget -----------------------------------------------------------------------------
def forecast(rpc, p, type, phase_id=None, budget="hours", value="120.00"):
    return rpc.project.emit(stream=f"project-{p.id}", type=type, data={
        "project_id": p.id, "phase_id": phase_id, "budget": budget, "forecast": value, "budget_value": "100.00",
        "manager_id": p.manager.id})


def test_the_manager_is_told_once_per_crossing_of_a_budget(env):
    mona = person(env.rpc, "Mona")
    p = project(env.rpc, mona)
    known(env.rpc, mona)
    env.rpc.project.emit(stream=f"project-{p.id}", type="PhaseAdded", data={
        "project_id": p.id, "phase_id": "ph-1", "name": "Build", "starts_on": "2030-01-01", "ends_on": "2030-06-30",
        "budget_hours": 100, "budget_amount": "100000.00", "position": 0})
    over = forecast(env.rpc, p, "ForecastOverBudget")
    (note,) = told(env.rpc, over, 1)
    assert note["recipient_id"] == mona.id and note["kind"] == "forecast_over_budget"
    assert note["title"] == f"Project {p.name} ({p.code}) is forecast over its hours budget"
    assert "120.00 h, over its hours budget of 100.00 h" in note["body"]
    again = forecast(env.rpc, p, "ForecastOverBudget", value="130.00")  # the same crossing, said again
    phase = forecast(env.rpc, p, "ForecastOverBudget", phase_id="ph-1", budget="money", value="150000.00")
    (note,) = told(env.rpc, phase, 1)  # recorded after ``again``: the reactor has passed it
    assert note["title"] == f"Phase Build of project {p.name} ({p.code}) is forecast over its money budget"
    assert env.rpc.notification.notifications_for(source_event_id=again["id"]) == []
    back = forecast(env.rpc, p, "ForecastBackWithinBudget", value="95.00")
    (note,) = told(env.rpc, back, 1)
    assert note["kind"] == "forecast_within_budget" and "back within its hours budget" in note["title"]
    over_again = forecast(env.rpc, p, "ForecastOverBudget", value="101.00")
    told(env.rpc, over_again, 1)
    assert len(kinds_in(env.rpc, mona.id, "forecast_over_budget")) == 3


# -- approvals waiting ----------------------------------------------------------------------------------
def submit(rpc, employee, week, *projects):
    return rpc.timesheet.emit(stream=f"timesheet-{employee.id}_{week.replace('-', '')}", type="TimesheetSubmitted",
                              data={"employee_id": employee.id, "week": week, "total_hours": 8, "actor_id": None,
                                    "projects": [{"project_id": p.id, "hours": 4, "billable_hours": 4,
                                                  "manager_id": None} for p in projects]})


def test_managers_are_told_once_of_a_week_waiting_more_than_three_working_days(env):
    mona, max_, ann = person(env.rpc, "Mona"), person(env.rpc, "Max"), person(env.rpc, "Ann")
    p1, p2 = project(env.rpc, mona, "One"), project(env.rpc, max_, "Two")
    known(env.rpc, mona, max_, ann)
    submit(env.rpc, ann, WEEK, p1, p2)
    env.rpc.timesheet.emit(stream=f"timesheet-{ann.id}_{WEEK.replace('-', '')}", type="TimesheetApproved", data={
        "employee_id": ann.id, "week": WEEK, "approver_id": max_.id, "project_ids": [p2.id],
        "status": "partially_approved", "approved_at": None, "lines": [
            {"project_id": p2.id, "hours": 4, "billable_hours": 4}]})
    (note,) = wait_until(lambda: kinds_in(env.rpc, mona.id, "approval_overdue"), timeout=15,
                         message="the timer's chase")
    assert note["title"] == f"Ann's timesheet for {WEEK} is waiting for your approval"
    assert f"Projects waiting: One ({p1.code})" in note["body"] and "working days" in note["body"]
    # Max approved his project in time: nobody chases him. Another week submitted later is chased by a later
    # tick; by then the first has been looked at again and is still told once.
    submit(env.rpc, ann, "2030-W08", p1)
    wait_until(lambda: len(kinds_in(env.rpc, mona.id, "approval_overdue")) == 2, timeout=15)
    assert kinds_in(env.rpc, max_.id, "approval_overdue") == []
    rejected = person(env.rpc, "Rita")
    known(env.rpc, rejected)
    submit(env.rpc, rejected, WEEK, p1)
    env.rpc.timesheet.emit(stream=f"timesheet-{rejected.id}_{WEEK.replace('-', '')}", type="TimesheetRejected",
                           data={"employee_id": rejected.id, "week": WEEK, "approver_id": mona.id, "reason": "no",
                                 "project_ids": [p1.id], "lines": [{"project_id": p1.id, "hours": 4}]})
    submit(env.rpc, ann, "2030-W07", p1)  # a marker: chased by a tick after the rejection was seen
    wait_until(lambda: len(kinds_in(env.rpc, mona.id, "approval_overdue")) == 3, timeout=15)
    titles = [n["title"] for n in kinds_in(env.rpc, mona.id, "approval_overdue")]
    assert not any("Rita" in t for t in titles) and len(set(titles)) == 3


# -- per-kind preferences --------------------------------------------------------------------------------
def test_preferences_per_kind_and_channel_decide_every_kind(env):
    mona, olga = person(env.rpc, "Mona"), person(env.rpc, "Olga")
    p = project(env.rpc, mona)
    known(env.rpc, mona, olga)
    assert env.rpc.notification.get_preferences(user_id=olga.id)["kinds"] == {}
    saved = env.rpc.notification.set_preferences(
        user_id=olga.id, email=False, kinds={"milestone_missed": {"email": True}, "milestone_due": {"inapp": False}})
    assert saved["kinds"] == {"milestone_due": {"inapp": False}, "milestone_missed": {"email": True}}
    shown = env.rpc.notification.get_preferences(user_id=olga.id, min_position=saved["position"])
    assert shown["kinds"] == saved["kinds"] and shown["email"] is False
    assert shown["by_kind"]["milestone_missed"] == {"email": True, "inapp": True}
    assert shown["by_kind"]["milestone_due"] == {"email": False, "inapp": False}
    assert shown["by_kind"]["member_assigned"] == {"email": False, "inapp": True}
    due = milestone(env.rpc, p, olga, "MilestoneDueSoon", days_left=7)
    missed = milestone(env.rpc, p, olga, "MilestoneMissed")
    (to_mona,) = told(env.rpc, due, 1)  # due: Olga has every channel off for the kind, Mona is told
    assert to_mona["recipient_id"] == mona.id
    notes = told(env.rpc, missed, 2)
    assert len(env.rpc.notification.notifications_for(source_event_id=due["id"])) == 1  # the reactor is past it
    (to_olga,) = [n for n in notes if n["recipient_id"] == olga.id]
    assert to_olga["inapp"] is True and to_olga["email_status"] in ("pending", "sent")
    over = forecast(env.rpc, project(env.rpc, olga), "ForecastOverBudget")  # no override: in-app only
    (note,) = told(env.rpc, over, 1)
    assert note["inapp"] is True and note["email_status"] is None


# -- missed hours two weeks in a row -------------------------------------------------------------------------
def test_a_manager_is_told_once_per_run_of_weeks_with_missed_hours(isolated_amqp_uri, tmp_path):
    # Reminders (and this check) are due on Mondays at 09:00 for the week before. Tuesday 2030-03-12 checks
    # 2030-W10 (and W09); a week later, 2030-W11 (and W10).
    def config(now):
        return service_config(isolated_amqp_uri, tmp_path, REMINDER_FIXED_NOW=now, REMINDER_CHECK_SECONDS=0.3)

    with running(config("2030-03-12T10:00:00Z"), FakeProject, FakeTimesheet, FakeResource), \
            rpc_proxy(config("2030-03-12T10:00:00Z")) as rpc:
        mona, ann, bob = person(rpc, "Mona"), person(rpc, "Ann"), person(rpc, "Bob")
        p = project(rpc, mona)
        rpc.project.emit(stream=f"project-{p.id}", type="MemberAssigned", data={
            "project_id": p.id, "project_code": p.code, "project_name": p.name, "employee_id": ann.id,
            "role": "Engineer", "hourly_rate": "1000.00"})
        rpc.timesheet.emit(stream=f"timesheet-{bob.id}_2030W09", type="TimeLogged", data={
            "entry_id": new_id(), "employee_id": bob.id, "week": "2030-W09", "project_id": p.id, "task_id": None,
            "date": "2030-02-25", "hours": 40, "billable": True, "description": ""})
        # Ann logged nothing in W09 and W10: her run starts. Bob worked W09 in full.
        with running(config("2030-03-12T10:00:00Z"), NotificationService):
            (first,) = wait_until(lambda: kinds_in(rpc, mona.id, "hours_missed"), timeout=20,
                                  message="the weekly check")
            assert first["title"] == "Ann missed their hours two weeks in a row"
            assert "- Ann: 2030-W09 0 h of 40 h; 2030-W10 0 h of 40 h" in first["body"]
        # A week later Ann's run goes on (told already) and Bob's starts (W10 and W11).
        with running(config("2030-03-19T10:00:00Z"), NotificationService):
            wait_until(lambda: len(kinds_in(rpc, mona.id, "hours_missed")) == 2, timeout=20,
                       message="the next week's check")
            second, again = kinds_in(rpc, mona.id, "hours_missed")
            assert again["id"] == first["id"]
            assert second["title"] == "Bob missed their hours two weeks in a row"
            assert "Ann" not in second["body"]
            assert kinds_in(rpc, ann.id, "hours_missed") == [] and kinds_in(rpc, bob.id, "hours_missed") == []


def test_followup_checks_show_a_weeks_check_and_its_chases(env):
    # the module's clock checked 2030-W10 (and W09) when the service started; W09's submissions are chased
    mona, ann = person(env.rpc, "Mona"), person(env.rpc, "Ann")
    p = project(env.rpc, mona, "Checks")
    known(env.rpc, mona, ann)
    source = submit(env.rpc, ann, "2030-W05", p)

    def chased():
        found = env.rpc.notification.followup_checks(week="2030-W05")["approvals_overdue"]
        return [c for c in found if c["submission_id"] == source["id"]]

    (chase,) = wait_until(chased, timeout=15, message="the chase of 2030-W05")
    assert chase["employee_id"] == ann.id and chase["managers"] == [{"manager_id": mona.id, "project_ids": [p.id]}]
    assert chase["detected_on"] == "2030-03-12" and chase["working_days"] > 3
    checked = env.rpc.notification.followup_checks(week="2030-W10")["missed_hours"]
    assert checked["previous_week"] == "2030-W09" and checked["checked_at"]
    assert env.rpc.notification.followup_checks(week="2030-W11") == {
        "week": "2030-W11", "missed_hours": None, "approvals_overdue": []}
