"""Staffing (issue 17) over a real resource container on the real RabbitMQ: bookings changed and confirmed,
project_staffing, team_overview and partial availability. The project's and the timesheet's facts come from
stand-ins that build them through those services' own event registries (tests/resource/conftest.py)."""
import pytest

from shared.errors import Conflict, NotFound, RuleViolation, ValidationError
from shared.testing import wait_until
from tests.resource.conftest import change_status, create_project, log_time, new_id
from tests.resource.test_service import head, register

# 2030-01-07 is a Monday: ISO week 2030-W02.


def book(rpc_, person, project_id, starts_on, ends_on, hours_per_day, **kwargs):
    return rpc_.resource.book_resource(resource_id=person["id"], project_id=project_id, starts_on=starts_on,
                                       ends_on=ends_on, hours_per_day=hours_per_day, **kwargs)


def test_a_booking_is_changed_retried_and_its_old_values_kept_in_the_history(rpc_):
    person, project_id = register(rpc_), create_project(rpc_)
    booking = book(rpc_, person, project_id, "2030-01-07", "2030-01-08", 4, tentative=True)
    command_id = new_id()
    changed = rpc_.resource.change_booking(resource_id=person["id"], booking_id=booking["id"], ends_on="2030-01-10",
                                           hours_per_day=3, command_id=command_id)
    assert {k: changed[k] for k in ("id", "starts_on", "ends_on", "hours_per_day", "tentative", "status")} == {
        "id": booking["id"], "starts_on": "2030-01-07", "ends_on": "2030-01-10", "hours_per_day": 3,
        "tentative": True, "status": "active"}
    assert changed["previous"] == {"ends_on": "2030-01-08", "hours_per_day": 4} and changed["overbooked"] is None
    again = rpc_.resource.change_booking(resource_id=person["id"], booking_id=booking["id"], ends_on="2030-01-10",
                                         hours_per_day=3, command_id=command_id)
    assert again["position"] == changed["position"]
    event = rpc_.resource.history(resource_id=person["id"])[-1]
    assert event["type"] == "BookingChanged" and event["data"] == {
        "booking_id": booking["id"], "resource_id": person["id"], "project_id": project_id,
        "starts_on": "2030-01-07", "ends_on": "2030-01-10", "hours_per_day": 3, "tentative": True,
        "previous": {"ends_on": "2030-01-08", "hours_per_day": 4}}
    [got] = rpc_.resource.get_resource(resource_id=person["id"])["bookings"]
    assert (got["ends_on"], got["hours_per_day"]) == ("2030-01-10", 3)
    # the same values again: nothing to record
    same = rpc_.resource.change_booking(resource_id=person["id"], booking_id=booking["id"], hours_per_day=3)
    assert same["previous"] == {} and len(rpc_.resource.history(resource_id=person["id"])) == 3


def test_a_change_is_validated_before_anything_is_appended(rpc_):
    person, project_id = register(rpc_), create_project(rpc_)
    booking = book(rpc_, person, project_id, "2030-01-07", "2030-01-08", 4)
    ids = {"resource_id": person["id"], "booking_id": booking["id"]}
    before = head(rpc_)
    for bad, field in [({}, "changes"), ({"starts_on": "2030-01-09", "ends_on": "2030-01-08"}, "ends_on"),
                       ({"ends_on": "2030-01-06"}, "ends_on"),  # before the booking's own start
                       ({"starts_on": "2027-01-01"}, "starts_on"),  # over 731 days to the booking's end
                       ({"hours_per_day": 25}, "hours_per_day"), ({"tentative": "yes"}, "tentative"),
                       ({"colour": "red"}, "colour")]:
        with pytest.raises(ValidationError) as refused:
            rpc_.resource.change_booking(**ids, **bad)
        assert field in refused.value.errors, bad
    with pytest.raises(NotFound) as refused:
        rpc_.resource.change_booking(resource_id=person["id"], booking_id=new_id(), hours_per_day=1)
    assert refused.value.code == "booking.not_found"
    assert head(rpc_) == before
    rpc_.resource.cancel_booking(**ids)
    with pytest.raises(RuleViolation) as refused:
        rpc_.resource.change_booking(**ids, hours_per_day=1)
    assert refused.value.code == "booking.cancelled"


