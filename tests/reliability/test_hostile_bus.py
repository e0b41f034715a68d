"""A hostile bus (issue 9, items 1 and 2; DESIGN.md 3.9 "nothing forged is believed").

The four real services run one scenario twice, each time on a fresh broker vhost and fresh stores: once on a
clean bus, once while an injector listens to every ``<service>.events`` exchange that has consumers and, for
each real event it sees there, publishes straight onto that exchange:
- forged events at the stream's next version: unsigned, wrongly signed, signed with another deployment's key,
  and carrying a real signature over altered data;
- duplicates of the real event, and windows of real events again in reverse order (reordered);
- malformed messages: the real event's type with empty data, signed with the deployment's key (a producer bug
  that only the schema check stops), and bodies that are no event at all.
Then each service's read models, and commands that depend on the facts each one received, must answer exactly
as after the clean run, and no consumer may hold any injected event. Prints its figures.
"""
import uuid
from collections import Counter

import eventlet
from kombu import Connection
from nameko.standalone.events import get_event_exchange

from services.notification.service import NotificationService
from services.project.service import ProjectService
from services.resource.service import ResourceService
from services.timesheet.service import TimesheetService
from shared.signing import Signer
from shared.testing import TEST_SIGNING_KEY, issue_token, rpc_proxy, running, service_config, wait_until
from tests.e2e.helpers import chronicle_of, settled

SERVICES = (ProjectService, TimesheetService, ResourceService, NotificationService)
OTHER_KEY = "a-different-deployments-signing-key-0123456789"
WEEK, DAYS = "2030-W10", ("2030-03-04", "2030-03-05", "2030-03-06")
VOLATILE = {"position", "email_status"}  # and every "*_at" (clock times)


def consumed_sources():
    """Every source some service consumes (its ``sources=``): the exchanges under attack."""
    return sorted({source for cls in SERVICES for source in cls.chronicle.sources})


class Injector:
    """Listens to the real events on the exchanges and answers each with hostile messages."""

    REORDER_WINDOW = 4

    def __init__(self, config, sources):
        self.config, self.amqp_uri, self.sources = config, config["AMQP_URI"], sources
        self.signer, self.stranger = Signer(TEST_SIGNING_KEY), Signer(OTHER_KEY)
        self.injected = Counter()
        self.injected_ids = set()  # every event id we made up: none may be recorded anywhere
        self.seen_real = 0
        self.answered = set()
        self.running = True
        self.windows = {s: [] for s in sources}

    def run(self):
        """Follow each source's feed (the same signed envelopes its relay publishes) and answer every new
        event at once, often before the relay's own copy reaches the consumers."""

        exchanges = {s: get_event_exchange(s, {}) for s in self.sources}
        positions = dict.fromkeys(self.sources, 0)
        with rpc_proxy(self.config, timeout=10) as rpc, Connection(self.amqp_uri) as talk:
            producer = talk.Producer(serializer="json")
            last_pass = False
            while not last_pass:
                last_pass = not self.running  # one more pass after the scenario ended: nothing is missed
                for source in self.sources:
                    while True:
                        events = getattr(rpc, source).events_since(position=positions[source], limit=200)["events"]
                        if not events:
                            break
                        positions[source] = events[-1]["position"]
                        for real in events:
                            self.attack(producer, exchanges[source], source, real)
                eventlet.sleep(0.05)

    def send(self, producer, exchange, kind, body, routing_key):
        producer.publish(body, exchange=exchange, routing_key=routing_key, declare=[exchange])
        self.injected[kind] += 1
        if kind not in ("duplicated", "reordered") and isinstance(body, dict):
            self.injected_ids.add(body["id"])  # made up here: must never be recorded

    def attack(self, producer, exchange, source, real):
        self.seen_real += 1
        key = real["type"]
        nxt = {k: v for k, v in real.items() if k != "signature"}
        nxt.update(id=str(uuid.uuid4()), version=real["version"] + 1, position=real["position"] + 1,
                   data=forge(real))
        if source == "project" and "project_id" in real["data"]:  # issue 9's attack: a project closed by hand
            nxt.update(type="ProjectStatusChanged", data={
                "project_id": real["data"]["project_id"], "from_status": "active", "to_status": "closed",
                "reason": "forged", "effective_on": "2030-01-01"})
            key = "ProjectStatusChanged"
        self.send(producer, exchange, "forged_unsigned", nxt, key)
        self.send(producer, exchange, "forged_bad_signature",
                  dict(nxt, id=str(uuid.uuid4()), signature="hmac-sha256=" + "5a" * 32), key)
        self.send(producer, exchange, "forged_other_key", self.stranger.sign(dict(nxt, id=str(uuid.uuid4()))), key)
        self.send(producer, exchange, "forged_altered", dict(nxt, id=str(uuid.uuid4()),
                                                             signature=real.get("signature")), key)
        self.send(producer, exchange, "duplicated", real, real["type"])
        window = self.windows[source]
        window.append(real)
        if len(window) == self.REORDER_WINDOW:
            for old in reversed(window):
                self.send(producer, exchange, "reordered", old, old["type"])
            window.clear()
        malformed = dict(nxt, id=str(uuid.uuid4()), type=real["type"], data={})
        self.send(producer, exchange, "malformed_signed", self.signer.sign(malformed), real["type"])
        self.send(producer, exchange, "malformed_not_an_event",
                  ["not", "an", "event"] if self.seen_real % 2 else "garbage", real["type"])


