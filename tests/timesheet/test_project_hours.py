"""``project_hours`` sums in SQLite per employee, task, approval and billability: over random sequences of commands
(the delta property's world) it gives exactly what adding up the project's entries one by one gives."""
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.timesheet import views
from shared.validation import hours

from .test_delta_property import OPS, P, World


def one_by_one(db, project_id, from_date, to_date) -> dict:
    total = approved = billable = 0
    by_employee, by_task = {}, {}
    for r in db.execute("SELECT e.employee_id, e.task_id, t.name, e.hours, e.billable, e.status, e.date"
                        " FROM ts_entries e LEFT JOIN ts_tasks t ON t.project_id = e.project_id"
                        " AND t.task_id = e.task_id WHERE e.deleted = 0 AND e.project_id = ?", (project_id,)):
        employee_id, task_id, task_name, centis, is_billable, status, day = r
        if (from_date and day < from_date) or (to_date and day > to_date):
            continue
        ok = status == "approved"
        total, approved, billable = total + centis, approved + centis * ok, billable + centis * bool(is_billable)
        emp = by_employee.setdefault(employee_id, [0, 0, 0])
        task = by_task.setdefault(task_id, [task_name, 0, 0])
        emp[0], emp[1], emp[2] = emp[0] + centis, emp[1] + centis * ok, emp[2] + centis * bool(is_billable)
        task[1], task[2] = task[1] + centis, task[2] + centis * ok
    return {
        "project_id": project_id, "from_date": from_date, "to_date": to_date,
        "total_hours": hours(total), "approved_hours": hours(approved), "billable_hours": hours(billable),
        "by_employee": [{"employee_id": k, "hours": hours(v[0]), "approved_hours": hours(v[1]),
                         "billable_hours": hours(v[2])} for k, v in sorted(by_employee.items())],
        "by_task": [{"task_id": k, "task_name": v[0], "hours": hours(v[1]), "approved_hours": hours(v[2])}
                    for k, v in sorted(by_task.items(), key=lambda kv: (kv[0] is None, kv[0] or ""))],
    }


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(OPS, max_size=40),
       window=st.sampled_from(((None, None), ("2026-02-26", None), (None, "2026-03-01"), ("2026-02-28", "2026-03-02"))))
def test_project_hours_are_the_entries_added_up_one_by_one(ops, window):
    world = World()
    for op in ops:
        if op[0] != "pull":
            world.apply(op)
    assert views.project_hours(world.db, P, *window) == one_by_one(world.db, P, *window)
