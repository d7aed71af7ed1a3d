# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Step expectations: defaults and the user's `expect` (negative tests)."""

from __future__ import annotations

import pytest

from ansible_collections.mailops.mailflow.plugins.module_utils._smtp.expect import step_ok
from ansible_collections.mailops.mailflow.plugins.module_utils._smtp.options import _check_expect


@pytest.mark.parametrize('name, code, ok', [
    ('banner', 220, True), ('banner', 554, False), ('ehlo', 250, True), ('mail', 530, False), ('rcpt', 550, False),
    ('rcpt', 251, True), ('data', 354, True), ('data', 250, False), ('auth', 334, True), ('auth', 235, True),
    ('auth', 535, False), ('message', 250, True), ('quit', 221, True), ('starttls', 454, False),
])
def test_defaults(name, code, ok):
    assert step_ok(name, code) is ok


def test_connect_default_and_conditions():
    assert step_ok('connect') is True
    assert step_ok('connect', condition='connection_refused') is False
    assert step_ok('banner') is False


@pytest.mark.parametrize('wanted, code, enhanced, condition, ok', [
    ([550], 550, '5.1.1', None, True),
    ([550], 250, '2.1.5', None, False),
    (['5'], 553, None, None, True),
    (['5xx'], 452, None, None, False),
    (['4XX'], 452, None, None, True),
    (['5.1.1'], 550, '5.1.1', None, True),
    (['5.1.1'], 550, '5.1.10', None, False),
    (['5.7'], 530, '5.7.1', None, True),
    (['5.7'], 550, '5.1.1', None, False),
    ([550], None, None, 'command_timeout', False),
    (['connection_refused', 'connect_timeout'], None, None, 'connect_timeout', True),
    (['tls_cert_expired'], 220, '2.0.0', 'tls_cert_expired', True),
    ([220], 220, '2.0.0', 'tls_cert_expired', False),
])
def test_user_expectations(wanted, code, enhanced, condition, ok):
    expect = _check_expect({'rcpt': wanted})
    assert step_ok('rcpt', code, enhanced, condition, expect) is ok


def test_expectation_for_one_step_leaves_the_others_at_default():
    expect = _check_expect({'rcpt': [550]})
    assert step_ok('mail', 250, None, None, expect) is True
    assert step_ok('mail', 550, None, None, expect) is False
