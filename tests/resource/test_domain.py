"""Domain tests: given events, when a command, then the events it records. No I/O."""
import pytest

from services.resource.domain import (
    CapacityPeriod,
    EmailReservation,
    Resource,
    daily_capacity,
    day_loads,
    email_key,
    free_time,
    totals,
    utilisation,
)
from shared.errors import Conflict, NotFound, RuleViolation, ValidationError
from shared.testing import given, recorded, recorded_types

R = "r1"
P1, P2 = "p1", "p2"


def registered(weekly=37.5, working_days=(1, 2, 3, 4, 5)):
    return ("ResourceRegistered", {"resource_id": R, "name": "Ada", "email": "ada@example.com",
                                   "weekly_capacity_hours": weekly, "skills": ["python"],
                                   "working_days": list(working_days), "title": None})


def booked(booking_id, starts_on, ends_on, hours_per_day, project_id=P1, tentative=False):
    return ("ResourceBooked", {"resource_id": R, "booking_id": booking_id, "project_id": project_id,
                               "starts_on": starts_on, "ends_on": ends_on, "hours_per_day": hours_per_day,
                               "tentative": tentative})


def absent(absence_id, starts_on, ends_on, hours_per_day=None, kind="vacation"):
    return ("AbsenceRegistered", {"resource_id": R, "absence_id": absence_id, "starts_on": starts_on,
                                  "ends_on": ends_on, "kind": kind, "hours_per_day": hours_per_day})


# 2030-01-07 is a Monday.
def test_capacity_is_spread_over_working_days_only():
    r = given(Resource, R, registered())
    loads = r.loads("2030-01-07", "2030-01-13")
    assert [d.capacity for d in loads] == [750, 750, 750, 750, 750, 0, 0]
    assert totals(loads)["capacity"] == 37.5


def test_uneven_capacity_adds_up_exactly_over_the_week():
    periods = [CapacityPeriod(None, 4000, [1, 3, 5])]  # 40 h over three days
    from datetime import date, timedelta
    week = [daily_capacity(periods, date(2030, 1, 7) + timedelta(days=i)) for i in range(7)]
    assert week == [1333, 0, 1333, 0, 1334, 0, 0] and sum(week) == 4000


def test_partial_day_absence_reduces_capacity_and_whole_day_takes_it_all():
    r = given(Resource, R, registered(), absent("a1", "2030-01-07", "2030-01-08", hours_per_day=3),
              absent("a2", "2030-01-09", "2030-01-09"), absent("a3", "2030-01-12", "2030-01-12"))
    loads = r.loads("2030-01-07", "2030-01-12")
    assert [d.absence for d in loads] == [300, 300, 750, 0, 0, 0]  # weekend absences take nothing
    assert [d.free for d in loads] == [450, 450, 0, 750, 750, 0]


def test_overlapping_absences_never_exceed_the_day():
    r = given(Resource, R, registered(), absent("a1", "2030-01-07", "2030-01-07", hours_per_day=5),
              absent("a2", "2030-01-07", "2030-01-07", hours_per_day=5, kind="sick"))
    assert r.loads("2030-01-07", "2030-01-07")[0].absence == 750


def test_overlapping_bookings_add_up_and_tentative_is_shown_apart():
    r = given(Resource, R, registered(), booked("b1", "2030-01-07", "2030-01-09", 4),
              booked("b2", "2030-01-08", "2030-01-10", 3, project_id=P2),
              booked("b3", "2030-01-09", "2030-01-09", 2, tentative=True))
    loads = r.loads("2030-01-07", "2030-01-10")
    assert [d.booked for d in loads] == [400, 700, 700, 300]
    assert [d.tentative for d in loads] == [0, 0, 200, 0]
    assert [d.free for d in loads] == [350, 50, 0, 450]
    assert loads[1].project_ids == [P1, P2]


def test_a_range_spanning_a_capacity_change():
    r = given(Resource, R, registered(),
              ("ResourceUpdated", {"resource_id": R, "changes": {"weekly_capacity_hours": 20, "working_days": [1, 2]},
                                   "previous": {"weekly_capacity_hours": 37.5, "working_days": [1, 2, 3, 4, 5]},
                                   "effective_from": "2030-01-09"}))
    loads = r.loads("2030-01-07", "2030-01-15")
    assert [d.capacity for d in loads] == [750, 750, 0, 0, 0, 0, 0, 1000, 1000]
    assert totals(loads)["capacity"] == 35


