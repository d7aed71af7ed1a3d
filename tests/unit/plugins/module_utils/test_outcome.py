# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""_outcome: which results fail their task, and the one line that says why (shared with the Windows path)."""

from __future__ import annotations

import pytest

from ansible_collections.mailops.mailflow.plugins.module_utils._outcome import (
    LISTED_DOMAINS,
    failure_message,
    route_summary,
    smtp_summary,
)

USER_UNKNOWN = 'User unknown: the recipient mailbox does not exist on the destination.'


def smtp_result(**changes):
    result = {
        'target': {'host': 'mx1.fabrikam.test', 'port': 25},
        'passed': False,
        'diagnosis': {'step': 'rcpt', 'code': 550, 'enhanced': '5.1.1', 'error': None, 'summary': USER_UNKNOWN},
        'recipients': {'nobody@fabrikam.test': {'accepted': False, 'code': 550, 'enhanced': '5.1.1'}},
        'message_accepted': False,
        'queued_as': None,
    }
    result.update(changes)
    return result


def route_result(domain, deliverable, summary, diagnosis):
    return {'domain': domain, 'passed': deliverable, 'probes': [],
            'verdict': {'deliverable': deliverable, 'outcome': 'x', 'summary': summary, 'diagnosis': diagnosis}}


@pytest.mark.parametrize('module_name', ['smtp_probe', 'mailops.mailflow.smtp_probe', 'win_smtp_probe',
                                         'mailops.mailflow.win_smtp_probe'])
def test_every_spelling_of_the_module_gets_the_same_line(module_name):
    assert failure_message(module_name, smtp_result()) == 'mx1.fabrikam.test:25 failed at rcpt (550 5.1.1): ' + USER_UNKNOWN


def test_an_unknown_module_is_an_error_not_a_silent_pass():
    with pytest.raises(ValueError, match='ping'):
        failure_message('ping', smtp_result())


@pytest.mark.parametrize('module_name', ['smtp_probe', 'mx_probe', 'mx_lookup'])
def test_a_passed_check_gives_no_failure(module_name):
    assert failure_message(module_name, {'passed': True, 'diagnosis': {}}) is None


def test_a_missing_passed_counts_as_not_passed():
    assert failure_message('smtp_probe', smtp_result(passed=None)) is not None


def test_a_condition_without_reply_is_named_and_an_ipv6_target_bracketed():
    result = smtp_result(target={'host': '::1', 'port': 2525}, recipients={},
                         diagnosis={'step': 'connect', 'code': None, 'error': 'connection_refused', 'summary': 'Refused.'})
    assert failure_message('smtp_probe', result) == '[::1]:2525 failed at connect (connection_refused): Refused.'


def test_split_recipients_with_a_queued_message_say_both():
    result = smtp_result(message_accepted=True, queued_as='4ABC', recipients={
        'kate@fabrikam.test': {'accepted': True, 'code': 250, 'enhanced': '2.1.5'},
        'nobody@fabrikam.test': {'accepted': False, 'code': 550, 'enhanced': '5.1.1'},
        'gone@fabrikam.test': {'accepted': False, 'code': 450, 'enhanced': None},
    })
    assert smtp_summary(result) == (
        'mx1.fabrikam.test:25 failed at rcpt (550 5.1.1); queued as 4ABC for 1 of 3 recipients; refused at rcpt: '
        'nobody@fabrikam.test (550 5.1.1), gone@fabrikam.test (450): ' + USER_UNKNOWN)


def test_split_recipients_without_a_message_count_the_accepted():
    result = smtp_result(recipients={'kate@fabrikam.test': {'accepted': True, 'code': 250},
                                     'nobody@fabrikam.test': {'accepted': False, 'code': 550, 'enhanced': '5.1.1'}})
    assert '; 1 of 2 recipients accepted; refused at rcpt: nobody@fabrikam.test (550 5.1.1): ' in smtp_summary(result)


def test_a_passed_probe_with_a_queued_message_names_the_queue_id():
    result = smtp_result(passed=True, message_accepted=True, queued_as='D50CD160033',
                         recipients={'kate@fabrikam.test': {'accepted': True, 'code': 250}},
                         diagnosis={'step': 'message', 'code': 250, 'summary': 'Queued.'})
    assert smtp_summary(result) == 'mx1.fabrikam.test:25 passed: Queued.; queued as D50CD160033 for 1 of 1 recipient'


