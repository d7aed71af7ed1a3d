# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The raw dialogue record -> result seam (issue 14): what any engine (Python, C#) records gives the same result."""

from __future__ import annotations

import json

from ansible_collections.mailops.mailflow.plugins.module_utils._diagnosis import errors
from ansible_collections.mailops.mailflow.plugins.module_utils._smtp.dialogue import SmtpProbe
from ansible_collections.mailops.mailflow.plugins.module_utils._smtp.options import validate_options
from ansible_collections.mailops.mailflow.plugins.module_utils._smtp.result import build_result
from ansible_collections.mailops.mailflow.tests.unit.plugins.module_utils._smtp.fakesmtp import (
    FakeSocket, fake_transport, postfix_like)

BASE = {'host': 'mx1.fabrikam.test', 'helo_name': 'contoso.test', 'mail_from': 'chris@contoso.test',
        'rcpt_to': ['kate@fabrikam.test', 'nobody@fabrikam.test'], 'tls': 'none'}
TLS_NONE = {'used': False, 'version': None, 'cipher': None, 'bits': None, 'server_name': None, 'verify_error': None,
            'verify_message': None, 'certificate_der': None}
EHLO = ['250-mx1.fabrikam.test', '250-PIPELINING', '250-SIZE 1000', '250 ENHANCEDSTATUSCODES']


def step(name, command, lines, elapsed=1.0, **extra):
    record = {'name': name, 'command': command, 'lines': lines, 'elapsed_ms': elapsed, 'waited_ms': elapsed,
              'error': None, 'error_message': None, 'bare_lf': False, 'unrequested': False}
    record.update(extra)
    return record


def raw_record(steps, tls=None):
    return {'target': {'host': 'mx1.fabrikam.test', 'port': 25, 'address': '192.0.2.25', 'ip_version': 4,
                       'source_address': '192.0.2.1'},
            'steps': steps, 'tls': dict(TLS_NONE, **(tls or {})), 'transcript': ['<- 220 mx1'], 'elapsed_ms': 12.0}


def connect():
    return step('connect', 'OPEN mx1.fabrikam.test 25', None, attempts=[
        {'address': '192.0.2.25', 'error': None, 'message': None, 'elapsed_ms': 0.5}])


def test_the_python_engine_goes_through_build_result():
    options = dict(BASE, send_message=True)
    opener, resolver = fake_transport(FakeSocket(postfix_like()))
    probe = SmtpProbe(options, opener=opener, resolver=resolver)
    raw = probe.run_raw()
    json.dumps(raw)   # the seam is JSON: the Windows engine sends it over
    result = build_result(probe.options, raw)
    assert result['queued_as'] == 'D50CD160033'
    assert result['recipients']['nobody@fabrikam.test']['code'] == 550
    assert [each['name'] for each in result['steps']] == [each['name'] for each in raw['steps']]


def test_a_hand_written_record_gives_the_result_a_windows_engine_needs():
    raw = raw_record([
        connect(),
        step('banner', None, ['220 mx1.fabrikam.test ESMTP Postfix']),
        step('ehlo', 'EHLO contoso.test', EHLO),
        step('mail', 'MAIL FROM:<chris@contoso.test> SIZE=2000', ['250 2.1.0 Ok'], held=True),
        step('rcpt', 'RCPT TO:<kate@fabrikam.test>', ['251 2.1.5 will forward'], held=True),
        step('rcpt', 'RCPT TO:<nobody@fabrikam.test>', ['550 5.1.1 <nobody@fabrikam.test>: User unknown'], held=True),
        step('data', 'DATA', ['354 go ahead']),
        step('message', '<message: 2000 bytes, 9 lines>', ['250 2.0.0 Ok: queued as 4ABC'], held=True),
        step('quit', 'QUIT', None, error_message='the server closed the connection'),
    ])
    result = build_result(validate_options(dict(BASE, send_message=True)), raw)
    assert result['server'] == {'software': 'postfix'}
    assert result['capabilities']['size'] == 1000 and result['capabilities_before_tls'] is None
    assert result['recipients'] == {
        'kate@fabrikam.test': {'accepted': True, 'code': 251, 'enhanced': '2.1.5', 'text': 'will forward'},
        'nobody@fabrikam.test': {'accepted': False, 'code': 550, 'enhanced': '5.1.1', 'text': '<nobody@fabrikam.test>: User unknown'}}
    assert result['queued_as'] == '4ABC' and result['message_accepted'] is True
    # The quit without 221 is fine; the refused recipient is not.
    assert result['steps'][-1]['ok'] is True and result['passed'] is False
    assert result['diagnosis']['step'] == 'rcpt' and result['diagnosis']['code'] == 550
    assert errors.SIZE_EXCEEDED in result['diagnosis']['conditions']


