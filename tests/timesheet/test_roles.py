"""Who may call what on the timesheet service (issue 11): every RPC x every role, as a table, through real
containers (the real project service, a fake resource service) and the real RabbitMQ; then one person's token on
another person's data, one's own hours, delegates and period locks. Every refusal appends nothing."""
import inspect
import itertools
import uuid
from datetime import date, timedelta

import pytest
from nameko.standalone.rpc import ClusterRpcProxy

from services.project.service import ProjectService
from services.timesheet.service import TimesheetService
from shared.errors import Forbidden, RuleViolation, Unauthenticated, ValidationError
from shared.testing import fake_source, issue_token, rpc_proxy, running, service_config, wait_until

FakeResource = fake_source("resource")

# The callers of the table. "manager" manages the project P the employee logs on; "other manager" manages
# another project; "other employee" is another member of P.
ROLES = ("admin", "manager", "other manager", "employee", "other employee", "service", "no token")
OK = "ok"
NOT_OWN, NOT_MANAGER, ROLE, MISSING = "auth.not_own", "auth.not_manager", "auth.role", "auth.missing"


def row(admin, manager, other_manager, employee, other_employee, service, no_token=MISSING):
    return dict(zip(ROLES, (admin, manager, other_manager, employee, other_employee, service, no_token),
                    strict=True))


OWN_HOURS = row(OK, NOT_OWN, NOT_OWN, OK, NOT_OWN, ROLE)
DECIDE = row(OK, OK, NOT_MANAGER, ROLE, ROLE, ROLE)
READ_WEEK = row(OK, OK, NOT_MANAGER, OK, NOT_OWN, OK)  # services (integrations) read facts
ADMIN_ONLY = row(OK, ROLE, ROLE, ROLE, ROLE, ROLE)
FEED = row(OK, ROLE, ROLE, ROLE, ROLE, OK)

# rpc (a name in CALLS) -> role -> "ok" or the Forbidden/Unauthenticated code
TABLE = {
    "log_time": OWN_HOURS,
    "amend_entry": OWN_HOURS,
    "delete_entry": OWN_HOURS,
    "submit_timesheet": OWN_HOURS,
    "approve_timesheet": DECIDE,
    "reject_timesheet": DECIDE,
    "reopen_timesheet": DECIDE,
    "get_timesheet": READ_WEEK,
    "history": READ_WEEK,
    "pending_approvals": row(OK, OK, OK, ROLE, ROLE, ROLE),  # one's own queue
    "pending_approvals of the manager": row(OK, OK, "auth.impersonation", ROLE, ROLE, ROLE),
    "project_hours": row(OK, OK, NOT_MANAGER, ROLE, ROLE, OK),
    "export_hours": row(OK, ROLE, ROLE, ROLE, ROLE, OK),
    "lock_period": ADMIN_ONLY,
    "unlock_period": ADMIN_ONLY,
    "period_lock": row(OK, OK, OK, OK, OK, ROLE),
    "events_since": FEED,
    "status": FEED,
    # the month-end close: corrections for admins and the project's manager (never on their own hours)
    "correct_entry": row(OK, OK, NOT_MANAGER, ROLE, ROLE, ROLE),
    "add_late_entry": row(OK, OK, NOT_MANAGER, ROLE, ROLE, ROLE),
    "mark_invoiced": ADMIN_ONLY,
    "export_hours since": row(OK, ROLE, ROLE, ROLE, ROLE, OK),
}

_weeks = itertools.count()


def fresh_week():
    """A week of its own for each case (2027 on: never under the period locks the cases set)."""
    n = next(_weeks)
    return f"{2027 + n // 50}-W{n % 50 + 1:02d}"


def monday(week):
    year, number = week.split("-W")
    return date.fromisocalendar(int(year), int(number), 1).isoformat()