def test_a_change_that_goes_over_capacity_is_flagged_and_published(rpc_):
    person, project_id = register(rpc_), create_project(rpc_)
    book(rpc_, person, project_id, "2030-01-14", "2030-01-14", 4)
    moved = book(rpc_, person, project_id, "2030-01-07", "2030-01-07", 4)
    changed = rpc_.resource.change_booking(resource_id=person["id"], booking_id=moved["id"],
                                           starts_on="2030-01-14", ends_on="2030-01-15")
    assert [(d["date"], d["excess_hours"]) for d in changed["overbooked"]["days"]] == [("2030-01-14", 0.5)]
    assert changed["overbooked"]["trigger"] == {"kind": "booking", "id": moved["id"]}
    envelope = wait_until(lambda: next((e for e in rpc_.overbooked_listener.received()
                                        if e["data"]["resource_id"] == person["id"]), None), timeout=15)
    assert envelope["data"]["days"][0]["date"] == "2030-01-14"


def test_a_tentative_booking_is_confirmed_once(rpc_):
    person, project_id = register(rpc_), create_project(rpc_)
    book(rpc_, person, project_id, "2030-01-07", "2030-01-08", 5)
    tentative = book(rpc_, person, project_id, "2030-01-08", "2030-01-09", 4, tentative=True)
    ids = {"resource_id": person["id"], "booking_id": tentative["id"]}
    command_id = new_id()
    confirmed = rpc_.resource.confirm_booking(**ids, command_id=command_id)
    assert confirmed["tentative"] is False and confirmed["status"] == "active"
    assert [(d["date"], d["excess_hours"]) for d in confirmed["overbooked"]["days"]] == [("2030-01-08", 1.5)]
    assert rpc_.resource.confirm_booking(**ids, command_id=command_id)["position"] == confirmed["position"]
    types = [e["type"] for e in rpc_.resource.history(resource_id=person["id"])]
    assert types[-2:] == ["BookingConfirmed", "ResourceOverbooked"]
    before = head(rpc_)
    with pytest.raises(Conflict) as refused:
        rpc_.resource.confirm_booking(**ids)
    assert refused.value.code == "booking.already_confirmed"
    with pytest.raises(NotFound):
        rpc_.resource.confirm_booking(resource_id=person["id"], booking_id=new_id())
    assert head(rpc_) == before
    days = rpc_.resource.availability(resource_id=person["id"], from_date="2030-01-08", to_date="2030-01-09")["days"]
    assert [(d["booked"], d["tentative"]) for d in days] == [(9, 0), (4, 0)]


def test_changes_and_confirmations_need_the_project_still_active_but_a_retry_replays(rpc_):
    person, project_id = register(rpc_), create_project(rpc_)
    tentative = book(rpc_, person, project_id, "2030-01-07", "2030-01-08", 4, tentative=True)
    ids = {"resource_id": person["id"], "booking_id": tentative["id"]}
    command_id = new_id()
    first = rpc_.resource.change_booking(**ids, hours_per_day=2, command_id=command_id)
    change_status(rpc_, project_id, "on_hold", "2030-01-01")
    before = head(rpc_)
    for call in (lambda: rpc_.resource.change_booking(**ids, hours_per_day=3),
                 lambda: rpc_.resource.confirm_booking(**ids)):
        with pytest.raises(RuleViolation) as refused:
            call()
        assert refused.value.code == "booking.project_not_active"
    assert head(rpc_) == before
    assert rpc_.resource.change_booking(**ids, hours_per_day=2, command_id=command_id)["position"] == first["position"]


