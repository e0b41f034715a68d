"""The forecast watch and ``project_forecast`` agree on "today" when the service's calendar is fixed
(``PROJECT_FIXED_NOW``, tests and demos): a day booked before the fixed today is past for both, so the watch records
the crossing ``project_forecast`` shows, with the same forecast. Found by the planning flow (tests/e2e), where the
watch took the real date of each event as today and counted a booked week already worked as still ahead."""
import uuid

from services.project.service import ProjectService
from shared.testing import rpc_proxy, running, service_config, wait_until

from .conftest import Env, FakeResource, FakeTimesheet


def test_the_watch_measures_against_the_services_fixed_today(isolated_amqp_uri, tmp_path):
    config = service_config(isolated_amqp_uri, tmp_path, PROJECT_FIXED_NOW="2030-03-24T12:00:00Z")
    with running(config, ProjectService, FakeResource, FakeTimesheet) as runner, rpc_proxy(config) as rpc:
        env = Env(config, rpc, tmp_path, runner)
        project = env.project(budget_hours=10)
        pid, ann = project["id"], env.resource()
        # 40 h booked in the week before the fixed today: worked already, nothing of it ahead
        rpc.resource.emit(stream=f"resource-{ann}", type="ResourceBooked", data={
            "resource_id": ann, "booking_id": str(uuid.uuid4()), "project_id": pid, "starts_on": "2030-03-18",
            "ends_on": "2030-03-22", "hours_per_day": 8, "tentative": False})
        rpc.timesheet.emit(stream=f"timesheet-{ann}_2030W12", type="TimeLogged", data={
            "entry_id": str(uuid.uuid4()), "employee_id": ann, "week": "2030-W12", "project_id": pid,
            "task_id": None, "date": "2030-03-18", "hours": 12, "billable": True, "description": ""})

        def crossings():
            return [(e["type"], e["data"]["forecast"]) for e in rpc.project.history(project_id=pid)
                    if e["type"] in ("ForecastOverBudget", "ForecastBackWithinBudget")]

        got = wait_until(crossings, timeout=20, message="no crossing recorded")
        assert got == [("ForecastOverBudget", "12.00")]  # the 12 h logged, not 40 h booked "ahead" (or 52 h)
        forecast = rpc.project.project_forecast(project_id=pid)
        assert (forecast["today"], forecast["planned_hours"], forecast["eac_hours"]) == ("2030-03-24", 0, 12)
