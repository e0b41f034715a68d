"""A service's clock and its configured timer, as nameko extensions (the notification service's reminders and the
project service's milestone check use them).

``Clock(fixed=KEY)``: ``self.clock()`` is the time in UTC, read once per call, as ``Now(wall, calendar)``: ``wall``
is when things happen (recorded on events), ``calendar`` the service's today, which config ``KEY`` (an ISO datetime,
for tests) fixes. ``ConfiguredTimer.decorator(interval=60, setting=KEY)``: a nameko timer whose interval in seconds
comes from config ``KEY`` when set."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from nameko.extensions import DependencyProvider
from nameko.timer import Timer

from shared import config as cfg


class ConfiguredTimer(Timer):
    """A timer whose interval comes from config (``setting``), else the ``interval`` given."""

    def __init__(self, interval, setting=None, **kwargs):
        self.setting = setting
        super().__init__(interval, **kwargs)

    def setup(self):
        if self.setting:
            self.interval = cfg.number(self.container.config, self.setting, self.interval)


@dataclass(frozen=True)
class Now:
    wall: datetime  # when things happen: recorded on events
    calendar: datetime  # the service's today (fixed by config in tests)


def fixed_moment(value) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


class Clock(DependencyProvider):
    """The time in UTC, read once per call (``self.clock()``); config ``fixed`` (an ISO datetime) fixes the
    calendar's."""

    def __init__(self, fixed=None, **kwargs):
        self.fixed = fixed
        super().__init__(**kwargs)

    def get_dependency(self, worker_ctx):
        fixed = fixed_moment(cfg._get(self.container.config, self.fixed)) if self.fixed else None

        def now():
            wall = datetime.now(timezone.utc)
            return Now(wall=wall, calendar=fixed or wall)

        return now
