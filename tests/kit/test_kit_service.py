"""KitService gives every service its feed, its status and one recording handler per declared source."""
from nameko.events import EventHandler
from nameko.rpc import Rpc

from services.notification.service import NotificationService
from services.timesheet.service import TimesheetService
from shared.entrypoints import KitService, event_handler
from shared.events import EventRegistry
from shared.kit import Chronicle


def entrypoints_of(cls, name):
    return list(getattr(getattr(cls, name), "nameko_entrypoints", ()))


def test_a_handler_per_source_with_the_queue_name_of_earlier_versions():
    for cls in (TimesheetService, NotificationService):
        for source in cls.chronicle.sources:
            [handler] = entrypoints_of(cls, f"on_{source}_event")
            assert isinstance(handler, EventHandler)
            assert (handler.source_service, handler.event_type) == (source, "#")
    assert set(NotificationService.chronicle.sources) == {"project", "timesheet", "resource"}


def test_the_feed_and_status_come_from_the_kit():
    for name in ("events_since", "status"):
        [entrypoint] = entrypoints_of(TimesheetService, name)
        assert isinstance(entrypoint, Rpc)
    assert "events_since" not in vars(TimesheetService)


def test_a_service_that_handles_a_source_itself_keeps_its_own_handler():
    class Own(KitService):
        name = "own"
        chronicle = Chronicle(categories=["own"], events=EventRegistry(), sources={"project": ["project"]})

        @event_handler("project", "ProjectCreated")
        def on_project_event(self, envelope):
            pass

    [handler] = entrypoints_of(Own, "on_project_event")
    assert handler.event_type == "ProjectCreated"
