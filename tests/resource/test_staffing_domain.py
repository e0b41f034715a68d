"""Staffing (issue 17), domain: bookings changed and confirmed, the weekly staffing figures and partial
availability. Given events, when a command or a pure function, then what it records or returns. No I/O."""
from datetime import date, timedelta

import pytest
from hypothesis import given as for_all
from hypothesis import settings
from hypothesis import strategies as st

from services.resource import staffing
from services.resource.domain import Resource, free_time, totals
from shared.errors import Conflict, NotFound, RuleViolation, ValidationError
from shared.testing import given, recorded, recorded_types
from tests.resource.test_domain import P1, P2, R, absent, booked, registered

# 2030-01-07 is a Monday (ISO week 2030-W02).


# -- change_booking -------------------------------------------------------------------------------
def test_changing_a_booking_records_its_new_state_and_the_old_values_of_what_changed():
    r = given(Resource, R, registered(), booked("b1", "2030-01-07", "2030-01-08", 4))
    r.change_booking("b1", {"ends_on": "2030-01-09", "hours_per_day": 300})
    assert recorded(r) == [("BookingChanged", {
        "booking_id": "b1", "resource_id": R, "project_id": P1, "starts_on": "2030-01-07", "ends_on": "2030-01-09",
        "hours_per_day": 3, "tentative": False, "previous": {"ends_on": "2030-01-08", "hours_per_day": 4}})]
    assert [d.booked for d in r.loads("2030-01-07", "2030-01-10")] == [300, 300, 300, 0]


def test_a_change_that_changes_nothing_records_nothing():
    r = given(Resource, R, registered(), booked("b1", "2030-01-07", "2030-01-08", 4))
    r.change_booking("b1", {"starts_on": "2030-01-07", "hours_per_day": 400, "tentative": False})
    assert recorded(r) == []


def test_a_change_that_pushes_a_day_over_capacity_is_flagged_and_only_the_days_that_grew():
    r = given(Resource, R, registered(), booked("b1", "2030-01-07", "2030-01-09", 4),
              booked("b2", "2030-01-09", "2030-01-09", 6, project_id=P2))  # 2030-01-09 already 2.5 h over
    r.change_booking("b1", {"hours_per_day": 500, "ends_on": "2030-01-10"})
    assert recorded_types(r) == ["BookingChanged", "ResourceOverbooked"]
    over = recorded(r)[1][1]
    assert [(d["date"], d["excess_hours"]) for d in over["days"]] == [("2030-01-09", 3.5)]
    assert over["trigger"] == {"kind": "booking", "id": "b1"}


def test_moving_a_booking_to_other_days_checks_the_new_days():
    r = given(Resource, R, registered(), booked("b1", "2030-01-07", "2030-01-07", 6),
              booked("b2", "2030-03-04", "2030-03-04", 6, project_id=P2))
    r.change_booking("b1", {"starts_on": "2030-03-04", "ends_on": "2030-03-04"})
    changed, over = recorded(r)
    assert changed[1]["previous"] == {"starts_on": "2030-01-07", "ends_on": "2030-01-07"}
    assert over[0] == "ResourceOverbooked" and [d["date"] for d in over[1]["days"]] == ["2030-03-04"]


def test_a_tentative_booking_made_confirmed_by_a_change_is_checked_and_a_tentative_one_never_flagged():
    r = given(Resource, R, registered(), booked("b1", "2030-01-07", "2030-01-07", 9, tentative=True))
    r.change_booking("b1", {"hours_per_day": 1000})
    assert recorded_types(r) == ["BookingChanged"]  # still tentative: never over-allocation
    r = given(Resource, R, registered(), booked("b1", "2030-01-07", "2030-01-07", 9, tentative=True))
    r.change_booking("b1", {"tentative": False})
    assert recorded_types(r) == ["BookingChanged", "ResourceOverbooked"]
    assert recorded(r)[0][1]["previous"] == {"tentative": True}