def test_capacity_change_via_command_records_update_and_flags_overbooking():
    r = given(Resource, R, registered(), booked("b1", "2030-01-07", "2030-01-18", 7))
    r.update({"weekly_capacity": 2000}, "2030-01-14")
    types = recorded_types(r)
    assert types == ["ResourceUpdated", "ResourceOverbooked"]
    update, over = (data for _, data in recorded(r))
    assert update["changes"] == {"weekly_capacity_hours": 20} and update["effective_from"] == "2030-01-14"
    assert [d["date"] for d in over["days"]] == ["2030-01-14", "2030-01-15", "2030-01-16", "2030-01-17", "2030-01-18"]
    assert over["days"][0]["excess_hours"] == 3 and over["excess_hours"] == 15


def test_a_working_day_with_no_capacity_counts_its_bookings_all_as_excess():
    r = given(Resource, R, registered(weekly=0))
    r.book("b1", P1, "2030-01-07", "2030-01-07", 800)  # a Monday: a working day of 0 h
    (_, _), (over_type, over) = recorded(r)
    assert over_type == "ResourceOverbooked"
    assert over["days"] == [{"date": "2030-01-07", "capacity_hours": 0, "absence_hours": 0, "booked_hours": 8,
                             "excess_hours": 8, "project_ids": [P1]}]
    day = r.loads("2030-01-07", "2030-01-07")[0]
    assert (day.working, day.capacity, day.booked, day.free, day.excess) == (True, 0, 800, 0, 800)


def test_days_outside_working_days_still_count_nothing():
    r = given(Resource, R, registered(weekly=0), booked("b1", "2030-01-12", "2030-01-13", 8))  # a weekend
    loads = r.loads("2030-01-12", "2030-01-13")
    assert [(d.working, d.booked, d.excess) for d in loads] == [(False, 0, 0), (False, 0, 0)]


def test_capacity_cut_to_zero_flags_every_booked_day():
    r = given(Resource, R, registered(), booked("b1", "2030-01-07", "2030-01-11", 7))
    r.update({"weekly_capacity": 0}, "2030-01-07")
    assert recorded_types(r) == ["ResourceUpdated", "ResourceOverbooked"]
    over = recorded(r)[1][1]
    assert [(d["date"], d["capacity_hours"], d["excess_hours"]) for d in over["days"]] == [
        (f"2030-01-{day:02d}", 0, 7) for day in range(7, 12)]
    assert over["excess_hours"] == 35 and over["trigger"] == {"kind": "capacity", "id": None}
    assert totals(r.loads("2030-01-07", "2030-01-13"))["booked"] == 35


@pytest.mark.parametrize("weekly, working_days", [(3750, [1]), (3750, [1, 1, 1]), (16800, [1]), (4801, [1, 2])])
def test_registration_refuses_more_than_24_hours_a_day(weekly, working_days):
    r = given(Resource, R)
    with pytest.raises(ValidationError) as exc:
        r.register("Ada", "ada@example.com", weekly, [], working_days)
    assert set(exc.value.errors) == {"weekly_capacity_hours", "working_days"} and recorded(r) == []


def test_registration_allows_exactly_24_hours_a_day():
    r = given(Resource, R)
    r.register("Ada", "ada@example.com", 4800, [], [1, 2])
    assert [d.capacity for d in r.loads("2030-01-07", "2030-01-08")] == [2400, 2400]


def test_update_refuses_more_than_24_hours_a_day_with_the_capacity_in_effect_then():
    r = given(Resource, R, registered(),  # 37.5 h over Mon-Fri, then 20 h over Mon-Fri from 2030-01-14
              ("ResourceUpdated", {"resource_id": R, "changes": {"weekly_capacity_hours": 20},
                                   "previous": {"weekly_capacity_hours": 37.5}, "effective_from": "2030-01-14"}))
    with pytest.raises(ValidationError) as exc:
        r.update({"working_days": [1]}, "2030-01-07")  # 37.5 h on one day
    assert set(exc.value.errors) == {"working_days"}
    with pytest.raises(ValidationError) as exc:
        r.update({"weekly_capacity": 12001}, "2030-01-07")  # over five days
    assert set(exc.value.errors) == {"weekly_capacity_hours"}
    with pytest.raises(ValidationError) as exc:
        r.update({"weekly_capacity": 4900, "working_days": [1, 2]}, "2030-01-07")
    assert set(exc.value.errors) == {"weekly_capacity_hours", "working_days"}
    assert recorded(r) == []
    r.update({"working_days": [1]}, "2030-01-21")  # 20 h on one day, from when 20 h a week is in effect
    assert recorded(r)[0][1]["changes"] == {"working_days": [1]}


