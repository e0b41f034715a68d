"""The forecast arithmetic (services/project/forecast.py), with no I/O: actuals, bookings, absences, rounding,
phases, burn, health, and the watch's crossings as given/when/then on the project's events."""
from datetime import date
from decimal import Decimal

from hypothesis import given as hypothesis_given
from hypothesis import strategies as st

from services.project import forecast as fc
from services.project.events import events as registry
from services.project.forecast import Absence, Booking, Calendar, Entry, Facts, ForecastWatch, Phase
from shared.testing import given, recorded

PID = "11111111-1111-1111-1111-111111111111"
MANAGER = "22222222-2222-2222-2222-222222222222"
ANN, BOB = "ann", "bob"
TODAY = date(2026, 11, 25)  # a Wednesday: week 2026-W48 runs 23 to 29 November


def booking(resource=ANN, starts="2026-11-26", ends="2026-12-04", per_day=400, tentative=False, task=None, bid=None):
    return Booking(bid or f"b-{resource}-{starts}-{per_day}", resource, starts, ends, per_day, tentative, task)


def week_of_ann(weekly=3750, working=(1, 2, 3, 4, 5)):
    return {ANN: [Calendar(None, weekly, working)]}


# -- planned hours ----------------------------------------------------------------------------------
def test_bookings_plan_their_hours_on_working_days_only():
    facts = Facts(bookings=[booking(starts="2026-11-27", ends="2026-12-01")])  # Fri, Sat, Sun, Mon, Tue
    assert [(p.day, p.centi) for p in fc.planned(facts)] == [
        ("2026-11-27", 400), ("2026-11-30", 400), ("2026-12-01", 400)]


def test_a_persons_own_working_days_count():
    facts = Facts(bookings=[booking(starts="2026-11-23", ends="2026-11-29")], calendars=week_of_ann(working=(1, 3)))
    assert [p.day for p in fc.planned(facts)] == ["2026-11-23", "2026-11-25"]


def test_a_whole_day_absence_takes_the_day_and_a_partial_one_what_it_leaves_of_the_capacity():
    facts = Facts(bookings=[booking(starts="2026-11-30", ends="2026-12-02", per_day=750)],
                  absences=[Absence(ANN, "2026-11-30", "2026-11-30", None), Absence(ANN, "2026-12-01", "2026-12-01", 200)],
                  calendars=week_of_ann())
    assert [(p.day, p.centi) for p in fc.planned(facts)] == [("2026-12-01", 550), ("2026-12-02", 750)]


def test_a_partial_absence_leaves_a_short_booking_whole_and_takes_tentative_hours_first():
    facts = Facts(bookings=[booking(per_day=300, starts="2026-12-01", ends="2026-12-01", bid="confirmed"),
                            booking(per_day=300, starts="2026-12-01", ends="2026-12-01", tentative=True,
                                    bid="tentative")],
                  absences=[Absence(ANN, "2026-12-01", "2026-12-01", 300)], calendars=week_of_ann())
    assert [(p.booking_id, p.centi) for p in fc.planned(facts)] == [("confirmed", 300), ("tentative", 150)]


def test_an_absence_of_someone_whose_calendar_is_unknown_takes_it_from_the_booked_hours():
    facts = Facts(bookings=[booking(per_day=600, starts="2026-12-01", ends="2026-12-01")],
                  absences=[Absence(ANN, "2026-12-01", "2026-12-01", 200), Absence(BOB, "2026-12-01", "2026-12-01", None)])
    assert [p.centi for p in fc.planned(facts)] == [400]


# -- the forecast -----------------------------------------------------------------------------------
def test_forecast_is_actuals_plus_the_bookings_ahead_against_the_budget():
    rates = {ANN: Decimal("1000.00"), BOB: Decimal("850.50")}
    facts = Facts(budget_centi=4000, budget_amount=Decimal("40000.00"),
                  entries=[Entry(ANN, "2026-11-23", 750), Entry(BOB, "2026-11-25", 125)],
                  bookings=[booking(starts="2026-11-23", ends="2026-12-04", per_day=400),  # 7 working days ahead
                            booking(BOB, starts="2026-11-30", ends="2026-11-30", per_day=800, tentative=True)],
                  rate=lambda person, day, task: rates.get(person))
    got = fc.forecast(facts, TODAY)
    assert (got["actual_centi"], got["planned_centi"], got["tentative_centi"]) == (875, 3600, 800)
    assert (got["eac_centi"], got["variance_centi"]) == (4475, -475)
    # 7.5 x 1000 + 1.25 x 850.50 (1063.125 -> 1063.13: each entry rounded half up to cents, as progress prices it)
    assert got["actual_amount"] == Decimal("8563.13") and got["planned_amount"] == Decimal("34804.00")
    assert got["eac_amount"] == Decimal("43367.13")  # 28 x 1000 + 8 x 850.50 ahead
    assert got["variance_amount"] == Decimal("-3367.13")
    assert fc.measures(got) == [(None, "hours", Decimal("44.75"), Decimal("40")),
                                (None, "money", Decimal("43367.13"), Decimal("40000.00"))]