def test_a_change_that_lowers_the_load_is_not_flagged():
    r = given(Resource, R, registered(), booked("b1", "2030-01-07", "2030-01-07", 9))
    r.change_booking("b1", {"hours_per_day": 800})
    assert recorded_types(r) == ["BookingChanged"]  # still over, but less than before


@pytest.mark.parametrize("changes, field", [
    ({"ends_on": "2030-01-06"}, "ends_on"),
    ({"starts_on": "2030-01-09"}, "starts_on"),
    ({"starts_on": "2026-01-01"}, "starts_on"),  # more than 731 days up to the booking's end
])
def test_a_change_giving_a_bad_range_with_the_other_end_as_it_is_is_refused(changes, field):
    r = given(Resource, R, registered(), booked("b1", "2030-01-07", "2030-01-08", 4))
    with pytest.raises(ValidationError) as refused:
        r.change_booking("b1", changes)
    assert list(refused.value.errors) == [field]
    assert recorded(r) == []


def test_a_change_needs_an_active_resource_and_a_live_booking():
    r = given(Resource, R, registered(), booked("b1", "2030-01-07", "2030-01-08", 4),
              ("BookingCancelled", {"resource_id": R, "booking_id": "b1", "project_id": P1, "reason": "x",
                                    "cancelled_from": None}))
    with pytest.raises(NotFound) as refused:
        r.change_booking("nope", {"hours_per_day": 100})
    assert refused.value.code == "booking.not_found"
    with pytest.raises(RuleViolation) as refused:
        r.change_booking("b1", {"hours_per_day": 100})
    assert refused.value.code == "booking.cancelled"
    gone = given(Resource, R, registered(), booked("b1", "2030-01-07", "2030-01-08", 4),
                 ("ResourceDeactivated", {"resource_id": R, "cancelled_booking_ids": []}))
    with pytest.raises(RuleViolation) as refused:
        gone.change_booking("b1", {"hours_per_day": 100})
    assert refused.value.code == "resource.inactive"


# -- confirm_booking ------------------------------------------------------------------------------
def test_confirming_a_tentative_booking_makes_it_count_and_flags_what_goes_over():
    r = given(Resource, R, registered(), booked("b1", "2030-01-07", "2030-01-08", 5),
              booked("b2", "2030-01-08", "2030-01-09", 4, project_id=P2, tentative=True))
    r.confirm_booking("b2")
    assert recorded_types(r) == ["BookingConfirmed", "ResourceOverbooked"]
    assert recorded(r)[0][1] == {"booking_id": "b2", "resource_id": R, "project_id": P2}
    over = recorded(r)[1][1]
    assert [(d["date"], d["excess_hours"]) for d in over["days"]] == [("2030-01-08", 1.5)]
    assert over["trigger"] == {"kind": "booking", "id": "b2"}
    assert [(d.booked, d.tentative) for d in r.loads("2030-01-08", "2030-01-09")] == [(900, 0), (400, 0)]


def test_confirming_within_capacity_records_only_the_confirmation():
    r = given(Resource, R, registered(), booked("b1", "2030-01-07", "2030-01-08", 5, tentative=True))
    r.confirm_booking("b1")
    assert recorded_types(r) == ["BookingConfirmed"]


def test_a_confirmed_or_cancelled_booking_cannot_be_confirmed():
    r = given(Resource, R, registered(), booked("b1", "2030-01-07", "2030-01-08", 5),
              booked("b2", "2030-01-07", "2030-01-08", 1, tentative=True),
              ("BookingCancelled", {"resource_id": R, "booking_id": "b2", "project_id": P1, "reason": "x",
                                    "cancelled_from": None}))
    with pytest.raises(Conflict) as refused:
        r.confirm_booking("b1")
    assert refused.value.code == "booking.already_confirmed"
    with pytest.raises(RuleViolation) as refused:
        r.confirm_booking("b2")
    assert refused.value.code == "booking.cancelled"
    with pytest.raises(NotFound):
        r.confirm_booking("b3")
    assert recorded(r) == []