class Platform:
    def __init__(self, config, admin, proxies, people):
        self.config, self.admin, self.proxies = config, admin, proxies
        self.__dict__.update(people)

    @property
    def timesheet(self):
        return self.admin.timesheet

    def head(self):
        return self.admin.timesheet.events_since(position=0, limit=1)["head"]

    # -- state for a case, made as an admin ------------------------------------------------------------
    def logged(self, week=None, employee=None, project=None):
        week = week or fresh_week()
        return self.timesheet.log_time(employee_id=employee or self.employee, project_id=project or self.project,
                                       date=monday(week), hours=1)

    def submitted(self, employee=None):
        entry = self.logged(employee=employee)
        self.timesheet.submit_timesheet(employee_id=entry["employee_id"], week=entry["week"])
        return entry

    def approved(self):
        entry = self.submitted()
        self.timesheet.approve_timesheet(employee_id=entry["employee_id"], week=entry["week"])
        return entry

    def invoiced(self):
        """An entry marked invoiced: it changes only through a correction (no lock needed)."""
        entry = self.logged()
        self.timesheet.mark_invoiced(entry_ids=[entry["id"]], invoice_ref=f"INV-{entry['id'][:8]}")
        return entry

    def late_day(self):
        """A day under the lock for a late entry (the lock is moved to 2020-01-01 at least; each case its day)."""
        current = self.timesheet.period_lock()["locked_through"]
        if current is None or current < "2020-01-01":
            self.timesheet.lock_period(through_date="2020-01-01")
        return (date(2019, 1, 1) + timedelta(days=next(_weeks))).isoformat()

    def lock_moved(self, days):
        """A date ``days`` after the current lock (locks here stay in 2020, far from every week used)."""
        current = self.timesheet.period_lock()["locked_through"] or "2020-01-01"
        return (date.fromisoformat(current) + timedelta(days=days)).isoformat()

    def locked_a_day_more(self):
        """Locks a day further and returns the date before that: an unlock's target."""
        before = self.lock_moved(0)
        self.timesheet.lock_period(through_date=self.lock_moved(1))
        return before


def _week(entry):
    return {"employee_id": entry["employee_id"], "week": entry["week"]}


# rpc -> (platform -> (method name, kwargs)): the state each case needs, made fresh, then the call
CALLS = {
    "log_time": lambda p: ("log_time", dict(employee_id=p.employee, project_id=p.project,
                                            date=monday(fresh_week()), hours=1)),
    "amend_entry": lambda p: ("amend_entry", dict(entry_id=p.logged()["id"], hours=2)),
    "delete_entry": lambda p: ("delete_entry", dict(entry_id=p.logged()["id"])),
    "submit_timesheet": lambda p: ("submit_timesheet", _week(p.logged())),
    "approve_timesheet": lambda p: ("approve_timesheet", _week(p.submitted())),
    "reject_timesheet": lambda p: ("reject_timesheet", dict(_week(p.submitted()), reason="Tuesday is missing")),
    "reopen_timesheet": lambda p: ("reopen_timesheet", dict(_week(p.approved()), reason="audit")),
    "get_timesheet": lambda p: ("get_timesheet", _week(p.logged())),
    "history": lambda p: ("history", _week(p.logged())),
    "pending_approvals": lambda p: ("pending_approvals", {}),
    "pending_approvals of the manager": lambda p: ("pending_approvals", dict(approver_id=p.manager)),
    "project_hours": lambda p: ("project_hours", dict(project_id=p.project)),
    "export_hours": lambda p: ("export_hours", dict(from_date="2027-01-01", to_date="2027-12-31")),
    "lock_period": lambda p: ("lock_period", dict(through_date=p.lock_moved(1))),
    "unlock_period": lambda p: ("unlock_period", dict(through_date=p.locked_a_day_more(), reason="payroll rerun")),
    "period_lock": lambda p: ("period_lock", {}),
    "events_since": lambda p: ("events_since", dict(position=0, limit=1)),
    "status": lambda p: ("status", {}),
    "correct_entry": lambda p: ("correct_entry", dict(entry_id=p.invoiced()["id"], hours=2, reason="billed wrong")),
    "add_late_entry": lambda p: ("add_late_entry", dict(employee_id=p.employee, project_id=p.project,
                                                        date=p.late_day(), hours=1, reason="forgot")),
    "mark_invoiced": lambda p: ("mark_invoiced", dict(entry_ids=[p.logged()["id"]], invoice_ref="INV-1")),
    "export_hours since": lambda p: ("export_hours", dict(since="0", limit=5)),
}


