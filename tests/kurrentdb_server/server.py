"""The gRPC face of the test server, on the service stubs kurrentdbclient ships (protos/v1).

Served: ``Streams`` (Read of a stream or of ``$all`` with filters, forwards and backwards; catch-up
subscriptions to ``$all`` or a stream; Append; BatchAppend) and ``Gossip.Read`` (one leader, so
``kurrentdb+discover://`` URIs work too). Delete, Tombstone, persistent subscriptions, projections,
users, operations and the v2 multi-stream append answer UNIMPLEMENTED, as the generated base classes
do. Insecure only: no TLS, no authentication.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from concurrent import futures

import grpc
from google.protobuf import any_pb2, timestamp_pb2
from kurrentdbclient.protos.google.rpc import code_pb2
from kurrentdbclient.protos.v1 import (
    gossip_pb2,
    gossip_pb2_grpc,
    shared_pb2,
    status_pb2,
    streams_pb2,
    streams_pb2_grpc,
)

from .log import (
    ANY,
    NO_STREAM,
    STREAM_EXISTS,
    InvalidPosition,
    Log,
    MaximumAppendSizeExceeded,
    Proposed,
    Record,
    StreamNotFound,
    WrongExpectedRevision,
)

ReadOptions = streams_pb2.ReadReq.Options
PAGE = 500  # records a subscription takes from the log at a time
LIVE_WAIT = 0.25  # seconds a live subscription waits before it checks that its caller is still there


class BadRequest(Exception):
    pass


# -- conversions ------------------------------------------------------------------------------
def _uuid_message(value: str, structured: bool) -> shared_pb2.UUID:
    if not structured:
        return shared_pb2.UUID(string=value)
    as_int = uuid.UUID(value).int

    def signed(bits):  # the server sends two's-complement 64-bit halves
        return bits - (1 << 64) if bits >= 1 << 63 else bits

    return shared_pb2.UUID(
        structured=shared_pb2.UUID.Structured(
            most_significant_bits=signed(as_int >> 64), least_significant_bits=signed(as_int & ((1 << 64) - 1))
        )
    )


def _read_event(record: Record, structured_ids: bool) -> streams_pb2.ReadResp:
    event = streams_pb2.ReadResp.ReadEvent.RecordedEvent(
        id=_uuid_message(record.event_id, structured_ids),
        stream_identifier=shared_pb2.StreamIdentifier(stream_name=record.stream.encode()),
        stream_revision=record.revision,
        prepare_position=record.position,
        commit_position=record.position,
        metadata={"type": record.type, "content-type": record.content_type, "created": str(record.created)},
        custom_metadata=record.custom_metadata,
        data=record.data,
    )
    return streams_pb2.ReadResp(
        event=streams_pb2.ReadResp.ReadEvent(event=event, commit_position=record.position)
    )


def _now() -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.GetCurrentTime()
    return stamp


def _expected(options, oneof: str) -> object:
    """The expected revision of an Append or BatchAppend: a number, NO_STREAM, ANY or STREAM_EXISTS."""
    kind = options.WhichOneof(oneof)
    if kind in ("revision", "stream_position"):
        return getattr(options, kind)
    if kind == "no_stream":
        return NO_STREAM
    if kind == "any":
        return ANY
    if kind == "stream_exists":
        return STREAM_EXISTS
    raise BadRequest("no expected stream revision")


def _proposed(message) -> Proposed:
    which = message.id.WhichOneof("value")
    if which != "string":
        raise BadRequest("event ids must be sent as strings")
    try:
        event_id = str(uuid.UUID(message.id.string))
    except ValueError:
        raise BadRequest(f"invalid event id {message.id.string!r}") from None
    if "type" not in message.metadata or "content-type" not in message.metadata:
        raise BadRequest("the metadata of a proposed event needs 'type' and 'content-type'")
    return Proposed(
        event_id=event_id,
        type=message.metadata["type"],
        content_type=message.metadata["content-type"],
        data=message.data,
        custom_metadata=message.custom_metadata,
    )


class _Filter:
    """A read's or subscription's filter: on stream names or event types, by prefixes or a regex."""

    def __init__(self, options: ReadOptions):
        self.active = options.WhichOneof("filter_option") == "filter"
        self.checkpoint_every = 0
        if not self.active:
            return
        spec = options.filter
        which = spec.WhichOneof("filter")
        if which is None:
            raise BadRequest("a filter needs stream_identifier or event_type")
        expression = getattr(spec, which)
        self.on_stream = which == "stream_identifier"
        self.prefixes = tuple(expression.prefix)
        self.regex = re.compile(expression.regex) if expression.regex else None
        window = spec.max if spec.WhichOneof("window") == "max" else 32
        self.checkpoint_every = max(1, window) * max(1, spec.checkpointIntervalMultiplier)

    def __call__(self, record: Record) -> bool:
        if not self.active:
            return True
        subject = record.stream if self.on_stream else record.type
        if self.prefixes:
            return subject.startswith(self.prefixes)
        return self.regex is None or bool(self.regex.search(subject))


def _all_position(options: ReadOptions):
    which = options.all.WhichOneof("all_option")
    if which == "position":
        return options.all.position.commit_position
    return which  # "start" or "end"


def _stream_revision(options: ReadOptions):
    which = options.stream.WhichOneof("revision_option")
    return options.stream.revision if which == "revision" else which


# -- Streams ----------------------------------------------------------------------------------
class StreamsServicer(streams_pb2_grpc.StreamsServicer):
    def __init__(self, log: Log):
        self.log = log

    # Read: reads and catch-up subscriptions
    def Read(self, request, context):
        options = request.options
        structured = options.uuid_option.WhichOneof("content") == "structured"
        try:
            event_filter = _Filter(options)
            if options.WhichOneof("count_option") == "subscription":
                yield from self._subscribe(options, event_filter, structured, context)
                return
            yield from self._read(options, event_filter, structured)
        except BadRequest as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except InvalidPosition:
            kind = "FilteredReadAllResult" if event_filter.active else "ReadAllResult"
            context.abort(grpc.StatusCode.UNKNOWN, f"Unexpected {kind}: InvalidPosition")

    def _read(self, options, event_filter, structured):
        backwards = options.read_direction == ReadOptions.Backwards
        count = options.count
        if options.WhichOneof("stream_option") == "stream":
            name = options.stream.stream_identifier.stream_name.decode()
            try:
                records = self.log.read_stream(name, _stream_revision(options), backwards, count)
            except StreamNotFound:
                yield streams_pb2.ReadResp(
                    stream_not_found=streams_pb2.ReadResp.StreamNotFound(
                        stream_identifier=shared_pb2.StreamIdentifier(stream_name=name.encode())
                    )
                )
                return
            for record in records:
                yield _read_event(record, structured)
            return
        position = _all_position(options)
        if backwards:  # from a position: the events before it
            stop = 0 if position == "start" else len(self.log) if position == "end" else self.log.index_from(position)
            candidates = self._scan_backwards(stop)
        else:  # from a position: the event at it, and on
            candidates = self._scan_forwards(self.log.index_from(position))
        sent = 0
        for record in candidates:
            if sent >= count:
                return
            if event_filter(record):
                sent += 1
                yield _read_event(record, structured)

    def _scan_forwards(self, index: int):
        """The log's records from ``index`` on, a page at a time (no copy of the whole log per read)."""
        while page := self.log.records(index, index + PAGE):
            yield from page
            index += len(page)

    def _scan_backwards(self, stop: int):
        """The log's records before index ``stop``, newest first, a page at a time."""
        while stop > 0:
            page = self.log.records(max(0, stop - PAGE), stop)
            yield from reversed(page)
            stop -= len(page)

    def _subscribe(self, options, event_filter, structured, context):
        ended = threading.Event()
        context.add_callback(ended.set)
        # confirmed first; a start position where no event is fails the catch-up that follows
        yield streams_pb2.ReadResp(
            confirmation=streams_pb2.ReadResp.SubscriptionConfirmation(subscription_id=str(uuid.uuid4()))
        )
        stream = None
        if options.WhichOneof("stream_option") == "stream":
            stream = options.stream.stream_identifier.stream_name.decode()
            index = self._stream_start(stream, _stream_revision(options))
        else:
            index = self.log.index_after(_all_position(options))
        caught_up, scanned, last = False, 0, None
        while not ended.is_set() and context.is_active():
            page = self.log.records(index, index + PAGE)
            for record in page:
                index += 1
                if stream is not None and record.stream != stream:
                    continue
                last = record
                if event_filter(record):
                    yield _read_event(record, structured)
                scanned += 1
                # a filtered subscription to $all reports how far it has looked, matching or not
                if stream is None and event_filter.checkpoint_every and scanned % event_filter.checkpoint_every == 0:
                    yield streams_pb2.ReadResp(
                        checkpoint=streams_pb2.ReadResp.Checkpoint(
                            commit_position=record.position, prepare_position=record.position, timestamp=_now()
                        )
                    )
            if page:
                continue
            if not caught_up:
                caught_up = True
                yield self._caught_up(stream, last)
            self.log.wait_beyond(index, LIVE_WAIT)

    def _stream_start(self, stream: str, revision) -> int:
        """The log index a stream subscription starts at: after ``revision`` (exclusive)."""
        if revision == "start":
            return 0
        if revision == "end":
            return len(self.log)
        try:
            at = self.log.read_stream(stream, revision, False, 1)
        except StreamNotFound:
            at = []
        return self.log.index_after(at[0].position) if at else len(self.log)

    @staticmethod
    def _caught_up(stream, last: Record | None) -> streams_pb2.ReadResp:
        caught_up = streams_pb2.ReadResp.CaughtUp(timestamp=_now())
        if last is not None:
            if stream is None:
                caught_up.position.CopyFrom(
                    streams_pb2.ReadResp.Position(commit_position=last.position, prepare_position=last.position)
                )
            elif last.stream == stream:
                caught_up.stream_revision = last.revision
        return streams_pb2.ReadResp(caught_up=caught_up)

    # Append: one options message, then the proposed events
    def Append(self, request_iterator, context):
        requests = iter(request_iterator)
        first = next(requests, None)
        if first is None or first.WhichOneof("content") != "options":
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the first append request must carry the options")
        options = first.options
        stream = options.stream_identifier.stream_name.decode()
        try:
            expected = _expected(options, "expected_stream_revision")
            proposed = [_proposed(r.proposed_message) for r in requests]
            appended = self.log.append(stream, expected, proposed)
        except BadRequest as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except MaximumAppendSizeExceeded as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except WrongExpectedRevision as exc:
            wrong = streams_pb2.AppendResp.WrongExpectedVersion()
            if exc.current is None:
                wrong.current_no_stream.CopyFrom(shared_pb2.Empty())
            else:
                wrong.current_revision = exc.current
            if isinstance(expected, int):
                wrong.expected_revision = expected
            elif expected == NO_STREAM:
                wrong.expected_no_stream.CopyFrom(shared_pb2.Empty())
            elif expected == STREAM_EXISTS:
                wrong.expected_stream_exists.CopyFrom(shared_pb2.Empty())
            else:
                wrong.expected_any.CopyFrom(shared_pb2.Empty())
            return streams_pb2.AppendResp(wrong_expected_version=wrong)
        success = streams_pb2.AppendResp.Success()
        if appended.revision is None:
            success.no_stream.CopyFrom(shared_pb2.Empty())
        else:
            success.current_revision = appended.revision
        if appended.position is None:
            success.no_position.CopyFrom(shared_pb2.Empty())
        else:
            success.position.CopyFrom(
                streams_pb2.AppendResp.Position(commit_position=appended.position, prepare_position=appended.position)
            )
        return streams_pb2.AppendResp(success=success)

    # BatchAppend: requests with a correlation id; a batch is written when its last part (is_final) arrives
    def BatchAppend(self, request_iterator, context):
        pending: dict[str, tuple[object, list]] = {}
        for request in request_iterator:
            correlation = request.correlation_id.string
            options, proposed = pending.get(correlation, (None, []))
            if request.HasField("options"):
                options = request.options
            proposed = proposed + list(request.proposed_messages)
            if not request.is_final:
                pending[correlation] = (options, proposed)
                continue
            pending.pop(correlation, None)
            yield self._batch(request.correlation_id, options, proposed)

    def _batch(self, correlation_id, options, messages) -> streams_pb2.BatchAppendResp:
        response = streams_pb2.BatchAppendResp(correlation_id=correlation_id)
        if options is None:
            return self._batch_error(response, code_pb2.INVALID_ARGUMENT, "no options", shared_pb2.BadRequest(
                message="the first part of a batch must carry the options"))
        stream = options.stream_identifier.stream_name.decode()
        response.stream_identifier.CopyFrom(options.stream_identifier)
        expected = None
        try:
            expected = _expected(options, "expected_stream_position")
            if isinstance(expected, int):
                response.stream_position = expected
            elif expected == NO_STREAM:
                response.no_stream.SetInParent()
            elif expected == ANY:
                response.any.SetInParent()
            else:
                response.stream_exists.SetInParent()
            appended = self.log.append(stream, expected, [_proposed(m) for m in messages])
        except BadRequest as exc:
            return self._batch_error(response, code_pb2.INVALID_ARGUMENT, str(exc), shared_pb2.BadRequest(
                message=str(exc)))
        except MaximumAppendSizeExceeded as exc:
            return self._batch_error(response, code_pb2.INVALID_ARGUMENT, str(exc),
                                     shared_pb2.MaximumAppendSizeExceeded(maxAppendSize=exc.max_size))
        except WrongExpectedRevision as exc:
            detail = shared_pb2.WrongExpectedVersion()
            if exc.current is None:
                detail.current_no_stream.SetInParent()
            else:
                detail.current_stream_revision = exc.current
            if isinstance(expected, int):
                detail.expected_stream_position = expected
            elif expected == NO_STREAM:
                detail.expected_no_stream.SetInParent()
            elif expected == STREAM_EXISTS:
                detail.expected_stream_exists.SetInParent()
            else:
                detail.expected_any.SetInParent()
            return self._batch_error(response, code_pb2.FAILED_PRECONDITION, "WrongExpectedVersion", detail)
        success = streams_pb2.BatchAppendResp.Success()
        if appended.revision is None:
            success.no_stream.SetInParent()
        else:
            success.current_revision = appended.revision
        if appended.position is None:
            success.no_position.SetInParent()
        else:
            success.position.CopyFrom(
                shared_pb2.AllStreamPosition(commit_position=appended.position, prepare_position=appended.position)
            )
        response.success.CopyFrom(success)
        return response

    @staticmethod
    def _batch_error(response, code, message, detail) -> streams_pb2.BatchAppendResp:
        packed = any_pb2.Any()
        packed.Pack(detail)
        response.error.CopyFrom(status_pb2.Status(code=code, message=message, details=packed))
        return response


