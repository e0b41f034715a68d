"""The notification service's own nameko extensions: its clock and the reminder timer (``shared.clock``, set to its
config keys), and the start-up check of ``LINK_PATTERN``."""
from __future__ import annotations

from nameko.extensions import DependencyProvider

from shared import clock
from shared import config as cfg

from .reactors import check_link_pattern


class ConfiguredTimer(clock.ConfiguredTimer):
    """The reminder timer: its interval comes from config (``REMINDER_CHECK_SECONDS``), default 60 s."""

    def __init__(self, interval, setting="REMINDER_CHECK_SECONDS", **kwargs):
        super().__init__(interval, setting=setting, **kwargs)


Now = clock.Now


class Clock(clock.Clock):
    """The shared clock (``shared.clock``); ``REMINDER_FIXED_NOW`` (ISO datetime, for tests) fixes the calendar's."""

    def __init__(self, fixed="REMINDER_FIXED_NOW", **kwargs):
        super().__init__(fixed=fixed, **kwargs)


class LinkPattern(DependencyProvider):
    """Checks ``LINK_PATTERN`` when the container starts: a pattern that cannot render fails fast,
    rather than every notification going out without its link."""

    def setup(self):
        check_link_pattern(cfg._get(self.container.config, "LINK_PATTERN"))