def register(rpc, name):
    resource_id = str(uuid.uuid4())
    rpc.resource.emit(stream=f"resource-{resource_id}", type="ResourceRegistered", data={
        "resource_id": resource_id, "name": name, "email": f"{resource_id}@example.com",
        "weekly_capacity_hours": 37.5, "skills": [], "working_days": [1, 2, 3, 4, 5], "title": "Consultant"})
    return resource_id


@pytest.fixture(scope="module")
def platform(amqp_uri, tmp_path_factory):
    config = service_config(amqp_uri, tmp_path_factory.mktemp("roles"))
    with running(config, ProjectService, TimesheetService, FakeResource), rpc_proxy(config) as admin:
        people = {k: register(admin, k) for k in ("manager", "other_manager", "employee", "other_employee",
                                                   "admin_person")}
        project = admin.project.create_project(name="Quay", code="QUAY", manager_id=people["manager"])["id"]
        other = admin.project.create_project(name="Pier", code="PIER", manager_id=people["other_manager"])["id"]
        for member in ("employee", "other_employee", "manager", "admin_person"):
            admin.project.assign_member(project_id=project, employee_id=people[member])
        admin.project.assign_member(project_id=other, employee_id=people["other_employee"])
        tokens = {
            "admin": None,  # rpc_proxy's default: an admin's token
            "manager": issue_token(config, people["manager"], "manager"),
            "other manager": issue_token(config, people["other_manager"], "manager"),
            "employee": issue_token(config, people["employee"], "employee"),
            "other employee": issue_token(config, people["other_employee"], "employee"),
            "service": issue_token(config, "project", "service", service=True),
        }
        proxies = {}
        with rpc_proxy(config, token=tokens["manager"]) as manager, \
                rpc_proxy(config, token=tokens["other manager"]) as other_manager, \
                rpc_proxy(config, token=tokens["employee"]) as employee, \
                rpc_proxy(config, token=tokens["other employee"]) as other_employee, \
                rpc_proxy(config, token=tokens["service"]) as service, \
                ClusterRpcProxy(config) as nobody:
            proxies.update({"admin": admin, "manager": manager, "other manager": other_manager,
                            "employee": employee, "other employee": other_employee, "service": service,
                            "no token": nobody})
            p = Platform(config, admin, proxies, {**people, "project": project, "other_project": other})
            wait_until(lambda: p.logged(), timeout=20, ignore=(RuleViolation,))  # the project's facts are in
            yield p


def refused_with(call, code, *heads):
    """``call`` is refused with ``code`` (Forbidden, or Unauthenticated for auth.missing), appending nothing."""
    before = [head() for head in heads]
    with pytest.raises((Forbidden, Unauthenticated)) as err:
        call()
    assert err.value.code == code
    assert [head() for head in heads] == before, "a refusal appended events"


CASES = [(rpc, role) for rpc in TABLE for role in ROLES]


@pytest.mark.parametrize("rpc, role", CASES, ids=[f"{rpc}-{role}" for rpc, role in CASES])
def test_role_table(platform, rpc, role):
    method, kwargs = CALLS[rpc](platform)
    call = getattr(platform.proxies[role].timesheet, method)
    expected = TABLE[rpc][role]
    if expected == OK:
        call(**kwargs)
    else:
        refused_with(lambda: call(**kwargs), expected, platform.head)


def test_every_rpc_of_the_service_is_in_the_table():
    rpcs = {name for name, member in inspect.getmembers(TimesheetService)
            if any(type(e).__name__ == "Rpc" for e in getattr(member, "nameko_entrypoints", ()))}
    assert rpcs == {name.split(" ")[0] for name in TABLE}


