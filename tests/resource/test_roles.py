"""Who may call what on the resource service: every RPC x every role, as a table, over one real platform.

Each case starts from a new employee (the resource the RPC addresses) with a token of their own, so an allowed
command never disturbs the next case. The people around them are fixed: Mona manages the project, Otto manages
another, Erik is another employee."""
import pytest
from nameko.standalone.rpc import ClusterRpcProxy

from services.resource.service import ResourceService
from shared import config as cfg
from shared.entrypoints import KitService, Rpc
from shared.errors import Forbidden, RuleViolation, Unauthenticated
from shared.eventstore import open_store
from shared.identity import bearer
from shared.testing import issue_token, wait_until
from tests.resource.conftest import create_project, new_id

OK = "allowed"
OWN = "allowed, only themself"  # a list filtered down to the caller
ROLE, NOT_OWN, NOT_MANAGER = "auth.role", "auth.not_own", "auth.not_manager"
MISSING = "auth.missing"

CALLERS = ("admin", "manager", "other_manager", "employee", "other_employee", "service", "no token")
# manager: of the project the booking is on; employee: the person the RPC is about (a new one per case).
TABLE = {
    #                      admin  manager      other_manager employee  other_employee service no token
    "register_resource":   (OK,   ROLE,        ROLE,         ROLE,     ROLE,          ROLE,   MISSING),
    "update_resource":     (OK,   ROLE,        ROLE,         ROLE,     ROLE,          ROLE,   MISSING),
    "deactivate_resource": (OK,   ROLE,        ROLE,         ROLE,     ROLE,          ROLE,   MISSING),
    "get_resource":        (OK,   OK,          OK,           OK,       NOT_OWN,       ROLE,   MISSING),
    "history":             (OK,   OK,          OK,           OK,       NOT_OWN,       ROLE,   MISSING),
    "list_resources":      (OK,   OK,          OK,           OWN,      OWN,           ROLE,   MISSING),
    "book_resource":       (OK,   OK,          NOT_MANAGER,  ROLE,     ROLE,          ROLE,   MISSING),
    "cancel_booking":      (OK,   OK,          NOT_MANAGER,  ROLE,     ROLE,          ROLE,   MISSING),
    "register_absence":    (OK,   NOT_OWN,     NOT_OWN,      OK,       NOT_OWN,       ROLE,   MISSING),
    "cancel_absence":      (OK,   NOT_OWN,     NOT_OWN,      OK,       NOT_OWN,       ROLE,   MISSING),
    "availability":        (OK,   OK,          OK,           OK,       NOT_OWN,       ROLE,   MISSING),
    "find_available":      (OK,   OK,          OK,           ROLE,     ROLE,          ROLE,   MISSING),
    "utilisation":         (OK,   OK,          OK,           ROLE,     ROLE,          ROLE,   MISSING),
    "events_since":        (OK,   ROLE,        ROLE,         ROLE,     ROLE,          OK,     MISSING),
    "status":              (OK,   ROLE,        ROLE,         ROLE,     ROLE,          OK,     MISSING),
    "set_cost_rate":       (OK,   ROLE,        ROLE,         ROLE,     ROLE,          ROLE,   MISSING),
    "cost_rates":          (OK,   ROLE,        ROLE,         ROLE,     ROLE,          ROLE,   MISSING),
    # staffing (issue 17): as book_resource and cancel_booking; the views as the other planning reads
    "change_booking":      (OK,   OK,          NOT_MANAGER,  ROLE,     ROLE,          ROLE,   MISSING),
    "confirm_booking":     (OK,   OK,          NOT_MANAGER,  ROLE,     ROLE,          ROLE,   MISSING),
    "project_staffing":    (OK,   OK,          OK,           ROLE,     ROLE,          ROLE,   MISSING),
    "team_overview":       (OK,   OK,          OK,           ROLE,     ROLE,          ROLE,   MISSING),
}
CASES = [(rpc_name, caller, expected) for rpc_name, row in TABLE.items() for caller, expected in zip(CALLERS, row, strict=True)]

