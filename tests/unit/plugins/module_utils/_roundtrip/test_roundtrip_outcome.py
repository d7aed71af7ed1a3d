# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""mail_roundtrip in _outcome: a round trip that did not pass fails its task with the diagnosis summary."""

from __future__ import annotations

from ansible_collections.mailops.mailflow.plugins.module_utils._outcome import failure_message, roundtrip_summary


def result(passed, summary, category='delivered'):
    return {'recipient': 'kate@fabrikam.com', 'via': 'submission', 'passed': passed,
            'diagnosis': {'category': category, 'summary': summary}}


def test_a_passed_round_trip_fails_nothing():
    passed = result(True, 'delivered to INBOX in 1.2 s over 4 hops')
    assert failure_message('mailops.mailflow.mail_roundtrip', passed) is None
    assert roundtrip_summary(passed) == 'kate@fabrikam.com via submission: passed, delivered to INBOX in 1.2 s over 4 hops'


def test_a_junked_round_trip_fails_with_its_summary():
    junk = result(False, 'delivered in 1.0 s, but into Junk: a spam filter classed the test message as junk',
                  'delivered_to_junk')
    assert failure_message('mail_roundtrip', junk) == (
        'kate@fabrikam.com via submission: delivered in 1.0 s, but into Junk: a spam filter classed the test message '
        'as junk')


def test_check_mode_says_what_it_would_do():
    checked = {'recipient': 'kate@fabrikam.com', 'via': 'mx', 'passed': True, 'diagnosis': None,
               'check_mode_note': 'would send a message ...'}
    assert roundtrip_summary(checked) == 'would send a message ...'