# -- one person's token on another person's data --------------------------------------------------------
def test_one_persons_token_on_another_persons_data(platform):
    theirs = platform.logged(employee=platform.other_employee)
    mine = platform.proxies["employee"].timesheet
    for call in (lambda: mine.amend_entry(entry_id=theirs["id"], hours=3),
                 lambda: mine.delete_entry(entry_id=theirs["id"]),
                 lambda: mine.get_timesheet(**_week(theirs)),
                 lambda: mine.history(**_week(theirs)),
                 lambda: mine.submit_timesheet(**_week(theirs)),
                 lambda: mine.log_time(employee_id=platform.other_employee, project_id=platform.project,
                                       date=monday(theirs["week"]), hours=1)):
        refused_with(call, NOT_OWN, platform.head)
    # a manager neither logs for others nor reads a week without hours on a project they manage
    boss = platform.proxies["manager"].timesheet
    refused_with(lambda: boss.log_time(employee_id=platform.employee, project_id=platform.project,
                                       date=monday(fresh_week()), hours=1), NOT_OWN, platform.head)
    elsewhere = platform.logged(employee=platform.other_employee, project=platform.other_project)
    refused_with(lambda: boss.get_timesheet(**_week(elsewhere)), NOT_MANAGER, platform.head)
    assert platform.proxies["other manager"].timesheet.get_timesheet(**_week(elsewhere))["total_hours"] == 1
    # arguments that named the acting person are gone: the verified caller acts
    week = platform.submitted()
    for call in (lambda: boss.approve_timesheet(**_week(week), approver_id=platform.manager),
                 lambda: boss.reopen_timesheet(**_week(week), reason="x", actor_id=platform.manager),
                 lambda: platform.timesheet.lock_period(through_date="2020-01-02", actor_id=platform.employee)):
        with pytest.raises(ValidationError) as err:
            call()
        assert set(err.value.errors) & {"approver_id", "actor_id"}


# -- one's own hours ------------------------------------------------------------------------------------------
def test_nobody_approves_rejects_or_reopens_their_own_hours_unless_an_admin_who_is_recorded(platform):
    boss = platform.proxies["manager"].timesheet
    own = platform.logged(employee=platform.manager)  # the manager logs on the project they manage
    boss.submit_timesheet(**_week(own))
    for call in (lambda: boss.approve_timesheet(**_week(own)),
                 lambda: boss.reject_timesheet(**_week(own), reason="mine")):
        refused_with(call, "auth.self_approval", platform.head)
    platform.timesheet.approve_timesheet(**_week(own))  # an admin approves it
    refused_with(lambda: boss.reopen_timesheet(**_week(own), reason="mine"), "auth.self_approval", platform.head)
    assert not [w for w in boss.pending_approvals() if w["employee_id"] == platform.manager]

    # an admin may decide on their own hours: the event says so
    admin_person = platform.admin_person
    with rpc_proxy(platform.config, token=issue_token(platform.config, admin_person, "admin")) as me:
        week = platform.submitted(employee=admin_person)
        view = me.timesheet.approve_timesheet(**_week(week))
        assert view["status"] == "approved" and view["projects"][0]["approved_by"] == admin_person
        [decision] = [e for e in me.timesheet.history(**_week(week))["events"] if e["type"] == "TimesheetApproved"]
        assert decision["self_approval_override"] is True and decision["actor"] == admin_person
    others = platform.approved()
    [decision] = [e for e in platform.timesheet.history(**_week(others))["events"]
                  if e["type"] == "TimesheetApproved"]
    assert "self_approval_override" not in decision