def test_capacity_change_needs_effective_from():
    r = given(Resource, R, registered())
    with pytest.raises(RuleViolation) as exc:
        r.update({"weekly_capacity": 2000}, None)
    assert exc.value.code == "resource.effective_from_missing" and not r.pending


def test_update_without_real_change_records_nothing():
    r = given(Resource, R, registered())
    r.update({"name": "Ada", "skills": ["python"]}, None)
    assert recorded(r) == []


def test_booking_over_capacity_is_allowed_but_flagged_with_days_and_excess():
    r = given(Resource, R, registered(), booked("b1", "2030-01-07", "2030-01-08", 5))
    r.book("b2", P2, "2030-01-08", "2030-01-09", 400)
    (_, booking), (_, over) = recorded(r)
    assert booking["hours_per_day"] == 4
    assert over["days"] == [{"date": "2030-01-08", "capacity_hours": 7.5, "absence_hours": 0, "booked_hours": 9,
                             "excess_hours": 1.5, "project_ids": [P1, P2]}]
    assert over["excess_hours"] == 1.5 and over["trigger"] == {"kind": "booking", "id": "b2"}


def test_booking_within_capacity_records_only_the_booking():
    r = given(Resource, R, registered())
    r.book("b1", P1, "2030-01-07", "2030-01-13", 750)
    assert recorded_types(r) == ["ResourceBooked"]


def test_tentative_booking_is_never_an_overbooking():
    r = given(Resource, R, registered(), booked("b1", "2030-01-07", "2030-01-07", 7.5))
    r.book("b2", P1, "2030-01-07", "2030-01-07", 400, tentative=True)
    assert recorded_types(r) == ["ResourceBooked"]


def test_absence_that_makes_bookings_exceed_capacity_is_flagged():
    r = given(Resource, R, registered(), booked("b1", "2030-01-07", "2030-01-11", 6))
    r.register_absence("a1", "2030-01-08", "2030-01-08", "sick", 300)
    (_, _), (_, over) = recorded(r)
    assert over["days"][0]["date"] == "2030-01-08" and over["days"][0]["excess_hours"] == 1.5
    assert over["trigger"] == {"kind": "absence", "id": "a1"}


def test_booking_needs_an_active_resource():
    with pytest.raises(NotFound):
        given(Resource, R).book("b1", P1, "2030-01-07", "2030-01-07", 100)
    r = given(Resource, R, registered(), ("ResourceDeactivated", {"resource_id": R, "cancelled_booking_ids": []}))
    with pytest.raises(RuleViolation) as exc:
        r.book("b1", P1, "2030-01-07", "2030-01-07", 100)
    assert exc.value.code == "resource.inactive"


def test_cancel_booking_and_absence():
    r = given(Resource, R, registered(), booked("b1", "2030-01-07", "2030-01-08", 5), absent("a1", "2030-01-07", "2030-01-07"))
    r.cancel_booking("b1", "client said no")
    r.cancel_absence("a1")
    assert recorded(r) == [
        ("BookingCancelled", {"resource_id": R, "booking_id": "b1", "project_id": P1, "reason": "client said no",
                              "cancelled_from": None}),
        ("AbsenceCancelled", {"resource_id": R, "absence_id": "a1"}),
    ]
    assert r.loads("2030-01-07", "2030-01-07")[0].free == 750
    with pytest.raises(Conflict):
        r.cancel_booking("b1")
    with pytest.raises(NotFound):
        r.cancel_booking("nope")


def test_deactivation_cancels_future_bookings_and_trims_the_running_one():
    r = given(Resource, R, registered(), booked("past", "2030-01-01", "2030-01-04", 2),
              booked("running", "2030-01-07", "2030-01-18", 2), booked("future", "2030-02-01", "2030-02-05", 2))
    r.deactivate(today="2030-01-09")
    events = recorded(r)
    assert [t for t, _ in events] == ["BookingCancelled", "BookingCancelled", "ResourceDeactivated"]
    assert events[0][1]["booking_id"] == "running" and events[0][1]["cancelled_from"] == "2030-01-10"
    assert events[1][1]["booking_id"] == "future" and events[1][1]["cancelled_from"] is None
    assert events[2][1]["cancelled_booking_ids"] == ["running", "future"]
    assert r.bookings["running"].ends_on == "2030-01-09" and r.bookings["running"].active
    assert not r.bookings["future"].active and r.bookings["past"].active


