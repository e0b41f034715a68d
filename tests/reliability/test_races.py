"""Races across two OS processes on one timesheet store (issue 9, item 5; DESIGN.md guarantees 1 and 7).

This process runs the real timesheet service (with a stand-in project service) on real RabbitMQ; a peer process
writes to the same SQLite store through the kit, exactly as the service's own commands do. Two races:
- the lock race: a `lock_period` committed by the peer while a `log_time` has decided (the week was not locked)
  but not appended yet. The write must be refused (`timesheet.period_locked`), never appended into the locked week.
  Rounds where the log_time is held at its append until the lock has committed (the window made certain), then
  free-running rounds; at the end no write to a week is after a lock covering it, in store order.
- the 24 h/day race: two log_time of 14 h on one day, one by the service and one by the peer: exactly one wins.
Prints the attempts and their outcomes.
"""
from __future__ import annotations

import json
import random
import sys
import textwrap
import threading
import uuid
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import eventlet
import pytest
from eventlet.green import subprocess

from services.timesheet.domain import timesheet_id, week_days
from services.timesheet.service import TimesheetService
from shared.config import eventstore_uri
from shared.errors import RuleViolation
from shared.eventstore import open_store
from shared.eventstore.sqlite import SQLiteEventStore
from shared.testing import fake_source, rpc_proxy, running, service_config, subprocess_env, wait_until
from shared.validation import week_of

REPO = Path(__file__).resolve().parents[2]
FakeProject = fake_source("project")
HELD_ROUNDS, FREE_ROUNDS = 4, 25
STAGGER = 0.06  # free rounds: the peer starts 0-60 ms after the service call, so either may be first

PEER = textwrap.dedent(r"""
    import warnings
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    import json, sys
    from datetime import date
    from services.timesheet.domain import PeriodLock, ProjectFacts, Timesheet, timesheet_id
    from services.timesheet.events import events
    from shared.errors import ChronicleError
    from shared.eventstore import open_store
    from shared.handling import execute
    from shared.validation import week_of

    store = open_store(sys.argv[1])
    print("ready", flush=True)
    for line in sys.stdin:
        command, *args = line.split()
        try:
            if command == "lock":  # what lock_period does
                through, actor = args
                # taken on the day it locks through: the bound on future locks is not what this race is about
                outcome = execute(store, events, PeriodLock, "global",
                                  lambda lock: lock.lock(through, actor, today=date.fromisoformat(through)))
            else:  # "log": what log_time decides, with the project facts as the service knows them
                employee, project, day, centi, entry = args
                facts = ProjectFacts(project_id=project, members={employee})
                outcome = execute(store, events, Timesheet, timesheet_id(employee, week_of(day)),
                                  lambda ts: ts.log(entry, facts, day, int(centi)))
            print(json.dumps({"ok": True, "position": outcome.position}), flush=True)
        except ChronicleError as exc:
            print(json.dumps({"ok": False, "code": exc.code}), flush=True)
""")


class Peer:
    """The other OS process: one command per line, one JSON answer per line (green pipes: this process's
    service keeps running while we wait)."""

    def __init__(self, store_uri, config):
        self.process = subprocess.Popen([sys.executable, "-c", PEER, store_uri], cwd=REPO, text=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        env=subprocess_env(config))
        with eventlet.Timeout(60, AssertionError("the peer process did not start")):
            assert self.process.stdout.readline().strip() == "ready"

    def send(self, *words):
        self.process.stdin.write(" ".join(words) + "\n")
        self.process.stdin.flush()

    def answer(self):
        with eventlet.Timeout(30, AssertionError("the peer process did not answer")):
            return json.loads(self.process.stdout.readline())

    def close(self):
        self.process.stdin.close()
        self.process.wait(10)


class HoldAppend:
    """Holds this process's next append to a timesheet week stream until released: the command has decided and
    waits at its append, the window in which a lock may commit."""

    def __init__(self, monkeypatch):
        self.armed, self.held, self.release = False, threading.Event(), threading.Event()
        original = SQLiteEventStore.append

        def append(store, stream, events, expected_version, *args, **kwargs):
            if self.armed and stream.startswith("timesheet-"):
                self.armed = False
                self.held.set()
                self.release.wait(30)
            return original(store, stream, events, expected_version, *args, **kwargs)

        monkeypatch.setattr(SQLiteEventStore, "append", append)

    def arm(self):
        self.held.clear()
        self.release.clear()
        self.armed = True


@pytest.fixture
def timesheet(isolated_amqp_uri, tmp_path, monkeypatch):
    hold = HoldAppend(monkeypatch)
    config = service_config(isolated_amqp_uri, tmp_path)
    with running(config, TimesheetService, FakeProject), rpc_proxy(config) as rpc:
        employee, project = str(uuid.uuid4()), str(uuid.uuid4())
        rpc.project.emit(stream=f"project-{project}", type="ProjectCreated", data={
            "project_id": project, "name": "Quay", "code": "QUAY", "manager_id": str(uuid.uuid4()),
            "customer": None, "starts_on": None, "ends_on": None, "billable": True, "budget_hours": None,
            "budget_amount": None, "currency": "NOK", "hourly_rate": None})
        rpc.project.emit(stream=f"project-{project}", type="MemberAssigned", data={
            "project_id": project, "project_code": "QUAY", "project_name": "Quay", "employee_id": employee,
            "role": "consultant", "hourly_rate": None})
        wait_until(lambda: rpc.timesheet.log_time(employee_id=employee, project_id=project, date="2040-01-02",
                                                  hours=1), timeout=20, ignore=(RuleViolation,))
        uri = eventstore_uri("timesheet", config)
        peer = Peer(uri, config)
        store = open_store(uri)
        try:
            yield rpc, peer, store, hold, employee, project
        finally:
            peer.close()
            store.close()