# -- Gossip -----------------------------------------------------------------------------------
class GossipServicer(gossip_pb2_grpc.GossipServicer):
    """A cluster of one: this node, the leader."""

    def __init__(self, host: str, port_holder: dict):
        self.instance_id = str(uuid.uuid4())
        self.host, self.port_holder = host, port_holder

    def Read(self, request, context):
        member = gossip_pb2.MemberInfo(
            instance_id=shared_pb2.UUID(string=self.instance_id),
            time_stamp=time.time_ns() // 100,
            state=gossip_pb2.MemberInfo.VNodeState.Leader,
            is_alive=True,
            http_end_point=gossip_pb2.EndPoint(address=self.host, port=self.port_holder["port"]),
        )
        return gossip_pb2.ClusterInfo(members=[member])


def start(host: str = "127.0.0.1", port: int = 0, max_workers: int = 200) -> tuple[grpc.Server, int, Log]:
    """Start a server on ``host:port`` (0: a free port); returns it, its port and its log.
    Each call and each subscription holds one worker thread while it runs."""
    log = Log()
    port_holder = {"port": port}
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="kurrentdb-test"))
    streams_pb2_grpc.add_StreamsServicer_to_server(StreamsServicer(log), server)
    gossip_pb2_grpc.add_GossipServicer_to_server(GossipServicer(host, port_holder), server)
    bound = server.add_insecure_port(f"{host}:{port}")
    port_holder["port"] = bound
    server.start()
    return server, bound, log