def test_changed_and_confirmed_bookings_survive_the_read_models_snapshot():
    r = given(Resource, R, registered(), booked("b1", "2030-01-07", "2030-01-08", 5, tentative=True),
              ("BookingChanged", {"booking_id": "b1", "resource_id": R, "project_id": P1, "starts_on": "2030-01-08",
                                  "ends_on": "2030-01-09", "hours_per_day": 2.5, "tentative": True,
                                  "previous": {"starts_on": "2030-01-07", "ends_on": "2030-01-08",
                                               "hours_per_day": 5}}),
              ("BookingConfirmed", {"booking_id": "b1", "resource_id": R, "project_id": P1}))
    copy = Resource.from_state(R, r.to_state())
    assert copy.bookings["b1"].to_dict(R) == {
        "id": "b1", "resource_id": R, "project_id": P1, "starts_on": "2030-01-08", "ends_on": "2030-01-09",
        "hours_per_day": 2.5, "tentative": False, "status": "active"}


# -- weekly figures -------------------------------------------------------------------------------
def test_weeks_of_a_range_cut_at_its_ends():
    assert staffing.weeks("2030-01-10", "2030-01-22") == [
        ("2030-W02", "2030-01-10", "2030-01-13"), ("2030-W03", "2030-01-14", "2030-01-20"),
        ("2030-W04", "2030-01-21", "2030-01-22")]
    assert staffing.weeks("2026-12-28", "2027-01-04") == [  # ISO years: 2026 has 53 weeks
        ("2026-W53", "2026-12-28", "2027-01-03"), ("2027-W01", "2027-01-04", "2027-01-04")]


def test_week_count_limit():
    assert staffing.week_count("2030-01-07", "2031-01-05") == 52
    assert staffing.week_count("2030-01-06", "2031-01-06") == 54


def test_team_overview_gives_each_person_by_week_booked_and_tentative_apart_and_logged():
    ada = given(Resource, "ada", registered(), booked("b1", "2030-01-09", "2030-01-15", 4),
                booked("b2", "2030-01-14", "2030-01-14", 2, tentative=True, project_id=P2),
                absent("a1", "2030-01-07", "2030-01-07"))
    logged = {("ada", "2030-01-08"): 750, ("ada", "2030-01-14"): 400}
    [row] = staffing.team_overview([ada], "2030-01-07", "2030-01-20", logged)
    assert row["resource_id"] == "ada" and row["name"] == "Ada"
    assert row["weeks"] == [
        {"week": "2030-W02", "from_date": "2030-01-07", "to_date": "2030-01-13", "capacity_hours": 37.5,
         "absence_hours": 7.5, "available_hours": 30, "booked_hours": 12, "tentative_hours": 0, "free_hours": 18,
         "excess_hours": 0, "logged_hours": 7.5},
        {"week": "2030-W03", "from_date": "2030-01-14", "to_date": "2030-01-20", "capacity_hours": 37.5,
         "absence_hours": 0, "available_hours": 37.5, "booked_hours": 8, "tentative_hours": 2, "free_hours": 27.5,
         "excess_hours": 0, "logged_hours": 4}]
    assert row["totals"] == {"capacity_hours": 75, "absence_hours": 7.5, "available_hours": 67.5,
                             "booked_hours": 20, "tentative_hours": 2, "free_hours": 45.5, "excess_hours": 0,
                             "logged_hours": 11.5}


def test_team_overview_leaves_out_the_deactivated_with_nothing_in_the_range():
    gone = given(Resource, "gone", registered(), ("ResourceDeactivated", {"resource_id": R, "cancelled_booking_ids": []}))
    assert staffing.team_overview([gone], "2030-01-07", "2030-01-13", {}) == []
    [row] = staffing.team_overview([gone], "2030-01-07", "2030-01-13", {("gone", "2030-01-07"): 100})
    assert row["active"] is False and row["totals"]["logged_hours"] == 1