def test_hours_without_a_rate_are_not_priced_and_say_so():
    facts = Facts(entries=[Entry(ANN, "2026-11-23", 100), Entry(BOB, "2026-11-23", 250)],
                  rate=lambda person, day, task: Decimal("100") if person == ANN else None)
    got = fc.forecast(facts, TODAY)
    assert (got["actual_amount"], got["unpriced_centi"]) == (Decimal("100"), 250)
    assert fc.forecast(Facts(entries=[Entry(BOB, "2026-11-23", 250)]), TODAY)["eac_amount"] is None


def test_non_billable_hours_add_no_money_entries_say_so_themselves_bookings_by_their_task_or_the_project():
    rates = lambda person, day, task: Decimal("100") if day < "2026-12-01" else Decimal("200")  # noqa: E731
    facts = Facts(billable=False, task_billable={"t-billable": True},
                  entries=[Entry(ANN, "2026-11-23", 100), Entry(ANN, "2026-11-23", 100, "t-billable"),
                           Entry(ANN, "2026-11-24", 300, "t-billable", billable=False)],
                  bookings=[booking(starts="2026-11-30", ends="2026-12-01", per_day=100, task="t-billable"),
                            booking(starts="2026-11-30", ends="2026-11-30", per_day=500, bid="no-task")],
                  rate=rates)
    got = fc.forecast(facts, TODAY)
    assert (got["actual_centi"], got["actual_amount"]) == (500, Decimal("200.00"))  # as the timesheet marked them
    assert (got["planned_centi"], got["planned_amount"]) == (700, Decimal("300.00"))  # 1 h at 100, 1 h at 200
    assert got["unpriced_centi"] == 0


def test_money_rounds_half_up_to_cents():
    facts = Facts(entries=[Entry(ANN, "2026-11-23", 1)], rate=lambda person, day, task: Decimal("0.50"))  # 0.005
    assert fc.money(fc.forecast(facts, TODAY)["eac_amount"]) == "0.01"
    assert fc.money(Decimal("2.675")) == "2.68" and fc.hours_text(11250) == "112.50"


def test_per_phase_by_task_else_by_date():
    facts = Facts(
        phases=[Phase("design", "Design", "2026-11-01", "2026-11-30", 1000, None, 0),
                Phase("build", "Build", "2026-12-01", "2026-12-31", 2000, Decimal("100.00"), 1)],
        task_phases={"t-build": "build"},
        entries=[Entry(ANN, "2026-11-23", 300), Entry(ANN, "2026-11-24", 200, task_id="t-build"),
                 Entry(ANN, "2027-01-05", 100)],
        bookings=[booking(starts="2026-11-30", ends="2026-12-01", per_day=400)])
    got = fc.forecast(facts, TODAY)
    design, build = got["phases"]
    assert (design["actual_centi"], design["planned_centi"], design["variance_centi"]) == (300, 400, 300)
    assert (build["actual_centi"], build["planned_centi"], build["variance_centi"]) == (200, 400, 1400)
    assert got["unphased"]["actual_centi"] == 100 and got["eac_centi"] == 1400


@hypothesis_given(st.lists(st.tuples(st.sampled_from([ANN, BOB]), st.integers(0, 27), st.integers(1, 1200)),
                           max_size=20),
                  st.lists(st.tuples(st.integers(0, 27), st.integers(0, 10), st.integers(25, 800)), max_size=6))