def forge(real):
    """The real event's data, with every number changed: believed, it would move hours and budgets."""
    data = dict(real["data"])
    for k, v in data.items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            data[k] = v * 3 + 1
    return data


def scenario(rpc, config):
    """A week of work across the four services; fixed command ids, so both runs make the same ids."""
    manager = rpc.resource.register_resource(name="Mona Manager", email="mona@hostile.example", command_id="r-mona")
    devs = [rpc.resource.register_resource(name=f"Dev {i}", email=f"dev{i}@hostile.example", command_id=f"r-dev{i}")
            for i in range(2)]
    projects = [rpc.project.create_project(name=f"Quay {i}", code=f"QUAY{i}", manager_id=manager["id"],
                                           budget_hours=20, command_id=f"p-{i}") for i in range(2)]
    for i, (project, dev) in enumerate(zip(projects, devs, strict=True)):
        rpc.project.add_task(project_id=project["id"], name="Piling", command_id=f"t-{i}")
        rpc.project.assign_member(project_id=project["id"], employee_id=dev["id"], hourly_rate="1000.00",
                                  command_id=f"m-{i}")
        rpc.resource.book_resource(resource_id=dev["id"], project_id=project["id"], starts_on=DAYS[0],
                                   ends_on=DAYS[-1], hours_per_day=8, command_id=f"b-{i}")
        for day in DAYS:
            rpc.timesheet.log_time(employee_id=dev["id"], project_id=project["id"], date=day, hours=4,
                                   command_id=f"l-{i}-{day}")
        rpc.timesheet.submit_timesheet(employee_id=dev["id"], week=WEEK, command_id=f"s-{i}")
    with rpc_proxy(config, token=issue_token(config, manager["id"], "manager")) as as_manager:
        as_manager.timesheet.approve_timesheet(employee_id=devs[0]["id"], week=WEEK, command_id="a-0")
    rpc.project.change_status(project_id=projects[1]["id"], status="on_hold", reason="paused",
                              command_id="hold-1")
    return manager, devs, projects


def normal(value):
    """Answers without what differs between two runs of the same commands (positions, clock times)."""
    if isinstance(value, dict):
        return {k: normal(v) for k, v in value.items() if k not in VOLATILE and not k.endswith("_at")}
    if isinstance(value, list):
        return [normal(v) for v in value]
    return value


def outcome(call, **kwargs):
    try:
        return normal(call(**kwargs))
    except Exception as exc:  # a refusal is part of the state: which error, with which code
        return {"refused": type(exc).__name__, "code": getattr(exc, "code", None)}


