"""End to end over the real project service (issue 17): a project planned with a milestone, the project service's own
timer marks it missed (its clock fixed), and the notification service tells the owner and the manager. Real
containers of both on RabbitMQ; the resource and timesheet services are fakes built through their registries."""
import uuid

from services.notification.service import NotificationService
from services.project.service import ProjectService
from shared.testing import rpc_proxy, running, service_config, wait_until
from tests.notification.helpers import FakeResource, FakeTimesheet


def test_a_milestone_the_project_service_marks_missed_reaches_its_owner_and_manager(isolated_amqp_uri, tmp_path):
    config = service_config(isolated_amqp_uri, tmp_path, PROJECT_FIXED_NOW="2026-03-21T06:00:00Z",
                            MILESTONE_CHECK_SECONDS=0.3, REMINDER_FIXED_NOW="2026-03-21T06:00:00Z",
                            REMINDER_CHECK_SECONDS=3600)
    with running(config, ProjectService, NotificationService, FakeResource, FakeTimesheet), \
            rpc_proxy(config) as rpc:
        people = {}
        for name in ("Mona", "Olga"):
            rid = str(uuid.uuid4())
            rpc.resource.emit(stream=f"resource-{rid}", type="ResourceRegistered", data={
                "resource_id": rid, "name": name, "email": f"{name.lower()}@example.com",
                "weekly_capacity_hours": 37.5, "skills": [], "working_days": [1, 2, 3, 4, 5], "title": ""})
            people[name] = rid
        project = rpc.project.create_project(name="Harbour", code=f"P{uuid.uuid4().hex[:6]}",
                                             manager_id=people["Mona"])
        rpc.project.assign_member(project_id=project["id"], employee_id=people["Olga"])
        rpc.project.add_milestone(project_id=project["id"], name="Roof", due_on="2026-03-20",
                                  owner_id=people["Olga"])
        rpc.project.add_milestone(project_id=project["id"], name="Handover", due_on="2026-03-28",
                                  owner_id=people["Olga"])

        def kinds(person):
            return sorted((n["kind"], n["title"]) for n in rpc.notification.inbox(user_id=people[person])
                          if n["kind"].startswith("milestone"))

        expected = [("milestone_due", f"Milestone Handover of Harbour ({project['code']}) is due in 7 days"),
                    ("milestone_missed", f"Milestone Roof of Harbour ({project['code']}) was missed")]
        wait_until(lambda: kinds("Mona") == expected, timeout=20, message="the manager told")
        wait_until(lambda: kinds("Olga") == expected, timeout=20, message="the owner told")
