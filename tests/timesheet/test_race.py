"""The 24 h/day rule against a write that lands between our load and our append (integration: the kit's
command handling on a real SQLite store). The losing command is reloaded and decided again on fresh state."""
import pytest

from services.timesheet.domain import ProjectFacts, Timesheet, timesheet_id
from services.timesheet.events import events
from shared.errors import RuleViolation
from shared.eventstore import open_store
from shared.handling import execute, load

EMP = "11111111-1111-1111-1111-111111111111"
FACTS = ProjectFacts(project_id="aaaaaaaa-0000-0000-0000-000000000001", members={EMP})
TS = timesheet_id(EMP, "2026-W48")
DAY = "2026-11-24"


@pytest.fixture
def store(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'race.db'}")
    yield store
    store.close()


def log(entry_id, centi):
    return lambda ts: ts.log(entry_id, FACTS, DAY, centi)


def test_a_write_that_lands_first_is_seen_when_deciding_again(store):
    execute(store, events, Timesheet, TS, log("e1", 2000))
    attempts = []

    def racing(ts):
        attempts.append(ts.day_total(DAY))
        if len(attempts) == 1:  # another caller's 3 h land between our load and our append
            execute(store, events, Timesheet, TS, log("e2", 300))
        ts.log("e3", FACTS, DAY, 300)  # 20 + 3 fits on the stale state, not on the fresh one

    with pytest.raises(RuleViolation) as err:
        execute(store, events, Timesheet, TS, racing)
    assert err.value.code == "timesheet.day_over_24h"
    assert attempts == [2000, 2300]
    final, _ = load(store, events, Timesheet, TS)
    assert sorted(final.entries) == ["e1", "e2"] and final.day_total(DAY) == 2300


def test_a_racing_write_that_still_fits_is_appended_after_the_reload(store):
    execute(store, events, Timesheet, TS, log("e1", 1000))
    raced = []

    def racing(ts):
        if not raced:
            raced.append(True)
            execute(store, events, Timesheet, TS, log("e2", 500))
        ts.log("e3", FACTS, DAY, 500)

    outcome = execute(store, events, Timesheet, TS, racing)
    assert outcome.aggregate.version == 2 and outcome.aggregate.day_total(DAY) == 2000
