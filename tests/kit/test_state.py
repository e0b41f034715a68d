"""The durable state: checkpoints and parked events that outlive the read models."""
from shared.projections import ViewStore
from shared.state import DurableState


def test_parking_the_same_event_again_adds_attempts_and_keeps_the_latest_error(tmp_path):
    state = DurableState(str(tmp_path / "state.db"))
    state.park("consumer", "project", event_id="e1", stream="project-1", position=7, event_type="MemberAssigned",
               reason="schema_invalid", error="project_id: missing", envelope={"id": "e1", "data": {}})
    state.park("consumer", "project", event_id="e1", reason="schema_invalid", error="still missing", attempts=2)
    [row] = state.parked()
    assert (row["kind"], row["name"], row["event_id"], row["position"]) == ("consumer", "project", "e1", 7)
    assert row["attempts"] == 3 and row["error"] == "still missing"
    assert row["envelope"] == {"id": "e1", "data": {}}  # kept when a later park has none
    assert state.is_parked("consumer", "project", "e1") and not state.is_parked("reactor", "project", "e1")


def test_a_retry_is_requested_from_outside_and_resolved_by_the_service(tmp_path):
    path = str(tmp_path / "state.db")
    state = DurableState(path)
    for event_id in ("a", "b"):
        state.park("projection", "facts", event_id=event_id, reason="handler_failed", error="KeyError")
    state.park("reactor", "mailer", event_id="c", reason="handler_failed")
    operator = DurableState(path)  # `chronicle parked retry`, another process
    assert operator.request_retry(kind="projection") == 2
    requested = state.retry_requested("projection")
    assert [r["event_id"] for r in requested] == ["a", "b"] and state.retry_requested("reactor") == []
    state.resolve(requested[0]["id"])
    state.retry_failed(requested[1]["id"], "KeyError again")
    assert [r["event_id"] for r in state.parked(kind="projection")] == ["b"]
    [still] = state.parked(kind="projection")
    assert still["attempts"] == 2 and not still["retry_requested"] and still["error"] == "KeyError again"
    assert [r["event_id"] for r in state.parked(kind="projection", include_resolved=True)] == ["a", "b"]


def test_checkpoints_kept_in_an_old_views_file_are_adopted_once(tmp_path):
    views = ViewStore(str(tmp_path / "views.db"))
    views.save_checkpoint("relay:project", 40)
    views.save_checkpoint("consumer:timesheet", 12)
    views.save_checkpoint("facts", 40)  # a read model's own checkpoint stays with it
    with views.transaction() as db:
        db.execute("CREATE TABLE reactor_failures (reactor TEXT, event_id TEXT, position INTEGER, event_type TEXT,"
                   " error TEXT, attempts INTEGER, failed_at TEXT)")
        db.execute("INSERT INTO reactor_failures VALUES ('budget', 'e9', 9, 'TimeLogged', 'boom', 5, 'now')")
    state = DurableState(str(tmp_path / "state.db"))
    state.adopt(views)
    assert state.get_checkpoint("relay:project") == 40 and state.get_checkpoint("consumer:timesheet") == 12
    assert state.get_checkpoint("facts") == 0 and views.get_checkpoint("facts") == 40
    assert views.get_checkpoint("relay:project") == 0  # moved, not copied: the views may now be deleted
    [failure] = state.parked(kind="reactor")
    assert (failure["name"], failure["event_id"], failure["attempts"]) == ("budget", "e9", 5)
    state.save_checkpoint("relay:project", 41)
    state.adopt(views)  # again: nothing left to adopt, nothing moves back
    assert state.get_checkpoint("relay:project") == 41
