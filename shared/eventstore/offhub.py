"""Run calls that eventlet cannot make cooperative (gRPC above all) off the eventlet hub.

gRPC's C core blocks the OS thread that waits on it, so a gRPC call made on the hub stalls every
greenlet. Worse, under ``eventlet.monkey_patch()`` gRPC's own Python threads and condition variables
become green: a streaming call then hangs or dies with DEADLINE_EXCEEDED. Two rules fix both:

1. ``use_real_threads(module, ...)`` points a library's ``threading``/``time``/``queue`` (and names
   imported from them) back at the unpatched modules, so it runs on real OS threads.
   ``use_real_threads_for_grpc()`` does it for gRPC itself.
2. Every call goes through ``call()`` (a real thread from ``eventlet.tpool``), and every long-lived
   iterator (a subscription) through ``OffHubIterator``: a real thread pulls items into a queue and
   wakes the waiting greenlet through a socket pair, which the hub can wait on.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator

from eventlet import hubs, patcher, tpool

_threading = patcher.original("threading")
_time = patcher.original("time")
_queue = patcher.original("queue")
_socket = patcher.original("socket")

_MAIN_THREAD_ID = _threading.main_thread().ident
_REAL_MODULES = {"threading": _threading, "time": _time, "queue": _queue}

GRPC_MODULES = (
    "grpc._channel",
    "grpc._server",
    "grpc._utilities",
    "grpc._plugin_wrapping",
    "grpc._simple_stubs",
    "grpc._cython.cygrpc",
)


def use_real_threads(*modules) -> None:
    """Make each module use the real (unpatched) threading, time and queue. Idempotent.

    Covers ``import threading`` as well as ``from threading import Lock, Event`` and
    ``from time import sleep``. Objects the module created before this call keep what they had,
    so call it before creating channels or clients.
    """
    for module in modules:
        for name, real in _REAL_MODULES.items():
            patched = sys.modules.get(name)
            if patched is None or patched is real:
                continue
            if getattr(module, name, None) is patched:
                setattr(module, name, real)
            for attr, value in list(vars(module).items()):
                # ``from threading import Lock`` etc.: the patched module's object, not the real one's.
                if attr.startswith("__") or attr in _REAL_MODULES or value is None:
                    continue
                real_value = getattr(real, attr, None)
                if (
                    real_value is not None
                    and real_value is not value
                    and getattr(patched, attr, None) is value
                ):
                    setattr(module, attr, real_value)


def use_real_threads_for_grpc() -> None:
    """gRPC's Python layer on real threads (see the module docstring). Idempotent."""
    import importlib

    use_real_threads(*(importlib.import_module(name) for name in GRPC_MODULES))


def on_hub_thread() -> bool:
    """True in the OS thread that runs the eventlet hub of the process (the main thread)."""
    return _threading.get_ident() == _MAIN_THREAD_ID


def call(fn: Callable, *args, **kwargs):
    """Run ``fn(*args, **kwargs)`` in a real OS thread; the calling greenlet yields until it returns.

    Its result is returned and its exception re-raised. Off the hub thread (already in a worker
    thread) it runs directly.
    """
    if on_hub_thread():
        return tpool.execute(fn, *args, **kwargs)
    return fn(*args, **kwargs)


_END = object()


class OffHubIterator:
    """Iterate a blocking iterator (e.g. a gRPC server stream) from greenlets without blocking the hub.

    A daemon OS thread calls ``open_iterator()`` and pulls items into a bounded queue. The consumer
    waits on a socket pair that the hub watches, so other greenlets run meanwhile. ``stop()`` ends
    the iteration at once (the consumer gets StopIteration) and interrupts the source with
    ``cancel(source)``, run off the hub. An exception from the source is raised by ``next()``.
    One consumer at a time.
    """

    def __init__(
        self,
        open_iterator: Callable[[], Iterator],
        *,
        cancel: Callable[[object], object] | None = None,
        maxsize: int = 500,
        name: str = "offhub-iterator",
    ):
        self._open = open_iterator
        self._cancel = cancel
        self._items = _queue.Queue(maxsize)
        self._rsock, self._wsock = _socket.socketpair()
        self._rsock.setblocking(False)
        self._wsock.setblocking(False)
        self._stopped = _threading.Event()
        self._lock = _threading.Lock()
        self._source = None
        self._finished = False
        self._thread = _threading.Thread(target=self._pump, name=name, daemon=True)
        self._thread.start()

    # -- the real thread ----------------------------------------------------------------------
    def _pump(self):
        try:
            source = self._open()
            with self._lock:
                self._source = source
            if self._stopped.is_set():
                self._interrupt(source)
                return
            for item in source:
                if not self._put((True, item)):
                    return
            self._put((True, _END))
        except BaseException as exc:  # noqa: B036 - handed to the consumer, not swallowed
            if not self._stopped.is_set():
                self._put((False, exc))
        finally:
            with self._lock:
                self._wake()
                self._wsock.close()

    def _put(self, entry) -> bool:
        while not self._stopped.is_set():
            try:
                self._items.put(entry, timeout=0.2)
            except _queue.Full:
                continue
            with self._lock:
                self._wake()
            return True
        return False

    def _wake(self):
        # Callers hold self._lock, so the pump never closes the socket in the middle of a send.
        try:
            self._wsock.send(b"\0")
        except OSError:  # buffer full (a wake-up is pending anyway) or consumer gone
            pass

    def _interrupt(self, source):
        if self._cancel is not None and source is not None:
            try:
                self._cancel(source)
            except Exception:  # pragma: no cover - best effort: the source may be gone already
                pass

    # -- the consumer (a greenlet) ------------------------------------------------------------
    def __iter__(self):
        return self

    def __next__(self):
        return self.get()

    def get(self, timeout: float | None = None):
        """The next item; StopIteration at the end or after stop(); TimeoutError after ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._stopped.is_set() or self._finished:
                self._finish()
                raise StopIteration
            try:
                ok, item = self._items.get_nowait()
            except _queue.Empty:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError("no item within %.3fs" % timeout) from None
                self._wait(remaining)
                continue
            if item is _END:
                self._finish()
                raise StopIteration
            if not ok:
                self._finish()
                raise item
            return item

    def _wait(self, timeout):
        try:
            hubs.trampoline(self._rsock.fileno(), read=True, timeout=timeout, timeout_exc=_WaitTimeout)
        except _WaitTimeout:
            return
        try:
            while self._rsock.recv(4096):
                pass
        except OSError:  # drained (EAGAIN)
            pass

    def stop(self):
        """End the iteration now and interrupt the source (off the hub). Idempotent."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        with self._lock:
            self._wake()
            source = self._source
        if source is not None:
            call(self._interrupt, source)

    def _finish(self):
        if not self._finished:
            self._finished = True
            self._rsock.close()

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()


class _WaitTimeout(Exception):
    pass
