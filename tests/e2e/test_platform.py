"""The four real services together: one working week of a project, from staffing to approval, then every
read model of every service dropped and rebuilt from its own store must equal the live one."""
import pytest

from services.project.service import ProjectService
from services.resource.service import ResourceService
from services.timesheet.service import TimesheetService
from shared.testing import issue_token, rpc_proxy, running, service_config, wait_until
from tests.e2e.helpers import chronicle_of, dump_views, settled

pytestmark = pytest.mark.e2e

SERVICES = (ProjectService, TimesheetService, ResourceService)


def test_a_week_of_work_across_services_and_every_read_model_rebuilds(isolated_amqp_uri, tmp_path):
    config = service_config(isolated_amqp_uri, tmp_path)
    with running(config, *SERVICES) as runner, rpc_proxy(config) as rpc:
        # Chained commands across services, as fast as a client can send them: never refused for being quick.
        manager = rpc.resource.register_resource(name="Mona Manager", email="mona@platform.example")
        dev = rpc.resource.register_resource(name="Dev Eloper", email="dev@platform.example", skills=["python"])
        project = rpc.project.create_project(name="Quay", code="QUAY", manager_id=manager["id"], budget_hours=20)
        task = rpc.project.add_task(project_id=project["id"], name="Piling")
        rpc.project.assign_member(project_id=project["id"], employee_id=dev["id"], hourly_rate="1000.00")
        rpc.resource.book_resource(resource_id=dev["id"], project_id=project["id"], starts_on="2030-03-04",
                                   ends_on="2030-03-08", hours_per_day=8)  # 8 > 7.5: overbooked
        for day in ("2030-03-04", "2030-03-05"):
            rpc.timesheet.log_time(employee_id=dev["id"], project_id=project["id"], date=day, hours=6,
                                   task_id=task["id"])
        rpc.timesheet.submit_timesheet(employee_id=dev["id"], week="2030-W10")
        with rpc_proxy(config, token=issue_token(config, manager["id"], "manager")) as as_manager:
            as_manager.timesheet.approve_timesheet(employee_id=dev["id"], week="2030-W10")

        def progress():
            out = rpc.project.project_progress(project_id=project["id"])
            return out if out["approved_hours"] == 12 else None

        out = wait_until(progress, timeout=20, message="progress does not show the approved hours")
        assert out["percent_used"] == 60 and out["logged_amount"] == "12000.00"
        history = [h["type"] for h in rpc.project.history(project_id=project["id"])]
        assert history.count("BudgetThresholdReached") == 1  # 50 % crossed once
        # an event a reactor appended says why: caused by the recorded timesheet event, in its correlation
        project_store = chronicle_of(runner, "project").store
        [reached] = [e for e in project_store.read_stream(f"project-{project['id']}")
                     if e.type == "BudgetThresholdReached"]
        cause = next(e for e in project_store.read_all(0, limit=10_000) if e.id == reached.metadata["causation_id"])
        assert cause.type in ("TimeLogged", "TimesheetApproved") and cause.stream.startswith("project~timesheet-")
        assert reached.metadata["correlation_id"] == cause.metadata["correlation_id"]
        assert reached.metadata["actor"].startswith("reactor:")

        def utilised():
            rows = {r["resource_id"]: r for r in
                    rpc.resource.utilisation(from_date="2030-03-04", to_date="2030-03-08")["resources"]}
            return rows if rows[dev["id"]]["logged_hours"] == 12 else None

        assert wait_until(utilised, timeout=20)[dev["id"]]["booked_hours"] == 40

        # Replayable state: each service's read models, rebuilt from its own store, equal the live ones.
        for service in ("project", "timesheet", "resource"):
            kit = chronicle_of(runner, service)
            wait_until(lambda kit=kit: settled(kit), timeout=20, message=f"{service} did not settle")
            live = dump_views(kit)
            kit.runner.rebuild()
            rebuilt = dump_views(kit)
            assert rebuilt == live, f"{service}: rebuilt read models differ from the live ones"
            assert sum(len(rows) for rows in live.values()) > 0


def test_a_project_put_on_hold_takes_no_booking_issued_right_after(isolated_amqp_uri, tmp_path):
    from shared.errors import RuleViolation

    config = service_config(isolated_amqp_uri, tmp_path)
    with running(config, ProjectService, ResourceService), rpc_proxy(config) as rpc:
        manager = rpc.resource.register_resource(name="Mona", email="mona@hold.example")
        dev = rpc.resource.register_resource(name="Dev", email="dev@hold.example")
        for attempt in range(5):  # a stale read would let some of these through
            project = rpc.project.create_project(name=f"Hold {attempt}", code=f"HOLD-{attempt}",
                                                 manager_id=manager["id"])
            rpc.resource.book_resource(resource_id=dev["id"], project_id=project["id"], starts_on="2030-06-03",
                                       ends_on="2030-06-03", hours_per_day=1)
            rpc.project.change_status(project_id=project["id"], status="on_hold")
            with pytest.raises(RuleViolation):
                rpc.resource.book_resource(resource_id=dev["id"], project_id=project["id"], starts_on="2030-06-04",
                                           ends_on="2030-06-04", hours_per_day=1)
