"""The platform of the timesheet's role table (real project and timesheet services, the people of each role)."""
from tests.timesheet.test_roles import platform  # noqa: F401
