# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bounded concurrent fan-out.

Probes are blocking socket dialogues (the SMTP engine), so they run on a thread pool with at
most ``workers`` threads; the caller's thread schedules follow-up work as results arrive. A
dead address is connected to once per run: ``ConnectGate`` shares its failure with every other
probe of the same address, as an MTA's dead-host cache does.
"""

from __future__ import annotations

import queue
import threading

from .._diagnosis import errors
from .._smtp.connection import TransportError, open_socket

# Connect failures that say the address is dead for this run; others (e.g. a bad source address) are retried.
SHARED_CONNECT_FAILURES = frozenset((
    errors.CONNECTION_REFUSED, errors.CONNECT_TIMEOUT, errors.NO_ROUTE, errors.NETWORK_UNREACHABLE,
))


class _GateEntry:
    __slots__ = ('settled', 'failure')

    def __init__(self):
        self.settled = threading.Event()
        self.failure = None


class ConnectGate:
    """An ``opener`` for the SMTP engine that connects to each (address, port, source) at most once
    while it is dead.

    The first probe of an address connects; probes of the same address that start meanwhile wait
    for that outcome. A refused or timed-out address fails them at once, without another connect
    attempt; a live one lets each of them connect on its own.
    """

    def __init__(self, opener=open_socket):
        self._opener = opener
        self._lock = threading.Lock()
        self._entries = {}
        self.connects = 0

    def open(self, family, sockaddr, source_address, timeout):
        key = (sockaddr[0], sockaddr[1], source_address)
        with self._lock:
            entry = self._entries.get(key)
            leader = entry is None
            if leader:
                entry = self._entries[key] = _GateEntry()
        if leader:
            return self._connect(key, entry, family, sockaddr, source_address, timeout)
        if not entry.settled.wait(timeout):
            raise TransportError(errors.CONNECT_TIMEOUT, f'no answer from {sockaddr[0]} within {timeout:.1f} s (an earlier attempt to the same address '
                                 'was still waiting)')
        failure = entry.failure
        if failure is not None:
            raise TransportError(failure.condition, f'{failure.message} (the same address failed earlier in this run; not tried again)')
        with self._lock:
            self.connects += 1
        return self._opener(family, sockaddr, source_address, timeout)

    def _connect(self, key, entry, family, sockaddr, source_address, timeout):
        with self._lock:
            self.connects += 1
        try:
            sock = self._opener(family, sockaddr, source_address, timeout)
        except TransportError as exc:
            if exc.condition in SHARED_CONNECT_FAILURES:
                entry.failure = exc
            else:
                # Not a verdict on the address: the next probe tries again itself.
                with self._lock:
                    if self._entries.get(key) is entry:
                        del self._entries[key]
            entry.settled.set()
            raise
        except BaseException:
            entry.settled.set()
            raise
        entry.settled.set()
        return sock


class BoundedRunner:
    """At most ``workers`` threads, drained by the caller's thread.

    ``submit`` queues a call under a tag; ``completed()`` yields (tag, result) as calls finish and
    may be fed more work meanwhile. ``last_submitted()`` says no more will come, so threads leave as
    soon as the queue is empty, while the last calls still run. A call that raises ends the run: the
    exception propagates from ``completed()``. ``close()`` drops what has not started and joins
    every thread.

    Threads start each other, two each, as a tree: ``Thread.start()`` waits for the new thread to
    run, and one thread starting 200 in a row spends most of a 200 ms probe on those waits, while
    a tree overlaps them (measured: 50-200 ms in a row, 10-20 ms as a tree).
    """

    def __init__(self, workers):
        self._limit = max(1, int(workers))
        self._lock = threading.Lock()
        self._threads = []
        self._wanted = 0
        self._closing = False
        self._draining = False
        self._backlog = []
        self._outstanding = 0
        self._tasks = queue.SimpleQueue()
        self._finished = queue.SimpleQueue()

    def submit(self, tag, call, *args):
        self._backlog.append((tag, call, args))

    def _flush(self):
        if not self._backlog:
            return
        self._outstanding += len(self._backlog)
        for item in self._backlog:
            self._tasks.put(item)
        self._backlog = []
        with self._lock:
            self._wanted = max(self._wanted, min(self._limit, self._outstanding))
        self._grow()

    def last_submitted(self):
        self._flush()
        with self._lock:
            self._draining = True
            waiting = len(self._threads)
        # Wakes the idle threads; a busy one finds the queue empty (or one of these) when it is done.
        for _thread in range(waiting):
            self._tasks.put(None)

    def _grow(self):
        """Start up to two more threads while fewer than wanted run."""
        for _child in range(2):
            with self._lock:
                if self._closing or len(self._threads) >= self._wanted:
                    return
                thread = threading.Thread(target=self._work, name=f'mailflow-route-{len(self._threads)}')
                thread.daemon = True
                self._threads.append(thread)
            thread.start()

    def _work(self):
        self._grow()
        while True:
            if self._draining:
                try:
                    item = self._tasks.get_nowait()
                except queue.Empty:
                    return
            else:
                item = self._tasks.get()
            if item is None:
                return
            tag, call, args = item
            if self._closing:
                continue
            try:
                self._finished.put((tag, True, call(*args)))
            except BaseException as exc:  # pylint: disable=broad-except
                self._finished.put((tag, False, exc))

    def completed(self):
        self._flush()
        while self._outstanding:
            tag, ok, value = self._finished.get()
            self._outstanding -= 1
            if not ok:
                raise value
            yield tag, value
            self._flush()

    def close(self):
        with self._lock:
            self._closing = True
            threads = list(self._threads)
            self._threads = []
        self._backlog = []
        for _thread in threads:
            self._tasks.put(None)
        for thread in threads:
            thread.join()
        self._outstanding = 0
