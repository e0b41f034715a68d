"""The log of export lines (``ts_export_log``) that ``TimesheetsView`` keeps: an entry's event logs the line its
handler builds from the values it writes, never read back; whatever the sequence of commands, the line last logged
for each entry is exactly the line read back from the read model (``exports.line``), and each event's changes are
numbered 0, 1, 2... (a cursor's index)."""
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.timesheet import exports

from .test_delta_property import OPS, World


def last_logged(db) -> dict:
    return {r[0]: r[1] for r in db.execute(
        "SELECT entry_id, after FROM ts_export_log l WHERE (position, idx) = (SELECT position, idx FROM ts_export_log"
        " WHERE entry_id = l.entry_id ORDER BY position DESC, idx DESC LIMIT 1)")}


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(OPS, max_size=40))
def test_the_line_last_logged_for_each_entry_is_the_line_read_back(ops):
    world = World()
    for op in ops:
        if op[0] == "pull":
            continue
        world.apply(op)
        logged = last_logged(world.db)
        for entry_id in {r[0] for r in world.db.execute("SELECT entry_id FROM ts_entries")}:
            now = exports.line(world.db, entry_id)
            assert logged.get(entry_id) == (None if now is None else json.dumps(now, sort_keys=True)), (op, entry_id)
    for position, idxs in _by_position(world.db).items():
        assert idxs == list(range(len(idxs))), position


def _by_position(db) -> dict:
    out: dict = {}
    for position, idx in db.execute("SELECT position, idx FROM ts_export_log ORDER BY position, idx"):
        out.setdefault(position, []).append(idx)
    return out