def test_project_staffing_by_week_with_hours_logged_without_a_booking(rpc_):
    ada, bob = register(rpc_, name="Ada Staffed"), register(rpc_, name="Bob Unbooked")
    project_id, other = create_project(rpc_), create_project(rpc_)
    book(rpc_, ada, project_id, "2030-01-07", "2030-01-09", 4)
    book(rpc_, ada, other, "2030-01-07", "2030-01-07", 2)
    book(rpc_, ada, project_id, "2030-01-14", "2030-01-14", 3, tentative=True)
    last = rpc_.resource.register_absence(resource_id=ada["id"], starts_on="2030-01-11", ends_on="2030-01-11")
    log_time(rpc_, ada["id"], "2030-01-08", 4, project_id)
    log_time(rpc_, ada["id"], "2030-01-10", 2, project_id)  # a day her booking does not cover
    log_time(rpc_, ada["id"], "2030-01-08", 1, other)  # another project: not counted here
    log_time(rpc_, bob["id"], "2030-01-15", 3, project_id)
    stranger = new_id()  # logs time but is no resource here
    log_time(rpc_, stranger, "2030-01-16", 1, project_id)

    def staffing():
        out = rpc_.resource.project_staffing(project_id=project_id, from_date="2030-01-07", to_date="2030-01-20",
                                             min_position=last["position"])
        return out if out["totals"]["logged_hours"] == 10 else None

    out = wait_until(staffing, timeout=15, message="logged hours not seen")
    assert out["weeks"] == ["2030-W02", "2030-W03"] and out["status"] == "active"
    assert out["totals"] == {"project_booked_hours": 12, "project_tentative_hours": 3, "logged_hours": 10,
                             "logged_unbooked_hours": 6}
    a, b = out["people"]
    assert (a["name"], a["booked"], len(a["bookings"]), b["name"], b["booked"]) == (
        "Ada Staffed", True, 2, "Bob Unbooked", False)
    assert a["weeks"][0] == {
        "week": "2030-W02", "from_date": "2030-01-07", "to_date": "2030-01-13", "capacity_hours": 37.5,
        "absence_hours": 7.5, "available_hours": 30, "project_booked_hours": 12, "project_tentative_hours": 0,
        "other_booked_hours": 2, "other_tentative_hours": 0, "free_hours": 16, "excess_hours": 0,
        "logged_hours": 6, "logged_unbooked_hours": 2}
    assert a["weeks"][1]["project_tentative_hours"] == 3
    assert b["weeks"][1]["logged_unbooked_hours"] == 3 and b["totals"]["capacity_hours"] == 75
    assert out["logged_without_booking"] == [
        {"resource_id": ada["id"], "name": "Ada Staffed", "hours": 2, "weeks": [{"week": "2030-W02", "hours": 2}]},
        {"resource_id": bob["id"], "name": "Bob Unbooked", "hours": 3, "weeks": [{"week": "2030-W03", "hours": 3}]},
        {"resource_id": stranger, "name": None, "hours": 1, "weeks": [{"week": "2030-W03", "hours": 1}]}]


def test_project_staffing_of_an_unknown_project_and_ranges_over_53_weeks_are_refused(rpc_):
    with pytest.raises(NotFound) as refused:
        rpc_.resource.project_staffing(project_id=new_id(), from_date="2030-01-07", to_date="2030-01-13")
    assert refused.value.code == "project.not_found"
    project_id = create_project(rpc_)
    # 2030-01-07 is a Monday: 53 weeks end on Sunday 2031-01-12
    out = rpc_.resource.project_staffing(project_id=project_id, from_date="2030-01-07", to_date="2031-01-12")
    assert len(out["weeks"]) == 53 and out["people"] == []
    for rpc_name, args in (("project_staffing", {"project_id": project_id}), ("team_overview", {})):
        with pytest.raises(ValidationError) as refused:
            getattr(rpc_.resource, rpc_name)(from_date="2030-01-07", to_date="2031-01-13", **args)
        assert refused.value.errors["to_date"] == [
            "The range may span at most 53 ISO weeks: from 2030-01-07 it may end on 2031-01-12 at the latest."]
        with pytest.raises(ValidationError) as refused:
            getattr(rpc_.resource, rpc_name)(from_date="2030-01-07", to_date="2030-01-06", **args)
        assert "to_date" in refused.value.errors


