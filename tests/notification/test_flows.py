"""Who is told what, fed by the real project, timesheet and resource services (one flow), with a real
SMTP server; then the notification read models, rebuilt from the store, equal the live ones."""
from collections import Counter

import pytest

from services.notification.service import NotificationService
from services.project.service import ProjectService
from services.resource.service import ResourceService
from services.timesheet.service import TimesheetService
from shared.testing import issue_token, rpc_proxy, running, service_config, wait_until
from tests.e2e.helpers import chronicle_of, dump_views, settled
from tests.notification.helpers import SmtpServer

pytestmark = pytest.mark.e2e


def test_the_real_services_events_tell_the_right_people(isolated_amqp_uri, tmp_path):
    smtp = SmtpServer(tmp_path / "maildir").start()
    config = service_config(isolated_amqp_uri, tmp_path / "data", SMTP_HOST="127.0.0.1", SMTP_PORT=smtp.port,
                            SMTP_FROM="chronicle@example.com", DELIVERY_POLL_INTERVAL=0.2,
                            REMINDER_CHECK_SECONDS=3600)
    try:
        with running(config, ProjectService, TimesheetService, ResourceService, NotificationService) as runner, \
                rpc_proxy(config) as rpc:
            manager = rpc.resource.register_resource(name="Mona Manager", email="mona@flow.example")
            dev = rpc.resource.register_resource(name="Dev Eloper", email="dev@flow.example")
            project = rpc.project.create_project(name="Quay", code="QUAY", manager_id=manager["id"],
                                                 budget_hours=20)
            rpc.project.assign_member(project_id=project["id"], employee_id=dev["id"], hourly_rate="1000.00")
            rpc.resource.book_resource(resource_id=dev["id"], project_id=project["id"], starts_on="2030-03-04",
                                       ends_on="2030-03-08", hours_per_day=8)  # 8 > 7.5 a day: overbooked
            rpc.timesheet.log_time(employee_id=dev["id"], project_id=project["id"], date="2030-03-04", hours=2)
            rpc.timesheet.submit_timesheet(employee_id=dev["id"], week="2030-W10")
            with rpc_proxy(config, token=issue_token(config, manager["id"], "manager")) as as_manager:
                as_manager.timesheet.reject_timesheet(employee_id=dev["id"], week="2030-W10",
                                                      reason="Tuesday is missing")
            for day in ("2030-03-11", "2030-03-12"):
                rpc.timesheet.log_time(employee_id=dev["id"], project_id=project["id"], date=day, hours=6)
            rpc.timesheet.submit_timesheet(employee_id=dev["id"], week="2030-W11")
            with rpc_proxy(config, token=issue_token(config, manager["id"], "manager")) as as_manager:
                as_manager.timesheet.approve_timesheet(employee_id=dev["id"], week="2030-W11")

            def kinds(user):
                return Counter(n["kind"] for n in rpc.notification.inbox(user_id=user["id"]))

            dev_expected = Counter(member_assigned=1, resource_overbooked=1, timesheet_rejected=1,
                                   timesheet_approved=1)
            # the project service's forecast watch: 40 h booked against a 20 h budget is one crossing (issue 17)
            manager_expected = Counter(timesheet_submitted=2, resource_overbooked=1, budget_threshold=1,
                                       forecast_over_budget=1)
            wait_until(lambda: kinds(dev) == dev_expected, timeout=30, message=f"dev told {dev_expected}")
            wait_until(lambda: kinds(manager) == manager_expected, timeout=30,
                       message=f"manager told {manager_expected}")

            inbox = {n["kind"]: n for n in rpc.notification.inbox(user_id=dev["id"])}
            assert inbox["member_assigned"]["title"] == "You were added to project Quay (QUAY)"
            assert "Reason: Tuesday is missing" in inbox["timesheet_rejected"]["body"]
            forecast = next(n for n in rpc.notification.inbox(user_id=manager["id"])
                            if n["kind"] == "forecast_over_budget")
            assert forecast["title"] == "Project Quay (QUAY) is forecast over its hours budget"
            budget = next(n for n in rpc.notification.inbox(user_id=manager["id"]) if n["kind"] == "budget_threshold")
            assert budget["title"] == "Project Quay (QUAY) reached 50% of its budget"
            submitted = [n for n in rpc.notification.inbox(user_id=manager["id"]) if n["kind"] == "timesheet_submitted"]
            assert {n["title"] for n in submitted} == {"Dev Eloper submitted the timesheet for 2030-W10",
                                                       "Dev Eloper submitted the timesheet for 2030-W11"}

            mails = wait_until(lambda: len(m := smtp.messages_to("dev@flow.example")) == 4 and m, timeout=20,
                               message="four e-mails to dev")
            assert "You were added to project Quay (QUAY)" in {m["Subject"] for m in mails}

            kit = chronicle_of(runner, "notification")
            def quiet():  # every e-mail sent (the manager's too) and every event seen: nothing changes now
                pending = kit.views.read(lambda db: db.execute(
                    "SELECT COUNT(*) FROM notifications WHERE email_status = 'pending'").fetchone()[0])
                return pending == 0 and settled(kit)

            wait_until(quiet, timeout=20, message="notification did not settle")
            live = dump_views(kit)
            kit.runner.rebuild()
            assert dump_views(kit) == live
    finally:
        smtp.stop()