def test_project_ended_cancels_only_that_projects_later_bookings():
    r = given(Resource, R, registered(), booked("b1", "2030-01-07", "2030-01-18", 2),
              booked("b2", "2030-02-01", "2030-02-05", 2), booked("other", "2030-02-01", "2030-02-05", 2, project_id=P2),
              booked("done", "2030-01-01", "2030-01-03", 2))
    cancelled = r.project_ended(P1, "2030-01-10", "completed")
    assert cancelled == ["b1", "b2"]
    assert {d["reason"] for _, d in recorded(r)} == {"project completed"}
    assert r.bookings["b1"].ends_on == "2030-01-10"


def test_state_snapshot_round_trips():
    r = given(Resource, R, registered(), booked("b1", "2030-01-07", "2030-01-18", 2), absent("a1", "2030-01-07", "2030-01-07"))
    copy = Resource.from_state(R, r.to_state())
    assert copy.to_state() == r.to_state()
    assert [d.free for d in copy.loads("2030-01-07", "2030-01-09")] == [0, 550, 550]


# -- e-mail reservations (shared.reservations; its rules are tested in tests/kit/test_reservations.py) -------
TAKEN = Conflict("a@x.io is used by another resource", code="resource.email_taken")
RESERVED_BEFORE = ("EmailReserved", {"email": "a@x.io", "resource_id": "r1", "reserved_at": 1000.0})


def reserve(reservation, owner, now, holds):
    reservation.reserve(owner, now=now, data={"email": "a@x.io"}, holds=holds, taken=TAKEN)


def test_an_email_reserved_before_the_kits_reservations_is_still_held_by_its_resource():
    held = given(EmailReservation, email_key("a@x.io"), RESERVED_BEFORE)
    assert (held.owner, held.data) == ("r1", {"email": "a@x.io"})
    reserve(held, "r1", now=5000.0, holds=None)  # its own holder again: nothing recorded
    assert recorded(held) == []
    with pytest.raises(Conflict) as exc:
        reserve(held, "r2", now=5000.0, holds=True)  # r1 is active and carries the address
    assert exc.value.code == "resource.email_taken"
    with pytest.raises(Conflict):
        reserve(held, "r2", now=1010.0, holds=False)  # r1 may still be registering: the grace period
    reserve(held, "r2", now=2000.0, holds=False)  # a registration that never followed: taken over
    assert recorded_types(held) == ["KeyReleased", "KeyReserved"]


def test_an_email_released_before_the_kits_reservations_is_free():
    released = given(EmailReservation, email_key("a@x.io"), RESERVED_BEFORE,
                     ("EmailReleased", {"email": "a@x.io", "resource_id": "r1", "reason": "released"}))
    assert released.owner is None
    reserve(released, "r2", now=1001.0, holds=None)
    assert recorded_types(released) == ["KeyReserved"]


# -- planning figures ---------------------------------------------------------------------------------
def test_resource_as_of_today_shows_the_capacity_in_effect_that_day():
    r = given(Resource, R, registered(), ("ResourceUpdated", {
        "resource_id": R, "changes": {"weekly_capacity_hours": 30}, "previous": {"weekly_capacity_hours": 37.5},
        "effective_from": "2030-06-03"}))
    assert r.to_dict("2030-06-02")["weekly_capacity_hours"] == 37.5
    assert r.to_dict("2030-06-03")["weekly_capacity_hours"] == 30


def test_free_time_finds_who_has_the_skills_and_the_hours_each_working_day_most_free_first():
    ada = given(Resource, "ada", registered(), booked("b1", "2030-01-07", "2030-01-07", 5))
    bob = given(Resource, "bob", ("ResourceRegistered", {**registered()[1], "resource_id": "bob", "name": "Bob"}))
    eve = given(Resource, "eve", ("ResourceRegistered", {**registered()[1], "resource_id": "eve", "skills": ["go"]}))
    found = free_time([ada, bob, eve], ["python"], "2030-01-07", "2030-01-08", 200)
    assert [f.to_dict()["resource_id"] for f in found] == ["bob", "ada"]
    assert found[1].to_dict() | {"email": None} == {
        "resource_id": "ada", "name": "Ada", "email": None, "title": None, "skills": ["python"], "free_hours": 10,
        "min_free_hours_per_day": 2.5, "working_days": 2}
    assert free_time([ada, bob], ["python"], "2030-01-07", "2030-01-07", 300)[0].resource is bob
    assert free_time([ada], [], "2030-01-12", "2030-01-13", 100) == []  # a weekend: no working day