def test_team_overview_every_person_by_week_for_a_skill(rpc_):
    skill = f"staff-{new_id()[:6]}"
    ada, bob = register(rpc_, name="Ada Team", skills=[skill]), register(rpc_, name="Bob Team", skills=[skill])
    register(rpc_, name="Cyd Elsewhere", skills=["cobol"])
    project_id = create_project(rpc_)
    book(rpc_, ada, project_id, "2030-01-07", "2030-01-08", 6)
    last = book(rpc_, ada, project_id, "2030-01-14", "2030-01-14", 2, tentative=True)
    log_time(rpc_, ada["id"], "2030-01-07", 5, project_id)
    log_time(rpc_, ada["id"], "2030-01-15", 2, create_project(rpc_))  # every project counts

    def overview():
        out = rpc_.resource.team_overview(from_date="2030-01-07", to_date="2030-01-20", skill=skill,
                                          min_position=last["position"])
        return out if out["people"] and out["people"][0]["totals"]["logged_hours"] == 7 else None

    out = wait_until(overview, timeout=15, message="logged hours not seen")
    assert out["weeks"] == ["2030-W02", "2030-W03"] and out["skill"] == skill
    assert [p["name"] for p in out["people"]] == ["Ada Team", "Bob Team"]
    a, b = out["people"]
    assert [(w["booked_hours"], w["tentative_hours"], w["logged_hours"]) for w in a["weeks"]] == [(12, 0, 5), (0, 2, 2)]
    assert a["weeks"][0]["capacity_hours"] == 37.5 and a["weeks"][0]["free_hours"] == 25.5
    assert b["totals"]["free_hours"] == 75 and b["totals"]["logged_hours"] == 0
    everyone = rpc_.resource.team_overview(from_date="2030-01-07", to_date="2030-01-07")
    assert {ada["id"], bob["id"]} <= {p["resource_id"] for p in everyone["people"]}


def test_find_available_ranks_partial_matches_and_says_what_each_covers(rpc_):
    skill = f"part-{new_id()[:6]}"
    busy, free, half = (register(rpc_, name=n, skills=[skill]) for n in ("Busy", "Free", "Half"))
    full = register(rpc_, name="Full", skills=[skill])
    project_id = create_project(rpc_)
    book(rpc_, busy, project_id, "2030-03-04", "2030-03-05", 7)
    book(rpc_, half, project_id, "2030-03-04", "2030-03-04", 7.5)
    tentative = book(rpc_, full, project_id, "2030-03-04", "2030-03-05", 7.5, tentative=True)
    args = {"from_date": "2030-03-04", "to_date": "2030-03-05", "hours_per_day": 4, "skills": [skill],
            "min_position": tentative["position"]}
    found = rpc_.resource.find_available(**args)
    assert [(f["name"], f["free_hours"], f["covered_hours"], f["coverage_percent"], f["full_match"])
            for f in found] == [("Free", 15, 8, 100.0, True), ("Half", 7.5, 4, 50.0, False),
                                ("Busy", 1, 1, 12.5, False)]
    assert all(f["requested_hours"] == 8 for f in found)
    assert [f["name"] for f in rpc_.resource.find_available(**args, min_coverage_percent=100)] == ["Free"]
    assert [f["name"] for f in rpc_.resource.find_available(**args, min_coverage_percent=50)] == ["Free", "Half"]
    # confirming the tentative booking changes nothing here (tentative hours were taken already); freeing it does
    rpc_.resource.confirm_booking(resource_id=full["id"], booking_id=tentative["id"])
    changed = rpc_.resource.change_booking(resource_id=full["id"], booking_id=tentative["id"], hours_per_day=5.5)
    found = rpc_.resource.find_available(**{**args, "min_position": changed["position"]})
    assert ("Full", 4, 4, 50.0) in [(f["name"], f["free_hours"], f["covered_hours"], f["coverage_percent"])
                                    for f in found]
    with pytest.raises(ValidationError) as refused:
        rpc_.resource.find_available(**args, min_coverage_percent=101)
    assert "min_coverage_percent" in refused.value.errors
