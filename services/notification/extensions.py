"""The notification service's own nameko extensions: its clock, the reminder timer's interval and the start-up
check of ``LINK_PATTERN``."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from nameko.extensions import DependencyProvider
from nameko.timer import Timer

from shared import config as cfg

from .reactors import check_link_pattern


class ConfiguredTimer(Timer):
    """A timer whose interval comes from config (``REMINDER_CHECK_SECONDS``), default 60 s."""

    def setup(self):
        self.interval = cfg.number(self.container.config, "REMINDER_CHECK_SECONDS", self.interval)


@dataclass(frozen=True)
class Now:
    wall: datetime  # when things happen: recorded on events
    calendar: datetime  # the reminders' (and ``person``'s) today and whether a week is over


class Clock(DependencyProvider):
    """The time in UTC, read once per call (``self.clock()``). ``REMINDER_FIXED_NOW`` (ISO datetime, for tests)
    fixes the calendar's."""

    def get_dependency(self, worker_ctx):
        fixed = cfg._get(self.container.config, "REMINDER_FIXED_NOW")
        if fixed:
            moment = datetime.fromisoformat(str(fixed).replace("Z", "+00:00"))
            fixed = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)

        def now():
            wall = datetime.now(timezone.utc)
            return Now(wall=wall, calendar=fixed or wall)

        return now


class LinkPattern(DependencyProvider):
    """Checks ``LINK_PATTERN`` when the container starts: a pattern that cannot render fails fast,
    rather than every notification going out without its link."""

    def setup(self):
        check_link_pattern(cfg._get(self.container.config, "LINK_PATTERN"))