WEEK = {"from_date": "2030-01-07", "to_date": "2030-01-13"}


def register(rpc_, name="Dev Eloper"):
    return rpc_.resource.register_resource(name=name, email=f"{new_id()[:8]}@roles.example")["id"]


class World:
    """The fixed people and project, and a way to make what each RPC acts on (as an admin)."""

    def __init__(self, rpc_, config):
        self.rpc, self.config = rpc_, config
        self.mona, self.otto, self.erik = (register(rpc_, n) for n in ("Mona Manager", "Otto Other", "Erik Else"))
        self.project = create_project(rpc_, manager_id=self.mona)
        self.otto_project = create_project(rpc_, manager_id=self.otto)

    def book(self, resource_id, project_id=None, tentative=False):
        return self.rpc.resource.book_resource(resource_id=resource_id, project_id=project_id or self.project,
                                               starts_on="2030-01-07", ends_on="2030-01-08", hours_per_day=2,
                                               tentative=tentative)["id"]

    def absence(self, resource_id):
        return self.rpc.resource.register_absence(resource_id=resource_id, starts_on="2030-02-04",
                                                  ends_on="2030-02-05")["id"]

    def arguments(self, rpc_name, dev):
        """The arguments of a call of ``rpc_name`` about ``dev`` (what must exist beforehand is made here)."""
        return {
            "register_resource": lambda: {"name": "New Person", "email": f"{new_id()[:8]}@roles.example"},
            "update_resource": lambda: {"resource_id": dev, "title": f"Title {new_id()[:8]}"},
            "deactivate_resource": lambda: {"resource_id": dev},
            "get_resource": lambda: {"resource_id": dev},
            "history": lambda: {"resource_id": dev},
            "list_resources": lambda: {},
            "book_resource": lambda: {"resource_id": dev, "project_id": self.project, "starts_on": "2030-01-07",
                                      "ends_on": "2030-01-08", "hours_per_day": 2},
            "cancel_booking": lambda: {"resource_id": dev, "booking_id": self.book(dev)},
            "register_absence": lambda: {"resource_id": dev, "starts_on": "2030-02-04", "ends_on": "2030-02-05"},
            "cancel_absence": lambda: {"resource_id": dev, "absence_id": self.absence(dev)},
            "availability": lambda: {"resource_id": dev, **WEEK},
            "find_available": lambda: {**WEEK, "hours_per_day": 1},
            "utilisation": lambda: dict(WEEK),
            "events_since": lambda: {"position": 0, "limit": 1},
            "status": lambda: {},
            "set_cost_rate": lambda: {"resource_id": dev, "rate": "550.00", "effective_from": "2030-01-01"},
            "cost_rates": lambda: {"resource_id": dev},
            "change_booking": lambda: {"resource_id": dev, "booking_id": self.book(dev), "hours_per_day": 3},
            "confirm_booking": lambda: {"resource_id": dev, "booking_id": self.book(dev, tentative=True)},
            "project_staffing": lambda: {"project_id": self.project, **WEEK},
            "team_overview": lambda: dict(WEEK),
        }[rpc_name]()

    def token(self, caller, dev):
        return {
            "admin": lambda: issue_token(self.config),
            "manager": lambda: issue_token(self.config, self.mona, "manager"),
            "other_manager": lambda: issue_token(self.config, self.otto, "manager"),
            "employee": lambda: issue_token(self.config, dev, "employee"),
            "other_employee": lambda: issue_token(self.config, self.erik, "employee"),
            "service": lambda: issue_token(self.config, "timesheet", "service", service=True),
            "no token": lambda: None,
        }[caller]()


@pytest.fixture(scope="module")
def world(rpc_, config):
    return World(rpc_, config)


