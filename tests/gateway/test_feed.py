"""GET /events' merge of the services' feed pages (services/gateway/feed.py), without services: given the pages
the services answer, what is served, where the cursor goes and whether there is more."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.gateway import feed
from shared.errors import ValidationError

PUBLISHED = {"project": {"ProjectCreated", "TaskAdded"}, "resource": {"ResourceRegistered", "ResourceBooked"}}


def event(when, position, type_="T"):
    return {"recorded_at": f"2030-01-01T00:00:{when:02d}", "position": position, "type": type_}


def page(*events, next_position=None, head=None):
    next_position = next_position if next_position is not None else (events[-1]["position"] if events else 0)
    return {"events": list(events), "next_position": next_position, "head": head if head is not None else next_position}


def test_each_service_is_asked_for_its_own_types_only_and_one_with_none_is_not_asked():
    assert feed.asked({"ProjectCreated"}, PUBLISHED) == {"project": ["ProjectCreated"]}
    assert feed.asked({"TaskAdded", "ResourceBooked", "ProjectCreated"}, PUBLISHED) == {
        "project": ["ProjectCreated", "TaskAdded"], "resource": ["ResourceBooked"]}
    assert feed.asked(set(), PUBLISHED) == {"project": None, "resource": None}  # no types: everything


def test_a_type_no_service_publishes_is_refused():
    with pytest.raises(ValidationError) as refused:
        feed.asked({"ProjectCreated", "NoSuchEvent"}, PUBLISHED)
    assert set(refused.value.errors) == {"types"}


def test_pages_merge_in_recorded_order_and_the_cursor_moves_past_what_each_service_skipped():
    # given two filtered pages, each to its service's head (the resource skipped other types up to 40)
    answers = {"project": page(event(1, 10), event(3, 12)), "resource": page(event(2, 7), next_position=40)}
    # when merged
    events, positions, more = feed.merge(answers, {"project": 9, "resource": 5}, limit=10)
    # then all of them, in the order recorded; each service's place is its page's end; nothing more
    assert [(e["service"], e["position"]) for e in events] == [("project", 10), ("resource", 7), ("project", 12)]
    assert positions == {"project": 12, "resource": 40}
    assert more is False


def test_a_page_over_the_limit_keeps_each_service_at_its_last_event_served():
    answers = {"project": page(event(1, 10), event(3, 12)), "resource": page(event(2, 7), event(4, 8))}
    events, positions, more = feed.merge(answers, {}, limit=2)
    assert [(e["service"], e["position"]) for e in events] == [("project", 10), ("resource", 7)]
    assert positions == {"project": 10, "resource": 7}
    assert more is True


def test_nothing_recorded_after_the_end_of_a_partly_read_feed_is_served_yet():
    # given the project's page ends before its head (it scanned only part of its feed for the types)
    answers = {"project": page(event(1, 10), event(5, 900), head=5000),
               "resource": page(event(2, 7), event(6, 8), event(7, 9))}
    events, positions, more = feed.merge(answers, {}, limit=10)
    # then the resource's events recorded after the project's last one wait for the next page
    assert [(e["service"], e["position"]) for e in events] == [("project", 10), ("resource", 7), ("project", 900)]
    assert positions == {"project": 900, "resource": 7}
    assert more is True


def test_a_service_that_found_none_of_its_types_in_what_it_scanned_moves_on_alone():
    answers = {"project": page(next_position=1000, head=5000), "resource": page(event(1, 7))}
    events, positions, more = feed.merge(answers, {"resource": 3}, limit=10)
    assert events == []
    assert positions == {"project": 1000, "resource": 3}
    assert more is True


def test_the_cursor_of_a_service_not_asked_stays():
    events, positions, more = feed.merge({"project": page(event(1, 10))}, {"resource": 33}, limit=5)
    assert positions == {"project": 10, "resource": 33} and more is False


# -- the whole feed, page by page, against stores served as the kit serves them ------------------------------
def served_by_the_kit(store, position, limit, types, scan):
    """``events_since`` as shared/kit.py answers it, with a scan of ``scan`` events for a filtered page."""
    after = [e for e in store if e["position"] > position]
    if types is None:
        events = after[:limit]
        next_position = events[-1]["position"] if events else position
    else:
        scanned = after[:scan]
        matching = [e for e in scanned if e["type"] in types]
        events = matching[:limit]
        last = events[-1] if len(matching) > limit else (scanned[-1] if scanned else None)
        next_position = last["position"] if last else position
    return {"events": events, "next_position": next_position, "head": store[-1]["position"] if store else 0}


@settings(max_examples=200, deadline=None)
@given(recorded=st.lists(st.tuples(st.sampled_from(["project", "resource"]), st.sampled_from("ABCD")),
                         max_size=40),
       wanted=st.sets(st.sampled_from("ABCD")), limit=st.integers(1, 5), scan=st.integers(1, 6))
def test_paging_to_the_end_serves_every_wanted_event_once_in_the_order_recorded(recorded, wanted, limit, scan):
    published = {"project": {"A", "B"}, "resource": {"C", "D"}}
    stores = {"project": [], "resource": []}
    for when, (service, type_) in enumerate(recorded):
        if type_ in published[service]:
            stores[service].append({**event(when, 100 + when, type_), "position": 100 + when})
    services = feed.asked(wanted, published)
    positions, served, more, rounds = {}, [], True, 0
    while more:
        answers = {s: served_by_the_kit(stores[s], positions.get(s, 0), limit, types, scan)
                   for s, types in services.items()}
        events, positions, more = feed.merge(answers, positions, limit)
        served += events
        rounds += 1
        assert rounds <= 200, "the feed never caught up"
    expected = [{**e, "service": s} for s in services for e in stores[s] if not wanted or e["type"] in wanted]
    assert served == sorted(expected, key=lambda e: e["recorded_at"])
