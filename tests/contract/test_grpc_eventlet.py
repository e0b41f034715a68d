"""gRPC under eventlet: a blocked streaming call made through the off-hub helpers that the KurrentDB
adapter uses (shared/eventstore/offhub.py) does not stall other greenlets.

A real gRPC server runs in this process (generic handlers, bytes in and out, no protoc) on real
threads; its stream sends one message, then blocks a real thread before sending the next. Importing
the adapter is what puts gRPC on real threads, exactly as in a service.
"""

import time
from concurrent import futures

import eventlet
import grpc
import pytest
from eventlet import patcher

from shared.eventstore import kurrent, offhub

_threading = patcher.original("threading")
_monotonic = patcher.original("time").monotonic
SERVICE = "chronicle.test.Blocking"
HOLD = 0.8  # seconds the stream blocks before its second message
TICK = 0.01


class _RealThreadExecutor(futures.Executor):
    """Each RPC on its own real thread (a pooled executor would be green under the monkey patch)."""

    def submit(self, fn, *args, **kwargs):
        future = futures.Future()

        def run():
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # noqa: B036 - handed to the future
                future.set_exception(exc)

        _threading.Thread(target=run, daemon=True).start()
        return future


class BlockingServer:
    def __init__(self):
        self.cancelled = _threading.Event()
        self.server = grpc.server(_RealThreadExecutor())
        self.server.add_generic_rpc_handlers(
            (
                grpc.method_handlers_generic_handler(
                    SERVICE,
                    {
                        "Stream": grpc.unary_stream_rpc_method_handler(
                            self.stream, request_deserializer=bytes, response_serializer=bytes
                        ),
                        "Echo": grpc.unary_unary_rpc_method_handler(
                            self.echo, request_deserializer=bytes, response_serializer=bytes
                        ),
                    },
                ),
            )
        )
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def stream(self, request: bytes, context):
        yield b"first"
        ended = _threading.Event()
        context.add_callback(ended.set)  # the call ends early when the client cancels
        ended.wait(float(request))  # blocks this real server thread, not the client's hub
        if not context.is_active():
            self.cancelled.set()
            return
        yield b"second"

    def echo(self, request: bytes, context):
        return b"echo:" + request


@pytest.fixture(scope="module")
def server():
    running = offhub.call(BlockingServer)
    yield running
    offhub.call(lambda: running.server.stop(0).wait(5))


@pytest.fixture
def channel(server):
    channel = offhub.call(grpc.insecure_channel, f"127.0.0.1:{server.port}")
    yield channel
    offhub.call(channel.close)


def open_stream(channel, hold=HOLD, timeout=10.0):
    method = channel.unary_stream(f"/{SERVICE}/Stream", request_serializer=bytes, response_deserializer=bytes)
    return method(str(hold).encode(), timeout=timeout)


def ticks_while(blocking_call):
    """Run ``blocking_call`` in this greenlet while another one ticks every 10 ms for 0.5 s.

    Returns (result, ticks, seconds the call took)."""
    ticks = [0]

    def ticker():
        until = _monotonic() + 0.5
        while _monotonic() < until:
            eventlet.sleep(TICK)
            ticks[0] += 1

    greenlet = eventlet.spawn(ticker)
    eventlet.sleep(0)  # let the ticker start
    started = _monotonic()
    result = blocking_call()
    took = _monotonic() - started
    greenlet.wait()
    return result, ticks[0], took


def test_the_adapter_puts_grpc_and_its_client_on_real_threads():
    import grpc._channel
    import kurrentdbclient.client
    from grpc._cython import cygrpc

    assert kurrent.offhub is offhub
    assert grpc._channel.threading is _threading
    assert cygrpc.threading is _threading
    assert kurrentdbclient.client.Lock is _threading.Lock
    assert kurrentdbclient.client.sleep is patcher.original("time").sleep


def test_a_unary_call_through_the_helper(channel):
    echo = channel.unary_unary(f"/{SERVICE}/Echo", request_serializer=bytes, response_deserializer=bytes)
    assert offhub.call(echo, b"hi", timeout=5) == b"echo:hi"


def test_a_blocked_stream_read_by_the_off_hub_iterator_does_not_stall_other_greenlets(channel):
    messages = offhub.OffHubIterator(lambda: open_stream(channel), cancel=lambda call: call.cancel())
    try:
        assert messages.get(timeout=5) == b"first"
        second, ticks, took = ticks_while(lambda: messages.get(timeout=5))
    finally:
        messages.stop()
    assert second == b"second"
    assert took >= 0.5  # the stream really was blocked
    assert ticks >= 25  # ~50 expected: the hub kept running


def test_a_blocked_next_through_call_does_not_stall_other_greenlets(channel):
    stream = offhub.call(open_stream, channel)
    assert offhub.call(next, stream) == b"first"
    second, ticks, took = ticks_while(lambda: offhub.call(next, stream))
    assert second == b"second"
    assert took >= 0.5
    assert ticks >= 25


def test_stop_interrupts_a_blocked_stream_at_once(server, channel):
    server.cancelled.clear()
    messages = offhub.OffHubIterator(lambda: open_stream(channel, hold=30), cancel=lambda call: call.cancel())
    assert messages.get(timeout=5) == b"first"
    eventlet.spawn_after(0.1, messages.stop)
    started = _monotonic()
    with pytest.raises(StopIteration):
        messages.get(timeout=5)
    assert _monotonic() - started < 2
    assert offhub.call(server.cancelled.wait, 5), "the server never saw the call cancelled"


def test_an_error_in_the_stream_reaches_the_waiting_greenlet(channel):
    messages = offhub.OffHubIterator(lambda: open_stream(channel, hold=30, timeout=0.5))
    assert messages.get(timeout=5) == b"first"
    with pytest.raises(grpc.RpcError) as caught:
        messages.get(timeout=5)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


def test_control_the_same_stream_read_directly_on_the_hub_stalls_every_greenlet(channel):
    """What the tests above would catch: without the helper the hub stops for the whole hold.
    Safe to run: the server releases the stream after HOLD seconds on its own real thread."""
    stream = open_stream(channel)
    assert next(stream) == b"first"
    second, ticks, took = ticks_while(lambda: next(stream))
    assert second == b"second"
    assert took >= 0.5
    assert ticks <= 2


def test_the_helper_runs_directly_when_already_off_the_hub():
    where = offhub.call(lambda: (offhub.on_hub_thread(), offhub.call(offhub.on_hub_thread)))
    assert where == (False, False)
    assert offhub.on_hub_thread()
    assert time.monotonic() > 0  # the patched time module is untouched for everyone else
