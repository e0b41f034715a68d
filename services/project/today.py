"""The project service's calendar: "today" for the forecast and health (and the plan's timers), read once per call.
``PROJECT_FIXED_TODAY`` (YYYY-MM-DD, for tests and demos) fixes it; otherwise it is today's date in UTC."""
from __future__ import annotations

from datetime import date, datetime, timezone

from nameko.extensions import DependencyProvider

from shared import config as cfg


class Today(DependencyProvider):
    """``self.today()``: the calendar's date (a ``datetime.date``)."""

    def get_dependency(self, worker_ctx):
        fixed = cfg._get(self.container.config, "PROJECT_FIXED_TODAY")
        fixed = date.fromisoformat(str(fixed)) if fixed else None

        def today() -> date:
            return fixed or datetime.now(timezone.utc).date()

        return today