def test_project_staffing_shows_who_is_booked_by_week_and_who_logged_without_a_booking():
    ada = given(Resource, "ada", registered(), booked("b1", "2030-01-07", "2030-01-09", 4),
                booked("b2", "2030-01-07", "2030-01-07", 5, project_id=P2),
                booked("b3", "2030-01-14", "2030-01-14", 3, tentative=True))
    bob = given(Resource, "bob", registered(), booked("b4", "2030-01-07", "2030-01-07", 8, project_id=P2))
    logged = {("ada", "2030-01-08"): 400, ("ada", "2030-01-10"): 200,  # the 10th: after her booking
              ("bob", "2030-01-08"): 300, ("ghost", "2030-01-15"): 100}  # ghost: not a resource known here
    out = staffing.project_staffing([ada, bob], P1, "2030-01-07", "2030-01-20", logged)
    [a, b] = out["people"]
    assert (a["resource_id"], a["booked"], b["resource_id"], b["booked"]) == ("ada", True, "bob", False)
    assert [x["id"] for x in a["bookings"]] == ["b1", "b3"] and b["bookings"] == []
    assert a["weeks"][0] == {
        "week": "2030-W02", "from_date": "2030-01-07", "to_date": "2030-01-13", "capacity_hours": 37.5,
        "absence_hours": 0, "available_hours": 37.5, "project_booked_hours": 12, "project_tentative_hours": 0,
        "other_booked_hours": 5, "other_tentative_hours": 0, "free_hours": 22, "excess_hours": 1.5,
        "logged_hours": 6, "logged_unbooked_hours": 2}
    assert a["weeks"][1]["project_tentative_hours"] == 3 and a["weeks"][1]["logged_hours"] == 0
    assert b["weeks"][0]["other_booked_hours"] == 8 and b["weeks"][0]["logged_unbooked_hours"] == 3
    assert out["logged_without_booking"] == [
        {"resource_id": "ada", "name": "Ada", "hours": 2, "weeks": [{"week": "2030-W02", "hours": 2}]},
        {"resource_id": "bob", "name": "Ada", "hours": 3, "weeks": [{"week": "2030-W02", "hours": 3}]},
        {"resource_id": "ghost", "name": None, "hours": 1, "weeks": [{"week": "2030-W03", "hours": 1}]}]
    assert out["totals"] == {"project_booked_hours": 12, "project_tentative_hours": 3, "logged_hours": 10,
                             "logged_unbooked_hours": 6}


def test_a_tentative_booking_counts_as_a_booking_for_the_hours_logged_against_it():
    ada = given(Resource, "ada", registered(), booked("b1", "2030-01-07", "2030-01-07", 4, tentative=True))
    out = staffing.project_staffing([ada], P1, "2030-01-07", "2030-01-13", {("ada", "2030-01-07"): 400})
    assert out["logged_without_booking"] == [] and out["people"][0]["weeks"][0]["logged_unbooked_hours"] == 0


# -- partial availability -------------------------------------------------------------------------
def test_find_available_ranks_partial_matches_by_free_hours_and_says_how_much_each_covers():
    ada = given(Resource, "ada", registered(), booked("b1", "2030-01-07", "2030-01-07", 7.5))  # Monday taken
    bob = given(Resource, "bob", registered())
    cyd = given(Resource, "cyd", registered(), booked("b2", "2030-01-07", "2030-01-11", 6))
    full = given(Resource, "full", registered(), booked("b3", "2030-01-07", "2030-01-11", 7.5))
    found = staffing.partial_free_time([ada, bob, cyd, full], [], "2030-01-07", "2030-01-11", 400)
    assert [f.resource.id for f in found] == ["bob", "ada", "cyd"]  # full covers nothing: left out
    bob_, ada_, cyd_ = (f.to_dict() for f in found)
    assert (bob_["requested_hours"], bob_["covered_hours"], bob_["coverage_percent"], bob_["full_match"]) == (
        20, 20, 100.0, True)
    assert (ada_["free_hours"], ada_["covered_hours"], ada_["coverage_percent"], ada_["full_match"]) == (
        30, 16, 80.0, False)
    assert (cyd_["free_hours"], cyd_["covered_hours"], cyd_["coverage_percent"]) == (7.5, 7.5, 37.5)
    assert ada_["min_free_hours_per_day"] == 0 and ada_["working_days"] == 5


