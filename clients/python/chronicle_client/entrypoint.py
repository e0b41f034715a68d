"""A nameko entrypoint for Chronicle's events: a service method runs once for each event, caught up from the
feed after a restart (a ``Subscription`` run in the container).

    from chronicle_client.entrypoint import chronicle_event

    class Payroll:
        name = "payroll"

        @chronicle_event("timesheet", "TimesheetApproved")
        def on_approved(self, event):   # an Envelope, its signature verified; the worker has the dependencies
            ...

Config (the service's YAML, else the environment): ``AMQP_URI``, ``CHRONICLE_TOKEN`` (to read the feed),
``CHRONICLE_SIGNING_KEY``, ``CHRONICLE_CURSOR_DIR`` (default ``.``: the cursor is
``<service>.<method>.cursor.db`` there), ``CHRONICLE_CATCH_UP_EVERY`` (seconds, default 30).
"""
from __future__ import annotations

import os
import threading

from nameko.extensions import Entrypoint

from .consumer import Subscription


class ChronicleEvent(Entrypoint):
    def __init__(self, source_service: str, *types: str, **kwargs):
        self.source_service, self.types = source_service, list(types) or None
        self.subscription = None
        self._stop = threading.Event()
        self._thread = None
        super().__init__(**kwargs)

    def setup(self):
        config = self.container.config

        def setting(key, default=None):
            return config.get(key) or os.environ.get(key) or default

        directory = setting("CHRONICLE_CURSOR_DIR", ".")
        os.makedirs(directory, exist_ok=True)
        self.subscription = Subscription(
            self.source_service, self._spawn_worker, types=self.types,
            cursor=os.path.join(directory, f"{self.container.service_name}.{self.method_name}.cursor.db"),
            amqp_uri=setting("AMQP_URI"), token=setting("CHRONICLE_TOKEN"),
            signing_keys=setting("CHRONICLE_SIGNING_KEY"),
            catch_up_every=float(setting("CHRONICLE_CATCH_UP_EVERY", 30.0)))

    def start(self):
        self._stop.clear()
        self._thread = self.container.spawn_managed_thread(lambda: self.subscription.run(self._stop))

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.wait()
            self._thread = None

    def kill(self):
        self._stop.set()

    def _spawn_worker(self, event):
        """Run the service method for ``event`` in a worker and wait for it: a handler that raises leaves the
        event to the next catch-up."""
        done, outcome = threading.Event(), {}

        def handle_result(worker_ctx, result, exc_info):
            outcome["exc_info"] = exc_info
            done.set()
            return result, exc_info

        self.container.spawn_worker(self, (event,), {}, handle_result=handle_result)
        done.wait()
        if outcome["exc_info"] is not None:
            raise outcome["exc_info"][1]


chronicle_event = ChronicleEvent.decorator