def test_the_estimate_is_the_sum_of_its_phases_and_of_what_is_logged_and_booked(logged, booked):
    first = date(2026, 11, 9)
    entries = [Entry(p, (first + fc.timedelta(days=d)).isoformat(), c) for p, d, c in logged]
    bookings = [booking(starts=(first + fc.timedelta(days=d)).isoformat(),
                        ends=(first + fc.timedelta(days=d + n)).isoformat(), per_day=c, bid=f"b{i}")
                for i, (d, n, c) in enumerate(booked)]
    facts = Facts(entries=entries, bookings=bookings,
                  phases=[Phase("a", "A", "2026-11-01", "2026-11-20", None, None, 0),
                          Phase("b", "B", "2026-11-21", "2026-12-31", None, None, 1)])
    got = fc.forecast(facts, TODAY)
    assert got["eac_centi"] == sum(c for _, _, c in logged) + sum(
        p.centi for p in fc.planned(facts) if p.day > TODAY.isoformat())
    assert got["eac_centi"] == sum(p["eac_centi"] for p in got["phases"]) + got["unphased"]["eac_centi"]


# -- burn -------------------------------------------------------------------------------------------
def test_burn_by_week_cumulates_actual_and_planned_and_forecasts_from_today():
    facts = Facts(budget_centi=4000, starts_on="2026-11-16", ends_on="2026-12-06",
                  entries=[Entry(ANN, "2026-11-17", 800), Entry(ANN, "2026-11-24", 600)],
                  bookings=[booking(starts="2026-11-16", ends="2026-12-04", per_day=200)])
    rows = fc.burn(facts, TODAY, "week")
    assert [r["period"] for r in rows] == ["2026-W47", "2026-W48", "2026-W49"]
    assert [(r["actual_centi"], r["planned_centi"]) for r in rows] == [(800, 1000), (600, 1000), (0, 1000)]
    assert [r["cumulative_actual_centi"] for r in rows] == [800, 1400, 1400]
    assert [r["cumulative_planned_centi"] for r in rows] == [1000, 2000, 3000]
    assert [r["forecast_centi"] for r in rows] == [800, 1400 + 400, 1400 + 400 + 1000]  # Thu and Fri of W48
    assert [r["burn_percent"] for r in rows] == [20.0, 35.0, 35.0]
    assert rows[0]["actual_amount"] is None


def test_burn_by_month():
    facts = Facts(entries=[Entry(ANN, "2026-11-30", 100), Entry(ANN, "2027-01-02", 100)],
                  rate=lambda person, day, task: Decimal("10"))
    rows = fc.burn(facts, TODAY, "month")
    assert [(r["period"], r["starts_on"], r["ends_on"]) for r in rows] == [
        ("2026-11", "2026-11-01", "2026-11-30"), ("2026-12", "2026-12-01", "2026-12-31"),
        ("2027-01", "2027-01-01", "2027-01-31")]
    assert [r["cumulative_actual_amount"] for r in rows] == [Decimal("10"), Decimal("10"), Decimal("20")]


# -- health -----------------------------------------------------------------------------------------
def test_schedule_is_red_for_a_missed_milestone_amber_for_one_due_within_a_week():
    due = lambda d, s="open": {"name": f"M{d}", "due_on": d, "status": s}  # noqa: E731
    assert fc.schedule_health([due("2026-11-24")], TODAY)["status"] == "red"  # open past its date
    assert fc.schedule_health([due("2026-11-30", "missed")], TODAY)["status"] == "red"
    assert fc.schedule_health([due("2026-12-02")], TODAY) == {
        "status": "amber", "reason": "1 open milestone(s) due within 7 days: M2026-12-02 (due 2026-12-02)"}
    assert fc.schedule_health([due("2026-12-03"), due("2026-11-20", "done")], TODAY)["status"] == "green"


def test_budget_is_red_over_amber_from_90_percent():
    facts = Facts(budget_centi=1000, entries=[Entry(ANN, "2026-11-23", 900)])
    assert fc.budget_health(fc.forecast(facts, TODAY))["status"] == "amber"
    facts.entries.append(Entry(ANN, "2026-11-24", 101))
    assert fc.budget_health(fc.forecast(facts, TODAY)) == {
        "status": "red", "reason": "forecast over budget: the project: forecast 10.01 h against a budget of 10.00 h"}
    assert fc.budget_health(fc.forecast(Facts(), TODAY)) == {"status": "green", "reason": "no budget set"}


