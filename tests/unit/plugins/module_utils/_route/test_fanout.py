# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ConnectGate (a dead address is tried once per run) and BoundedRunner (a hard bound, no leftovers)."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from ansible_collections.mailops.mailflow.plugins.module_utils._diagnosis import errors
from ansible_collections.mailops.mailflow.plugins.module_utils._route.fanout import BoundedRunner, ConnectGate
from ansible_collections.mailops.mailflow.plugins.module_utils._smtp.connection import TransportError

DEAD = (socket.AF_INET, ('127.0.7.1', 25))
LIVE = (socket.AF_INET, ('127.0.7.2', 25))


class CountingOpener(object):
    """Stands in for open_socket: dead addresses time out after `delay` (or fail with `condition`)."""

    def __init__(self, dead=('127.0.7.1',), delay=0.3, condition=errors.CONNECT_TIMEOUT):
        self.dead = set(dead)
        self.delay = delay
        self.condition = condition
        self.calls = []
        self._lock = threading.Lock()

    def __call__(self, family, sockaddr, source_address, timeout):
        with self._lock:
            self.calls.append(sockaddr[0])
        if sockaddr[0] in self.dead:
            time.sleep(min(self.delay, timeout))
            raise TransportError(self.condition, 'no answer from %s within %.1f s' % (sockaddr[0], timeout))
        return 'socket-to-%s' % sockaddr[0]


def open_many(gate, target, count, timeout=5.0):
    outcomes = [None] * count

    def worker(index):
        try:
            outcomes[index] = gate.open(target[0], target[1], None, timeout)
        except TransportError as exc:
            outcomes[index] = exc

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(count)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes, time.monotonic() - started


def test_a_dead_address_costs_one_connect_timeout_once():
    opener = CountingOpener(delay=0.3)
    gate = ConnectGate(opener)
    outcomes, elapsed = open_many(gate, DEAD, 20)
    assert opener.calls == ['127.0.7.1']
    assert all(isinstance(outcome, TransportError) and outcome.condition == errors.CONNECT_TIMEOUT for outcome in outcomes)
    assert 0.3 <= elapsed < 0.9
    # Later in the same run: at once, without touching the network.
    started = time.monotonic()
    with pytest.raises(TransportError) as caught:
        gate.open(DEAD[0], DEAD[1], None, 5.0)
    assert time.monotonic() - started < 0.1
    assert 'not tried again' in caught.value.message
    assert opener.calls == ['127.0.7.1']


def test_a_refused_address_is_shared_too():
    opener = CountingOpener(delay=0.0, condition=errors.CONNECTION_REFUSED)
    gate = ConnectGate(opener)
    outcomes, _elapsed = open_many(gate, DEAD, 5)
    assert opener.calls == ['127.0.7.1']
    assert set(outcome.condition for outcome in outcomes) == {errors.CONNECTION_REFUSED}


def test_a_live_address_is_connected_by_every_probe():
    opener = CountingOpener()
    gate = ConnectGate(opener)
    outcomes, _elapsed = open_many(gate, LIVE, 5)
    assert outcomes == ['socket-to-127.0.7.2'] * 5
    assert opener.calls == ['127.0.7.2'] * 5
    assert gate.connects == 5


def test_a_local_problem_is_not_remembered_as_a_dead_address():
    opener = CountingOpener(delay=0.0, condition=errors.ADDRESS_UNAVAILABLE)
    gate = ConnectGate(opener)
    for _attempt in range(3):
        with pytest.raises(TransportError):
            gate.open(DEAD[0], DEAD[1], None, 1.0)
    assert opener.calls == ['127.0.7.1'] * 3


def test_ports_and_source_addresses_are_separate_entries():
    opener = CountingOpener(delay=0.0)
    gate = ConnectGate(opener)
    for target in ((socket.AF_INET, ('127.0.7.1', 25)), (socket.AF_INET, ('127.0.7.1', 2525))):
        with pytest.raises(TransportError):
            gate.open(target[0], target[1], None, 1.0)
    assert len(opener.calls) == 2


def test_runner_never_exceeds_its_bound_and_accepts_work_while_draining():
    baseline = threading.active_count()
    running = [0, 0]
    lock = threading.Lock()

    def task(value):
        with lock:
            running[0] += 1
            running[1] = max(running[1], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return value

    runner = BoundedRunner(4)
    try:
        for value in range(12):
            runner.submit(('first', value), task, value)
        seen = []
        for tag, value in runner.completed():
            seen.append(tag)
            if tag[0] == 'first' and value % 3 == 0:
                runner.submit(('follow-up', value), task, value)
    finally:
        runner.close()
    assert running[1] == 4
    assert sorted(tag for tag in seen if tag[0] == 'first') == [('first', value) for value in range(12)]
    assert sorted(tag for tag in seen if tag[0] == 'follow-up') == [('follow-up', value) for value in (0, 3, 6, 9)]
    assert threading.active_count() == baseline


def test_runner_error_propagates_and_close_leaves_no_thread():
    baseline = threading.active_count()

    def boom():
        raise RuntimeError('engine bug')

    runner = BoundedRunner(3)
    with pytest.raises(RuntimeError, match='engine bug'):
        try:
            runner.submit('slow', time.sleep, 0.1)
            runner.submit('boom', boom)
            for value in range(10):
                runner.submit(('queued', value), time.sleep, 0.1)
            for _item in runner.completed():
                pass
        finally:
            runner.close()
    assert threading.active_count() == baseline


def test_after_the_last_submission_idle_threads_leave_while_work_still_runs():
    baseline = threading.active_count()
    release = threading.Event()

    def slow():
        release.wait(5)
        return 'slow'

    runner = BoundedRunner(8)
    try:
        runner.submit('slow', slow)
        for value in range(7):
            runner.submit(('quick', value), time.sleep, 0.01)
        runner.last_submitted()
        seen = []
        for tag, _value in runner.completed():
            seen.append(tag)
            if len(seen) == 7:
                # Only the thread running the slow call is left.
                deadline = time.monotonic() + 5
                while threading.active_count() > baseline + 1 and time.monotonic() < deadline:
                    time.sleep(0.01)
                assert threading.active_count() == baseline + 1
                release.set()
    finally:
        runner.close()
    assert seen[-1] == 'slow'
    assert threading.active_count() == baseline