def test_utilisation_sets_logged_hours_against_capacity_and_bookings():
    ada = given(Resource, "ada", registered(), booked("b1", "2030-01-07", "2030-01-08", 4),
                absent("a1", "2030-01-09", "2030-01-09"))
    gone = given(Resource, "gone", registered(), ("ResourceDeactivated", {"resource_id": "gone",
                                                                         "cancelled_booking_ids": []}))
    [row] = utilisation([ada, gone], "2030-01-07", "2030-01-11", {"ada": (1500, 600)})
    assert row == {
        "resource_id": "ada", "name": "Ada", "active": True, "capacity_hours": 37.5, "absence_hours": 7.5,
        "available_hours": 30, "booked_hours": 8, "tentative_hours": 0, "logged_hours": 15, "billable_hours": 6,
        "utilisation": 0.5, "billable_utilisation": 0.2, "booking_accuracy": 1.875}
    assert [r["resource_id"] for r in utilisation([gone], "2030-01-07", "2030-01-11", {}, named=True)] == ["gone"]
    assert utilisation([gone], "2030-01-07", "2030-01-11", {"gone": (100, 0)})[0]["utilisation"] == 0.0267


def test_day_loads_is_pure_over_plain_values():
    loads = day_loads([CapacityPeriod(None, 3750, [1, 2, 3, 4, 5])], [], [], "2030-01-07", "2030-01-07")
    assert loads[0].to_dict() == {"date": "2030-01-07", "capacity": 7.5, "absence": 0, "booked": 0, "tentative": 0,
                                  "free": 7.5, "excess": 0}


# -- the last representable day (9999-12-31, a Friday) ------------------------------------------
def test_a_range_ending_on_9999_12_31_stops_on_its_last_day():
    r = given(Resource, R, registered())
    loads = r.loads("9999-12-30", "9999-12-31")
    assert [(d.date, d.capacity) for d in loads] == [("9999-12-30", 750), ("9999-12-31", 750)]
    assert totals(loads)["capacity"] == 15


def test_booking_and_absence_on_9999_12_31_are_recorded_and_flagged():
    r = given(Resource, R, registered())
    r.book("b1", P1, "9999-12-31", "9999-12-31", 700)
    r.register_absence("a1", "9999-12-31", "9999-12-31", "vacation")
    assert recorded_types(r) == ["ResourceBooked", "AbsenceRegistered", "ResourceOverbooked"]
    assert recorded(r)[-1][1]["days"][0]["date"] == "9999-12-31"


def test_a_project_ended_on_9999_12_31_cancels_nothing():
    r = given(Resource, R, registered(), booked("b1", "9999-12-01", "9999-12-31", 2))
    assert r.project_ended(P1, "9999-12-31", "completed") == []
    assert recorded(r) == [] and r.bookings["b1"].active


# -- a capacity change walks only the booked days ----------------------------------------------
def test_a_capacity_change_from_long_ago_walks_only_the_booked_days(monkeypatch):
    import services.resource.domain as domain

    walked = []
    real = domain.day_loads

    def counting(periods, bookings, absences, start, end):
        loads = real(periods, bookings, absences, start, end)
        walked.extend(loads)
        return loads

    monkeypatch.setattr(domain, "day_loads", counting)
    r = given(Resource, R, registered(), booked("b1", "2030-01-07", "2030-01-11", 7),
              booked("b2", "2030-01-09", "2030-01-10", 1, project_id=P2), booked("b3", "2090-01-02", "2090-01-02", 7),
              booked("t", "2050-01-03", "2050-01-03", 7, tentative=True), absent("a1", "2040-01-02", "2040-01-02"))
    r.update({"weekly_capacity": 3000}, "2000-01-01")
    assert len(walked) == 2 * (5 + 1)  # before and after, over the two booked stretches only
    over = recorded(r)[1][1]
    assert [d["date"] for d in over["days"]] == [
        "2030-01-07", "2030-01-08", "2030-01-09", "2030-01-10", "2030-01-11", "2090-01-02"]
    assert over["excess_hours"] == 8  # 30 h a week is 6 h a day: 1 h over on six days, 2 h on the two with b2