def test_helo_fallback_and_malformed_lines_are_read_from_the_record():
    raw = raw_record([
        connect(),
        step('banner', None, ['220 old.fabrikam.test']),
        step('ehlo', 'EHLO contoso.test', ['502 5.5.2 command not recognized']),
        step('helo', 'HELO contoso.test', ['250 old.fabrikam.test']),
        step('mail', 'MAIL FROM:<chris@contoso.test>', ['250 ok', '2x0 broken']),
    ])
    result = build_result(dict(BASE, quit_after='mail'), raw)
    ehlo = result['steps'][2]
    assert ehlo['ok'] is True and ehlo['fallback'] == 'helo'
    assert result['capabilities']['esmtp'] is False and result['tls']['offered'] is False
    assert any('accepted HELO' in warning for warning in result['warnings'])
    assert result['steps'][4]['reply'] is None and result['steps'][4]['error'] == errors.REPLY_MALFORMED
    assert result['diagnosis']['step'] == 'mail'


def test_lenient_tls_verify_and_secrets_are_handled_in_the_builder():
    raw = raw_record([
        connect(),
        step('banner', None, ['220 mx1.fabrikam.test ESMTP']),
        step('ehlo', 'EHLO contoso.test', ['250-mx1', '250-STARTTLS', '250 AUTH PLAIN']),
        step('starttls', 'STARTTLS', ['220 ready'], error=errors.TLS_CERT_SELF_SIGNED, error_message='self-signed'),
        step('ehlo_tls', 'EHLO contoso.test', ['250-mx1', '250 AUTH PLAIN']),
        step('auth', 'AUTH PLAIN ********', ['535 5.7.8 bad password Pa55-Unique-9']),
    ], tls={'used': True, 'version': 'TLSv1.3', 'verify_error': errors.TLS_CERT_SELF_SIGNED, 'verify_message': 'self-signed'})
    options = dict(BASE, tls='starttls', tls_verify=False, auth={'username': 'chris', 'password': 'Pa55-Unique-9'})
    result = build_result(options, raw)
    assert result['steps'][3]['ok'] is True and result['tls']['verified'] is False
    assert result['capabilities_before_tls']['starttls'] is True and result['capabilities']['starttls'] is False
    assert 'Pa55-Unique-9' not in json.dumps(result)
    assert result['diagnosis']['step'] == 'auth'


def test_size_note_only_above_the_announced_limit():
    # RFC 1870: a message of exactly the announced SIZE fits.
    def conditions(size):
        raw = raw_record([connect(), step('banner', None, ['220 mx1']), step('ehlo', 'EHLO contoso.test', EHLO),
                          step('mail', 'MAIL FROM:<chris@contoso.test> SIZE=%d' % size, ['250 2.1.0 Ok'])])
        return build_result(dict(BASE, quit_after='mail'), raw)['diagnosis']['conditions']
    assert errors.SIZE_EXCEEDED not in conditions(1000)
    assert errors.SIZE_EXCEEDED in conditions(1001)


STARTTLS_FIRST = ['530 5.7.0 Must issue a STARTTLS command first']


def test_the_classifier_knows_tls_is_active_after_starttls():
    raw = raw_record([connect(), step('banner', None, ['220 mx1']),
                      step('ehlo', 'EHLO contoso.test', ['250-mx1', '250 STARTTLS']),
                      step('starttls', 'STARTTLS', ['220 2.0.0 Ready to start TLS']),
                      step('ehlo_tls', 'EHLO contoso.test', ['250-mx1', '250 PIPELINING']),
                      step('mail', 'MAIL FROM:<chris@contoso.test>', STARTTLS_FIRST)], tls={'used': True})
    assert build_result(dict(BASE, tls='starttls'), raw)['diagnosis']['category'] == 'starttls_required_despite_tls'
    plain = raw_record([connect(), step('banner', None, ['220 mx1']), step('ehlo', 'EHLO contoso.test', ['250 mx1']),
                        step('mail', 'MAIL FROM:<chris@contoso.test>', STARTTLS_FIRST)])
    assert build_result(dict(BASE), plain)['diagnosis']['category'] != 'starttls_required_despite_tls'


def test_the_classifier_knows_tls_is_active_with_implicit_tls():
    implicit = step('connect', 'OPEN mx1.fabrikam.test 465 (implicit TLS)', None,
                    attempts=[{'address': '192.0.2.25', 'error': None, 'message': None, 'elapsed_ms': 0.5}])
    raw = raw_record([implicit, step('banner', None, ['220 mx1']), step('ehlo', 'EHLO contoso.test', ['250 mx1']),
                      step('mail', 'MAIL FROM:<chris@contoso.test>', STARTTLS_FIRST)], tls={'used': True})
    result = build_result(dict(BASE, tls='implicit', port=465), raw)
    assert result['diagnosis']['category'] == 'starttls_required_despite_tls'
    assert result['tls']['offered'] is None