def test_an_expected_refusal_passes_with_its_reply():
    result = smtp_result(passed=True, diagnosis=dict(smtp_result()['diagnosis'], expected=True))
    assert failure_message('smtp_probe', result) is None
    assert smtp_summary(result) == 'mx1.fabrikam.test:25 passed: rcpt got the expected 550 5.1.1 (%s)' % USER_UNKNOWN


def test_a_route_names_the_domain_step_code_and_summary():
    result = route_result('fabrikam.test', False, 'fabrikam.test: not deliverable: rejected',
                          {'step': 'rcpt', 'code': 550, 'enhanced': '5.1.1', 'summary': USER_UNKNOWN})
    assert failure_message('mx_probe', result) == (
        'fabrikam.test: not deliverable: rejected (diagnosis: rcpt 550 5.1.1: %s)' % USER_UNKNOWN)


def test_a_route_summary_adds_every_queued_message():
    result = route_result('fabrikam.test', False, 'fabrikam.test: not deliverable: partial', {})
    result['probes'] = [{'exchanger': 'mx1.fabrikam.test', 'address': '127.0.0.11', 'message_accepted': True,
                         'queued_as': 'Q1', 'recipients': {'a@fabrikam.test': {'accepted': True},
                                                           'b@fabrikam.test': {'accepted': False, 'code': 550}}},
                        {'exchanger': 'mx2.fabrikam.test', 'address': '127.0.0.12', 'message_accepted': False}]
    assert route_summary(result) == ('fabrikam.test: not deliverable: partial; mx1.fabrikam.test [127.0.0.11] queued as Q1 '
                                     'for 1 of 2 recipients; refused at rcpt: b@fabrikam.test (550)')


def test_many_domains_list_a_few_failures_and_count_the_rest():
    failing = [route_result('d%d.test' % index, False, 'd%d.test: not deliverable' % index,
                            {'step': 'connect', 'error': 'connect_timeout', 'summary': 'Timed out.'})
               for index in range(LISTED_DOMAINS + 2)]
    results = [route_result('ok.test', True, 'ok.test: deliverable', {})] + failing
    line = failure_message('mx_probe', {'passed': False, 'results': results})
    assert line.startswith('mx_probe: %d of %d domains not deliverable: d0.test: not deliverable (diagnosis: connect '
                           'connect_timeout: Timed out.) | ' % (len(failing), len(results)))
    assert line.endswith(' | and 2 more')
    assert 'ok.test' not in line and '\n' not in line


def test_a_lookup_names_status_condition_and_the_set_difference():
    record = {'domain': 'fabrikam.test', 'status': 'ok', 'passed': False,
              'diagnosis': {'step': 'mx', 'error': 'dns_mx_set_mismatch', 'summary': 'Other exchangers.'},
              'mx_set': {'matches': False, 'missing': ['mx3.fabrikam.test'], 'unexpected': []}}
    assert failure_message('mx_lookup', record) == (
        'fabrikam.test: status ok at mx (dns_mx_set_mismatch): Other exchangers. (missing: mx3.fabrikam.test)')


def test_every_recipient_accepted_adds_nothing_when_a_later_step_failed():
    result = smtp_result(recipients={'kate@fabrikam.test': {'accepted': True, 'code': 250}},
                         diagnosis={'step': 'quit', 'code': 421, 'enhanced': '4.4.2', 'summary': 'Closed.'})
    assert smtp_summary(result) == 'mx1.fabrikam.test:25 failed at quit (421 4.4.2): Closed.'


def test_a_message_queued_with_no_recipient_accepted_still_names_the_refused():
    result = smtp_result(message_accepted=True, queued_as='Q0')
    assert smtp_summary(result) == ('mx1.fabrikam.test:25 failed at rcpt (550 5.1.1); queued as Q0 for 0 of 1 recipient; '
                                    'refused at rcpt: nobody@fabrikam.test (550 5.1.1): ' + USER_UNKNOWN)


def test_a_step_without_reply_or_condition_gets_no_empty_brackets():
    result = smtp_result(recipients={}, diagnosis={'step': 'data', 'code': None, 'error': None, 'summary': 'Odd.'})
    assert smtp_summary(result) == 'mx1.fabrikam.test:25 failed at data: Odd.'