@pytest.fixture(scope="module")
def call_as(config, rpc_):
    """One proxy for every caller: nameko reads the same context data on every call, so each call presents the
    token put there just before."""
    context = {"authorization": None}
    with ClusterRpcProxy(config, timeout=30, context_data=context) as cluster:
        def as_(token):
            context.clear()
            if token:
                context.update(bearer(token))
            return cluster.resource
        yield as_


@pytest.fixture(scope="module")
def store(config):
    return open_store(cfg.eventstore_uri("resource", config))


def appended(store):
    """The last position of the service's own events, the internal email reservations included."""
    return store.head_position(["resource", "resourceemail"])


def test_the_table_holds_every_rpc_of_the_service():
    rpcs = {name for name, member in vars(ResourceService).items() | vars(KitService).items()
            if any(isinstance(e, Rpc) for e in getattr(member, "nameko_entrypoints", ()))}
    assert set(TABLE) == rpcs


@pytest.mark.parametrize("rpc_name, caller, expected", CASES, ids=[f"{r}-{c}" for r, c, _ in CASES])
def test_role_table(rpc_name, caller, expected, world, call_as, store):
    dev = register(world.rpc)
    args = world.arguments(rpc_name, dev)
    token = world.token(caller, dev)
    before = appended(store)
    if expected in (OK, OWN):
        result = getattr(call_as(token), rpc_name)(**args)
        if expected == OWN:
            subject = {"employee": dev, "other_employee": world.erik}[caller]
            assert [r["id"] for r in result] == [subject]
        elif rpc_name == "list_resources":
            assert {dev, world.mona, world.erik} <= {r["id"] for r in result}
        if isinstance(result, dict) and "position" in result:  # a command: the verified caller is its actor
            [event] = world.rpc.resource.events_since(position=result["position"] - 1, limit=1)["events"]
            assert event["metadata"]["actor"] == {"admin": "admin-of-tests", "manager": world.mona,
                                                  "employee": dev}[caller]
        return
    with pytest.raises(Unauthenticated if expected == MISSING else Forbidden) as refused:
        getattr(call_as(token), rpc_name)(**args)
    assert refused.value.code == expected
    assert appended(store) == before  # a refusal appends nothing


def test_a_manager_books_and_cancels_only_on_the_projects_they_manage(world, call_as, store):
    dev = register(world.rpc)
    mona, otto = (issue_token(world.config, m, "manager") for m in (world.mona, world.otto))
    on_ottos = world.book(dev, world.otto_project)
    before = appended(store)
    for token, project_id in ((mona, world.otto_project), (otto, world.project)):
        with pytest.raises(Forbidden) as refused:
            call_as(token).book_resource(resource_id=dev, project_id=project_id, starts_on="2030-03-04",
                                         ends_on="2030-03-04", hours_per_day=1)
        assert refused.value.code == NOT_MANAGER
    with pytest.raises(Forbidden) as refused:
        call_as(mona).cancel_booking(resource_id=dev, booking_id=on_ottos)
    assert refused.value.code == NOT_MANAGER
    assert appended(store) == before
    assert call_as(otto).cancel_booking(resource_id=dev, booking_id=on_ottos)["status"] == "cancelled"
    # a project nobody has heard of is unknown to a manager too, and books nothing
    with pytest.raises(RuleViolation) as unknown:
        call_as(mona).book_resource(resource_id=dev, project_id=new_id(), starts_on="2030-03-04",
                                    ends_on="2030-03-04", hours_per_day=1)
    assert unknown.value.code == "booking.project_unknown"


