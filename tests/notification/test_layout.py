"""Where the notification service's code lives (issue 10): the service module only declares entrypoints; the
SQL sits in views.py beside the read models; nothing reaches past the kit handle's public face."""
import inspect
import re

import services.notification.courier as courier
import services.notification.handlers as handlers
import services.notification.reactors as reactors
import services.notification.service as service

# The kit's parts behind the handle: a service that reaches them depends on how the kit is built.
KIT_INTERNALS = re.compile(r"\bkit\.(store|views|runner|registry|config|consumer|reactors|relay|state)\b|chronicle\.kit\b")


def test_no_sql_and_no_wall_clock_reads_in_the_service_module():
    source = inspect.getsource(service)
    assert not re.search(r"\b(SELECT|INSERT|UPDATE)\b", source)
    assert "db.execute" not in source
    assert not re.search(r"\b(datetime\.now|date\.today|time\.time)\(", source)  # the clock is a dependency


def test_the_service_reactor_courier_and_handlers_use_only_the_kit_handle():
    for module in (service, handlers, reactors, courier):
        found = [m.group(0) for m in KIT_INTERNALS.finditer(inspect.getsource(module))]
        assert not found, f"{module.__name__} reaches into the kit: {found}"


def test_every_command_has_one_handler_and_the_service_keeps_no_rule_of_its_own():
    commands = ["mark_read", "set_preferences", "register_webhook", "remove_webhook", "redeliver", "resend_email",
                "resend_delivery", "resend_dead", "send_reminders", "remind_by_timer"]
    assert all(callable(getattr(handlers, name, None)) for name in commands)
    helpers = [name for name, fn in vars(service.NotificationService).items()
               if name.startswith("_") and inspect.isfunction(fn) and not name.startswith("__")]
    assert helpers == []
