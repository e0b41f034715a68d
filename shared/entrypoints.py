"""The kit's nameko entrypoints, ``rpc`` and ``event_handler``: nameko's own, made to ride out a broker outage.

In nameko 2.14 a worker sends its RPC reply and acks its message from the worker's greenthread. When the
broker is away, that publish raises (kombu's ``OperationalError`` once its retries are spent) and the ack
raises a socket error (``ConnectionResetError``, ``BrokenPipeError``: nameko only catches
``amqp.ConnectionError``). The error escapes the worker, and nameko kills the whole container for any
error escaping a thread: one failed reply takes the service down for good.

Replies are published without a publisher confirm (``ReplyPublisher``): a lost reply costs the caller a timeout and
a retry, never a second effect. Here a reply or an ack that fails because of the broker is logged and dropped
instead:
- the caller's RPC timeout answers a reply that was lost (the command's events are appended already; a
  retry with the same ``command_id`` returns the first result);
- a message that could not be acked is redelivered by the broker once it is back (at least once, as
  after a crash), and the consumer records it once.
Meanwhile nameko's queue consumer (kombu's ``ConsumerMixin``) reconnects by itself and consumes again.

The kit's client errors (ValidationError, NotFound, Conflict, RuleViolation, Forbidden, Unauthenticated) are every
RPC's ``expected_exceptions``: an answer to a bad request, not a fault of the service (the logs give it one INFO line
with its code, see ``shared.logs``). Their reply describes them as a JSON object (``shared.remote_errors``), so a
caller that does not import the kit still reads their code, message and field errors.

Every kit ``rpc`` authenticates its caller before the method runs (``Authenticator``): the bearer token in the
nameko context data (``authorization``) is verified against the identity store (shared/identity.py). No token or a
bad one is ``Unauthenticated`` (``auth.*``), answered without running the method, so nothing is appended. The
verified caller rides in the worker's context data under ``caller`` (always set here, never taken from the wire)
and the method reads it as ``self.chronicle.caller``.

``KitService`` is a base for service classes: it serves ``status`` (``chronicle status``) from the kit, so
services do not repeat it. A service class has a ``chronicle = Chronicle(...)`` dependency.
"""
from __future__ import annotations

import logging
import threading

import amqp.exceptions
import kombu.exceptions
import kombu.serialization
from nameko.amqp.publish import Publisher
from nameko.constants import (
    AMQP_SSL_CONFIG_KEY,
    AMQP_URI_CONFIG_KEY,
    DEFAULT_SERIALIZER,
    LOGIN_METHOD_CONFIG_KEY,
    SERIALIZER_CONFIG_KEY,
)
from nameko.events import EventHandler as NamekoEventHandler
from nameko.exceptions import serialize
from nameko.extensions import SharedExtension
from nameko.messaging import QueueConsumer as NamekoQueueConsumer
from nameko.rpc import Responder as NamekoResponder
from nameko.rpc import Rpc as NamekoRpc
from nameko.rpc import RpcConsumer as NamekoRpcConsumer
from nameko.rpc import get_rpc_exchange

from . import config as cfg
from .errors import ERRORS, ChronicleError, Unauthenticated
from .remote_errors import describe
from .validation import StatusSchema, load

log = logging.getLogger(__name__)

CLIENT_ERRORS = tuple(ERRORS.values())

# What a publish, an ack or a requeue raises when the broker (or the connection to it) is away.
BROKER_ERRORS = (
    OSError,  # socket errors: reset, broken pipe, refused, timeout
    amqp.exceptions.ConnectionError,  # e.g. CONNECTION_FORCED while the broker shuts down
    amqp.exceptions.ChannelError,
    amqp.exceptions.MessageNacked,
    kombu.exceptions.OperationalError,  # kombu's wrapper once its connection retries are spent
    kombu.exceptions.ChannelError,
)


class QueueConsumer(NamekoQueueConsumer):
    """nameko's queue consumer, whose ack and requeue never raise because the broker went away."""

    def ack_message(self, message):
        try:
            super().ack_message(message)
        except BROKER_ERRORS as exc:
            log.warning("could not ack message %s (%s); the broker will redeliver it",
                        message.delivery_info.get("routing_key"), exc)

    def requeue_message(self, message):
        try:
            super().requeue_message(message)
        except BROKER_ERRORS as exc:
            log.warning("could not requeue message %s (%s); the broker will redeliver it",
                        message.delivery_info.get("routing_key"), exc)


class ReplyPublisher(Publisher):
    """A reply is published without waiting for the broker's confirm (nameko waits for one per reply): a reply lost
    on its way is answered by the caller's timeout, and a retry with the same ``command_id`` returns the first
    result, so the confirm bought nothing but a round trip and the broker's work on every call."""

    use_confirms = False