def final_state(rpc, manager, devs, projects):
    state = {}
    for project in projects:
        pid = project["id"]
        state[f"project {pid}"] = outcome(rpc.project.get_project, project_id=pid)
        state[f"progress {pid}"] = outcome(rpc.project.project_progress, project_id=pid)
        state[f"hours {pid}"] = outcome(rpc.timesheet.project_hours, project_id=pid)
    for dev in devs:
        did = dev["id"]
        state[f"timesheet {did}"] = outcome(rpc.timesheet.get_timesheet, employee_id=did, week=WEEK)
        state[f"availability {did}"] = outcome(rpc.resource.availability, resource_id=did, from_date=DAYS[0],
                                               to_date=DAYS[-1])
    for person in (manager, *devs):
        pid = person["id"]
        state[f"person {pid}"] = outcome(rpc.notification.person, person_id=pid)
        inbox = outcome(rpc.notification.inbox, user_id=pid)  # newest first: sources interleave in any order
        state[f"inbox {pid}"] = sorted(inbox, key=lambda n: n["id"]) if isinstance(inbox, list) else inbox
    state["approvals"] = outcome(rpc.timesheet.pending_approvals, approver_id=manager["id"])
    state["utilisation"] = outcome(rpc.resource.utilisation, from_date=DAYS[0], to_date=DAYS[-1])
    state["projects"] = outcome(rpc.project.list_projects)
    # Commands that depend on the facts each consumer received (a project's status, its members).
    for i, (project, dev) in enumerate(zip(projects, devs, strict=True)):
        state[f"log on {i}"] = outcome(rpc.timesheet.log_time, employee_id=dev["id"], project_id=project["id"],
                                       date="2030-03-11", hours=1, command_id=f"probe-l-{i}")
        state[f"book on {i}"] = outcome(rpc.resource.book_resource, resource_id=dev["id"], project_id=project["id"],
                                        starts_on="2030-03-12", ends_on="2030-03-12", hours_per_day=1,
                                        command_id=f"probe-b-{i}")
    return state


def run(amqp_uri, data_dir, hostile):
    config = service_config(amqp_uri, data_dir, CATCHUP_INTERVAL=1.0, EMAIL_MAX_ATTEMPTS=1,
                            REMINDER_CHECK_SECONDS=3600)
    injector = Injector(config, consumed_sources()) if hostile else None
    with running(config, *SERVICES) as runner, rpc_proxy(config) as rpc:
        thread = eventlet.spawn(injector.run) if injector else None
        people = scenario(rpc, config)
        kits = {s: chronicle_of(runner, s) for s in ("project", "timesheet", "resource", "notification")}

        def quiet():
            return all(settled(kit) for kit in kits.values())

        if injector:
            injector.running = False
            thread.wait()  # after a last pass over every feed: every real event was answered
        for kit in kits.values():  # whatever AMQP did, the feeds leave every consumer with every event
            kit.consumer.pull_all()
        wait_until(quiet, timeout=30, message="the services did not settle")
        state = final_state(rpc, *people)
        held = {e.id for kit in kits.values() for e in kit.store.read_all(0, limit=1_000_000)}
        counts = {name: dict(getattr(kit.consumer, "counts", {})) for name, kit in kits.items()}
        parked = {name: len(kit.state.parked(kind="consumer")) for name, kit in kits.items()}
    return state, injector, held, counts, parked


def test_forged_duplicated_reordered_and_malformed_messages_change_nothing(vhost_pool, tmp_path):
    from tests.conftest import _uri

    clean, _, _, _, _ = run(_uri(vhost_pool.take()), tmp_path / "clean", hostile=False)
    attacked, injector, held, counts, parked = run(_uri(vhost_pool.take()), tmp_path / "hostile", hostile=True)
    accepted = injector.injected_ids & held
    print(f"\nhostile bus: {injector.seen_real} real events answered on {', '.join(injector.sources)}.events")
    print(f"  messages injected per kind: {dict(sorted(injector.injected.items()))} "
          f"(total {sum(injector.injected.values())})")
    for name in sorted(counts):
        print(f"  {name:12} consumer outcomes: {counts[name]}; parked: {parked[name]}")
    print(f"  forged or malformed accepted: {len(accepted)}")
    assert all(injector.injected[k] > 0 for k in ("forged_unsigned", "forged_bad_signature", "forged_other_key",
                                                  "forged_altered", "duplicated", "reordered", "malformed_signed",
                                                  "malformed_not_an_event"))
    assert accepted == set(), f"{len(accepted)} injected events were recorded"
    differing = sorted(k for k in clean if clean[k] != attacked.get(k))
    assert not differing, f"state after the hostile run differs from the clean run's: {differing}\n" + "\n".join(
        f"{k}:\n  clean:   {clean[k]}\n  hostile: {attacked.get(k)}" for k in differing[:5])
    assert clean["log on 0"].get("refused") is None and clean["log on 1"].get("refused") == "RuleViolation"