def test_one_persons_token_on_another_persons_data(world, call_as, store):
    dev = register(world.rpc)
    erik = issue_token(world.config, world.erik, "employee")
    mona = issue_token(world.config, world.mona, "manager")
    absence = world.absence(dev)
    before = appended(store)
    for token in (erik, mona):  # another employee, and a manager, on the employee's own absences
        for rpc_name, args in (("register_absence", {"starts_on": "2030-05-06", "ends_on": "2030-05-06"}),
                               ("cancel_absence", {"absence_id": absence})):
            with pytest.raises(Forbidden) as refused:
                getattr(call_as(token), rpc_name)(resource_id=dev, **args)
            assert refused.value.code == NOT_OWN
    with pytest.raises(Forbidden) as refused:  # whether the person exists is not told either
        call_as(erik).get_resource(resource_id=new_id())
    assert refused.value.code == NOT_OWN
    assert appended(store) == before
    # the person themself may, and is the actor recorded
    mine = call_as(issue_token(world.config, dev, "employee")).cancel_absence(resource_id=dev, absence_id=absence)
    assert mine["status"] == "cancelled"
    event = world.rpc.resource.history(resource_id=dev)[-1]
    assert event["type"] == "AbsenceCancelled"
    assert (event["metadata"]["actor"], event["metadata"]["actor_role"]) == (dev, "employee")


def test_a_new_manager_takes_over_the_projects_bookings(world, call_as, store):
    dev = register(world.rpc)
    project_id = create_project(world.rpc, manager_id=world.mona)
    booking = world.book(dev, project_id)
    world.rpc.project.emit(stream=f"project-{project_id}", type="ProjectUpdated",
                           data={"project_id": project_id, "changes": {"manager_id": world.otto},
                                 "previous": {"manager_id": world.mona}})
    mona, otto = (issue_token(world.config, m, "manager") for m in (world.mona, world.otto))
    before = appended(store)
    with pytest.raises(Forbidden) as refused:  # the feed is pulled first: the change is seen at once
        call_as(mona).cancel_booking(resource_id=dev, booking_id=booking)
    assert refused.value.code == NOT_MANAGER
    assert appended(store) == before
    assert call_as(otto).cancel_booking(resource_id=dev, booking_id=booking)["status"] == "cancelled"


def test_the_reactor_that_ends_bookings_acts_as_the_service_and_names_whose_act_it_follows(world, call_as):
    dev = register(world.rpc)
    project_id = create_project(world.rpc, manager_id=world.mona)
    booking = world.book(dev, project_id)
    world.rpc.project.emit(stream=f"project-{project_id}", type="ProjectStatusChanged",
                           data={"project_id": project_id, "from_status": "active", "to_status": "completed",
                                 "reason": "done", "effective_on": "2029-12-31"},
                           metadata={"actor": world.mona, "actor_role": "manager"})
    cancelled = wait_until(lambda: next((e for e in world.rpc.resource.history(resource_id=dev)
                                         if e["type"] == "BookingCancelled"), None), timeout=10)
    assert cancelled["data"]["booking_id"] == booking
    assert cancelled["metadata"]["actor"] == "reactor:resource.project_ended"
    assert cancelled["metadata"]["cause_actor"] == world.mona


def test_a_manager_changes_and_confirms_only_the_bookings_of_the_projects_they_manage(world, call_as, store):
    dev = register(world.rpc)
    mona, otto = (issue_token(world.config, m, "manager") for m in (world.mona, world.otto))
    on_ottos = world.book(dev, world.otto_project, tentative=True)
    before = appended(store)
    for call in (lambda: call_as(mona).change_booking(resource_id=dev, booking_id=on_ottos, hours_per_day=1),
                 lambda: call_as(mona).confirm_booking(resource_id=dev, booking_id=on_ottos)):
        with pytest.raises(Forbidden) as refused:
            call()
        assert refused.value.code == NOT_MANAGER
    assert appended(store) == before
    assert call_as(otto).change_booking(resource_id=dev, booking_id=on_ottos, hours_per_day=1)["hours_per_day"] == 1
    confirmed = call_as(otto).confirm_booking(resource_id=dev, booking_id=on_ottos)
    assert confirmed["tentative"] is False
    event = world.rpc.resource.history(resource_id=dev)[-1]
    assert (event["type"], event["metadata"]["actor"]) == ("BookingConfirmed", world.otto)