# -- delegates -------------------------------------------------------------------------------------------------
def test_a_delegate_approves_the_weeks_in_range_and_the_event_records_both_people(platform):
    delegate = platform.proxies["other manager"].timesheet
    covered, outside = platform.submitted(), platform.submitted()
    refused_with(lambda: delegate.approve_timesheet(**_week(covered)), NOT_MANAGER, platform.head)
    as_manager = platform.proxies["manager"].project
    # a delegation is for admins and the project's manager
    for who, code in (("other manager", NOT_MANAGER), ("employee", ROLE), ("service", ROLE), ("no token", MISSING)):
        refused_with(lambda who=who: platform.proxies[who].project.delegate_approvals(
            project_id=platform.project, delegate_id=platform.other_manager, from_date=monday(covered["week"]),
            to_date=monday(covered["week"])), code, lambda: platform.admin.project.history(
                project_id=platform.project)[-1]["position"])
    sunday = (date.fromisoformat(monday(covered["week"])) + timedelta(days=6)).isoformat()
    out = as_manager.delegate_approvals(project_id=platform.project, delegate_id=platform.other_manager,
                                        from_date=sunday, to_date=sunday)  # one day of the week is enough
    assert out["delegations"][-1]["manager_id"] == platform.manager

    def queued():
        return {w["week"] for w in delegate.pending_approvals()} >= {covered["week"]}

    wait_until(queued, timeout=20, message="the delegation did not reach the timesheet service")
    assert outside["week"] not in {w["week"] for w in delegate.pending_approvals()}
    view = delegate.approve_timesheet(**_week(covered))
    assert view["status"] == "approved" and view["projects"][0]["approved_by"] == platform.other_manager
    [decision] = [e for e in delegate.history(**_week(covered))["events"] if e["type"] == "TimesheetApproved"]
    assert decision["actor"] == platform.other_manager and decision["on_behalf_of"] == platform.manager
    event = next(e for e in platform.timesheet.events_since(position=decision["position"] - 1, limit=1)["events"])
    assert event["data"]["approver_id"] == platform.other_manager and event["data"]["on_behalf_of"] == platform.manager
    refused_with(lambda: delegate.approve_timesheet(**_week(outside)), NOT_MANAGER, platform.head)
    refused_with(lambda: delegate.reopen_timesheet(**_week(covered), reason="x"), NOT_MANAGER, platform.head)


# -- period locks ----------------------------------------------------------------------------------------------
def test_an_unlock_goes_back_with_a_reason_shown_in_the_locks_history_and_writes_work_again(platform):
    admin = platform.timesheet
    week = "2025-W13"  # Mon 2025-03-24
    admin.lock_period(through_date="2025-03-31")
    with pytest.raises(RuleViolation) as err:
        platform.logged(week=week)
    assert err.value.code == "timesheet.period_locked"
    before = platform.head()
    for through, reason, error in (("2025-04-01", "later", RuleViolation), ("2025-03-01", " ", ValidationError)):
        with pytest.raises(error):
            admin.unlock_period(through_date=through, reason=reason)
    assert platform.head() == before
    out = admin.unlock_period(through_date="2025-03-23", reason="payroll correction for March")
    assert out["locked_through"] == "2025-03-23"
    assert platform.logged(week=week)["week"] == week
    lock = platform.proxies["employee"].timesheet.period_lock()
    assert lock["locked_through"] == "2025-03-23"
    assert [(h["type"], h["through_date"], h["reason"], h["actor"]) for h in lock["history"][-2:]] == [
        ("PeriodLocked", "2025-03-31", None, "admin-of-tests"),
        ("PeriodUnlocked", "2025-03-23", "payroll correction for March", "admin-of-tests")]
    assert lock["history"][-1]["previous_through_date"] == "2025-03-31"


def test_a_lock_never_reaches_beyond_today_plus_the_margin(platform, monkeypatch):
    import services.timesheet.service as service

    monkeypatch.setattr(service, "_today", lambda: date(2026, 6, 1))
    before = platform.head()
    for through in ("2026-06-09", "2999-12-31"):  # LOCK_MAX_DAYS_AHEAD is 7 by default
        with pytest.raises(RuleViolation) as err:
            platform.timesheet.lock_period(through_date=through)
        assert err.value.code == "timesheet.lock_too_far_ahead"
    assert platform.head() == before
    assert platform.timesheet.lock_period(through_date="2026-06-08")["locked_through"] == "2026-06-08"