def log_outcome(call):
    try:
        call.result()
        return "logged"
    except RuleViolation as exc:
        return exc.code


WRITES = ("TimeLogged", "TimeEntryAmended", "TimeEntryDeleted", "TimesheetReopened")


def writes_after_a_covering_lock(store):
    """Every write of an entry dated on or before a lock that committed before it (a reopening: of a week with a
    day under it): must be none. A lock locks dates, not whole weeks."""
    events = store.read_all(0, None, limit=100_000)
    locks = [(e.position, e.data["through_date"]) for e in events if e.type == "PeriodLocked"]
    return [(e.type, e.data.get("week"), e.position) for e in events if e.type in WRITES
            for position, through in locks
            if position < e.position and (e.data.get("date") or week_days(e.data["week"])[0]) <= through]


def test_a_lock_committed_before_a_write_commits_refuses_it(timesheet, capsys):
    rpc, peer, store, hold, employee, project = timesheet
    outcomes = Counter()
    monday = date(2030, 1, 7)
    # Held rounds: log_time has read the lock (none covers its week) and waits at its append; the peer's lock
    # through that week commits; then the append goes on. It must be refused, never written into the locked week.
    for round_ in range(HELD_ROUNDS):
        week_start = monday + timedelta(weeks=round_)
        hold.arm()
        call = rpc.timesheet.log_time.call_async(employee_id=employee, project_id=project,
                                                 date=str(week_start + timedelta(days=2)), hours=1)
        assert hold.held.wait(20), "log_time never reached its append"
        peer.send("lock", str(week_start + timedelta(days=2)), employee)  # through the day being logged
        assert peer.answer()["ok"]
        hold.release.set()
        outcome = log_outcome(call)
        outcomes[f"held: {outcome}"] += 1
        assert outcome == "timesheet.period_locked", f"round {round_}: a write landed in a locked week"
    # Free rounds: the write and the lock run at the same time in the two processes, in either order.
    for round_ in range(FREE_ROUNDS):
        week_start = monday + timedelta(weeks=HELD_ROUNDS + round_)
        call = rpc.timesheet.log_time.call_async(employee_id=employee, project_id=project,
                                                 date=str(week_start + timedelta(days=round_ % 7)), hours=1)
        eventlet.sleep(random.uniform(0, STAGGER))
        peer.send("lock", str(week_start + timedelta(days=round_ % 7)), employee)
        locked = peer.answer()
        outcomes[f"free: {log_outcome(call)}"] += 1
        assert locked["ok"]
    late = writes_after_a_covering_lock(store)
    with capsys.disabled():
        print(f"\nlock race: {HELD_ROUNDS + FREE_ROUNDS} attempts across two processes; outcomes "
              f"{dict(sorted(outcomes.items()))}; writes after a covering lock: {len(late)}")
    assert late == []


def test_two_writers_over_24_hours_on_one_day_exactly_one_wins(timesheet, capsys):
    rpc, peer, store, hold, employee, project = timesheet
    outcomes = Counter()
    rounds = HELD_ROUNDS + FREE_ROUNDS
    for round_ in range(rounds):
        day = str(date(2031, 1, 6) + timedelta(days=round_))
        held = round_ < HELD_ROUNDS
        if held:  # the service has decided on an empty day and waits at its append while the peer logs 14 h
            hold.arm()
        call = rpc.timesheet.log_time.call_async(employee_id=employee, project_id=project, date=day, hours=14)
        if held:
            assert hold.held.wait(20), "log_time never reached its append"
        else:
            eventlet.sleep(random.uniform(0, STAGGER))
        peer.send("log", employee, project, day, "1400", str(uuid.uuid4()))
        theirs = peer.answer()
        hold.release.set()
        ours = log_outcome(call)
        winners = [who for who, won in (("service", ours == "logged"), ("peer", theirs["ok"])) if won]
        outcomes[f"{'held' if held else 'free'}: {'+'.join(winners) or 'none'} won"] += 1
        assert len(winners) == 1, f"{day}: {winners} won (service {ours}, peer {theirs})"
        if held:
            assert winners == ["peer"] and ours == "timesheet.day_over_24h"
        logged = [e for e in store.read_stream(f"timesheet-{timesheet_id(employee, week_of(day))}")
                  if e.type == "TimeLogged" and e.data["date"] == day]
        assert [e.data["hours"] for e in logged] == [14]
    with capsys.disabled():
        print(f"\n24 h race: {rounds} attempts across two processes; outcomes {dict(sorted(outcomes.items()))}")