def test_staffing_counts_the_unbooked_weeks_up_to_the_end():
    facts = Facts(ends_on="2026-12-13", bookings=[booking(starts="2026-11-30", ends="2026-12-04")])
    assert fc.staffing_health(facts, TODAY) == {
        "status": "amber", "reason": "2 of 3 weeks up to 2026-12-13 unbooked: 2026-W48, 2026-W50"}
    assert fc.staffing_health(Facts(ends_on="2026-12-13"), TODAY)["status"] == "red"
    assert fc.staffing_health(Facts(), TODAY)["status"] == "green"


def test_approvals_wait_in_working_days():
    assert fc.working_days_between(date(2026, 11, 20), TODAY) == 3  # Fri -> Mon, Tue, Wed
    waiting = [{"employee_id": ANN, "week": "2026-W47", "submitted_on": "2026-11-20"}]
    assert fc.approvals_health(waiting, TODAY)["status"] == "green"
    assert fc.approvals_health(waiting, TODAY, waiting_days=2)["status"] == "amber"
    assert fc.approvals_health(waiting, TODAY, waiting_days=1) == {
        "status": "red", "reason": "1 week(s) waiting more than 1 working days for approval: 2026-W47 of ann (3 days)"}


# -- the watch: once per crossing -------------------------------------------------------------------
CREATED = ("ProjectCreated", dict(project_id=PID, name="Harbour", code="HB-1", manager_id=MANAGER, customer=None,
                                  starts_on=None, ends_on=None, billable=True, budget_hours=100,
                                  budget_amount=None, currency="NOK", hourly_rate=None))


def crossing(kind, forecast="101.00", phase_id=None, budget="hours"):
    return (kind, dict(project_id=PID, phase_id=phase_id, budget=budget, forecast=forecast, budget_value="100.00",
                       manager_id=MANAGER))


def test_a_forecast_over_budget_is_recorded_once_per_crossing():
    watch = given(ForecastWatch, PID, CREATED)
    watch.note_forecast([(None, "hours", Decimal("101"), Decimal("100"))])
    assert recorded(watch) == [crossing("ForecastOverBudget")]
    for event_type, data in recorded(watch):
        registry.validate(event_type, data)

    still_over = given(ForecastWatch, PID, CREATED, crossing("ForecastOverBudget"))
    still_over.note_forecast([(None, "hours", Decimal("120"), Decimal("100"))])
    assert recorded(still_over) == []

    back = given(ForecastWatch, PID, CREATED, crossing("ForecastOverBudget"))
    back.note_forecast([(None, "hours", Decimal("100"), Decimal("100"))])
    assert recorded(back) == [crossing("ForecastBackWithinBudget", forecast="100.00")]

    again = given(ForecastWatch, PID, CREATED, crossing("ForecastOverBudget"), crossing("ForecastBackWithinBudget"))
    again.note_forecast([(None, "hours", Decimal("100.01"), Decimal("100")),
                         ("phase-1", "money", Decimal("5"), Decimal("4.99"))])
    assert recorded(again) == [crossing("ForecastOverBudget", forecast="100.01"),
                               ("ForecastOverBudget", dict(project_id=PID, phase_id="phase-1", budget="money",
                                                           forecast="5.00", budget_value="4.99",
                                                           manager_id=MANAGER))]


def test_the_watch_records_nothing_for_a_project_it_does_not_know():
    watch = given(ForecastWatch, PID)
    watch.note_forecast([(None, "hours", Decimal("101"), Decimal("100"))])
    assert recorded(watch) == []


def test_staffing_leaves_out_a_rest_of_the_week_with_no_working_day():
    # found by the planning flow (tests/e2e): on a Friday, the weekend left of the week is no week to staff
    friday = date(2026, 11, 27)
    facts = Facts(ends_on="2026-12-13", bookings=[booking(starts="2026-11-30", ends="2026-12-11")])
    assert fc.staffing_health(facts, friday) == {"status": "green", "reason": "every week up to 2026-12-13 is booked"}
    # someone on the project works Saturdays: that Saturday is a day to staff
    saturdays = Facts(ends_on="2026-12-13", bookings=facts.bookings, calendars=week_of_ann(working=(1, 2, 3, 4, 5, 6)))
    assert fc.staffing_health(saturdays, friday) == {
        "status": "amber", "reason": "1 of 3 weeks up to 2026-12-13 unbooked: 2026-W48"}
    # the project ends on the Sunday: no working day left ahead
    assert fc.staffing_health(Facts(ends_on="2026-11-29"), friday) == {
        "status": "green", "reason": "no working day left up to 2026-11-29: no weeks ahead to staff"}