def test_find_available_with_full_coverage_asked_is_the_old_all_or_nothing():
    ada = given(Resource, "ada", registered(), booked("b1", "2030-01-07", "2030-01-07", 7.5))
    bob = given(Resource, "bob", registered())
    found = staffing.partial_free_time([ada, bob], [], "2030-01-07", "2030-01-11", 400, min_coverage=100)
    assert [f.resource.id for f in found] == ["bob"]
    assert staffing.partial_free_time([ada], [], "2030-01-12", "2030-01-13", 100) == []  # a weekend: nothing asked
    assert staffing.partial_free_time([ada], ["java"], "2030-01-07", "2030-01-11", 100) == []  # skills still count


def test_coverage_percent_is_rounded_to_two_decimals():
    ada = given(Resource, "ada", registered(), booked("b1", "2030-01-07", "2030-01-08", 7.5))
    [f] = staffing.partial_free_time([ada], [], "2030-01-07", "2030-01-09", 100)  # 1 h of 3
    assert f.to_dict()["coverage_percent"] == 33.33


# -- properties -----------------------------------------------------------------------------------
MONDAY = date(2030, 1, 7)
day_in = st.integers(min_value=0, max_value=27).map(lambda n: (MONDAY + timedelta(days=n)).isoformat())


@st.composite
def people(draw):
    out = []
    for i in range(draw(st.integers(min_value=1, max_value=4))):
        events = [registered(weekly=draw(st.sampled_from([0, 20, 37.5, 40])),
                             working_days=draw(st.sets(st.integers(1, 7), min_size=1, max_size=7)))]
        for k in range(draw(st.integers(min_value=0, max_value=4))):
            first, last = sorted((draw(day_in), draw(day_in)))
            events.append(booked(f"b{k}", first, last, draw(st.sampled_from([1, 2.5, 4, 7.5])),
                                 tentative=draw(st.booleans())))
        for k in range(draw(st.integers(min_value=0, max_value=2))):
            first, last = sorted((draw(day_in), draw(day_in)))
            events.append(absent(f"a{k}", first, last, draw(st.sampled_from([None, 2]))))
        out.append(given(Resource, f"r{i}", *events))
    return out


@settings(max_examples=60, deadline=None)
@for_all(people(), day_in, day_in, st.sampled_from([50, 100, 400, 750]))
def test_full_coverage_asked_gives_exactly_the_old_all_or_nothing_answer(found, a, b, hours_per_day):
    start, end = sorted((a, b))
    old = {f.resource.id: f.free for f in free_time(found, [], start, end, hours_per_day)}
    new = staffing.partial_free_time(found, [], start, end, hours_per_day, min_coverage=100)
    assert {c.resource.id: c.free for c in new} == old
    for c in staffing.partial_free_time(found, [], start, end, hours_per_day):
        assert 0 < c.covered <= c.requested and c.covered <= c.free
        assert c.to_dict()["full_match"] == (c.resource.id in old)


@settings(max_examples=60, deadline=None)
@for_all(people(), day_in, day_in)
def test_the_weeks_of_the_team_overview_add_up_to_the_range(found, a, b):
    start, end = sorted((a, b))
    for person, row in zip(found, staffing.team_overview(found, start, end, {}), strict=True):
        whole = totals(person.loads(start, end))
        assert {k: row["totals"][f"{k}_hours"] for k in whole} == whole
        for figure in ("capacity_hours", "booked_hours", "tentative_hours", "free_hours"):
            assert round(sum(w[figure] for w in row["weeks"]), 2) == row["totals"][figure]