class Responder(NamekoResponder):
    """nameko's reply, except that a kit error's ``value`` is ``describe(exc)``, a JSON object, not ``str(exc)``, and
    that it is sent without a publisher confirm (``ReplyPublisher``)."""

    publisher_cls = ReplyPublisher

    def send_response(self, result, exc_info):
        if exc_info is None or not isinstance(exc_info[1], ChronicleError):
            return super().send_response(result, exc_info)
        error = {**serialize(exc_info[1]), "value": describe(exc_info[1])}
        properties = self.message.properties
        publisher = self.publisher_cls(self.amqp_uri, ssl=self.ssl, login_method=self.login_method)
        publisher.publish({"result": None, "error": error},
                          serializer=kombu.serialization.registry.type_to_name[properties["content_type"]],
                          exchange=self.exchange, routing_key=properties["reply_to"],
                          correlation_id=properties.get("correlation_id"))
        return result, exc_info


class RpcConsumer(NamekoRpcConsumer):
    queue_consumer = QueueConsumer()

    def handle_result(self, message, result, exc_info):
        config = self.container.config
        try:
            # nameko's own handle_result, with the kit's Responder
            responder = Responder(config[AMQP_URI_CONFIG_KEY], get_rpc_exchange(config),
                                  config.get(SERIALIZER_CONFIG_KEY, DEFAULT_SERIALIZER), message,
                                  ssl=config.get(AMQP_SSL_CONFIG_KEY), login_method=config.get(LOGIN_METHOD_CONFIG_KEY))
            result, exc_info = responder.send_response(result, exc_info)
            self.queue_consumer.ack_message(message)
            return result, exc_info
        except BROKER_ERRORS as exc:
            # The reply is lost: the caller gets its timeout. The request is done, so ack it if we still can.
            log.warning("could not reply to %s (%s); the caller's timeout will answer it",
                        message.delivery_info.get("routing_key"), exc)
            self.queue_consumer.ack_message(message)
            return result, exc_info


CALLER = "caller"  # the context data key of the verified caller


class Authenticator(SharedExtension):
    """One per container: the token book every RPC of the service is checked against."""

    def setup(self):
        self._book = None
        self._lock = threading.Lock()

    @property
    def book(self):
        if self._book is None:
            with self._lock:
                if self._book is None:
                    from .eventstore import open_store
                    from .identity import TokenBook

                    config = self.container.config
                    self._book = TokenBook(open_store(cfg.identity_store_uri(config)), cfg.token_key(config),
                                           refresh_seconds=cfg.number(config, "TOKEN_REFRESH_SECONDS", 30.0))
        return self._book

    def authenticate(self, context_data: dict):
        """The verified caller of a call's context data, as context data; ``Unauthenticated`` otherwise."""
        return self.book.authenticate(context_data.get("authorization")).to_context()


class Rpc(NamekoRpc):
    rpc_consumer = RpcConsumer()
    authenticator = Authenticator()

    def __init__(self, expected_exceptions=(), **kwargs):
        if not isinstance(expected_exceptions, tuple):
            expected_exceptions = (expected_exceptions,)
        super().__init__(expected_exceptions=CLIENT_ERRORS + expected_exceptions, **kwargs)

    def unpack_message_headers(self, message):
        context_data = super().unpack_message_headers(message)
        context_data.pop(CALLER, None)  # only ever what we verified below
        try:
            context_data[CALLER] = self.authenticator.authenticate(context_data)
        except Unauthenticated as exc:
            # Refused before any worker runs: the RpcConsumer answers the caller with this error.
            log.info("refused %s.%s: %s (%s)", self.container.service_name, self.method_name, exc.code, exc,
                     extra={"code": exc.code})
            raise
        return context_data


class EventHandler(NamekoEventHandler):
    queue_consumer = QueueConsumer()


rpc = Rpc.decorator
event_handler = EventHandler.decorator


class KitService:
    """What every Chronicle service serves, from the kit: ``status``, the feed (``events_since``), and one handler
    per source named in its ``Chronicle(sources=...)`` that records the source's events (``on_<source>_event``: the
    name keeps the handler's durable queue, ``evt-<source>-#--<service>.on_<source>_event``, across versions)."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        chronicle = getattr(cls, "chronicle", None)
        for source in getattr(chronicle, "sources", {}):
            name = f"on_{source}_event"
            if not hasattr(cls, name):
                setattr(cls, name, event_handler(source, "#")(_receiver(source, name)))

    @rpc
    def events_since(self, **kwargs):
        """The feed: this service's own events after a position (see ``ChronicleHandle.events_since``)."""
        return self.chronicle.events_since(**kwargs)

    @rpc
    def status(self, **kwargs):
        """Where this service stands: the store's head, the relay's, projections', reactors' and consumers'
        checkpoints and lags, parked events (``shared.observe.status``). For admins and services."""
        self.chronicle.caller.require("admin", "service", what="status")
        load(StatusSchema, kwargs)
        return self.chronicle.status()


def _receiver(source, name):
    def receive(self, envelope):
        self.chronicle.receive(source, envelope)

    receive.__name__ = receive.__qualname__ = name
    receive.__doc__ = f"Record {source}'s events (verified, once): the kit's consumer."
    return receive
