# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""diagnose(): lookup order, tie-breakers, enhanced-code trust, the Exchange Telnet guide's cases."""

from __future__ import annotations

import time

import pytest

from ansible_collections.mailops.mailflow.plugins.module_utils._diagnosis import diagnose, diagnose_success, errors
from ansible_collections.mailops.mailflow.plugins.module_utils._diagnosis import catalog


def joined(result):
    return ' '.join(result['causes']).lower()


# --- lookup order: each tier proven by a case only that tier answers ---------------------------------------------

def test_tier_exact_needs_the_step():
    with_step = diagnose(step='mail', code=530, enhanced='5.7.1')
    assert (with_step['matched_by'], with_step['category']) == ('exact', 'anonymous_submission_refused')
    # Without the step, (530, 5.7.1) has no pair entry and no text: the RFC 3463 meaning answers instead.
    without = diagnose(code=530, enhanced='5.7.1')
    assert (without['matched_by'], without['category']) == ('enhanced_any_class', 'delivery_not_authorized')


def test_tier_code_enhanced():
    result = diagnose(code=500, enhanced='5.3.3')
    assert (result['matched_by'], result['category']) == ('code_enhanced', 'unrecognized_command')
    assert diagnose(enhanced='5.3.3')['category'] == 'feature_not_supported'


def test_tier_enhanced_alone():
    result = diagnose(code=550, enhanced='5.7.54')
    assert (result['matched_by'], result['category'], result['vendor']) == ('enhanced', 'relay_denied', 'exchange')
    assert diagnose(enhanced='5.7.54')['category'] == 'relay_denied'


def test_tier_enhanced_any_class():
    permanent = diagnose(code=552, enhanced='5.2.2')
    transient = diagnose(code=452, enhanced='4.2.2', text='mailbox full')
    assert permanent['matched_by'] == 'enhanced_any_class'
    assert permanent['category'] == 'mailbox_full' and permanent['status'] == 'permanent'
    assert transient['category'] == 'mailbox_full' and transient['status'] == 'transient'


def test_tier_class_subject():
    result = diagnose(code=550, enhanced='5.1.99')
    assert (result['matched_by'], result['category']) == ('class_subject', 'addressing_problem')
    assert diagnose(code=451, enhanced='4.7.999')['category'] == 'security_policy_problem'


def test_tier_step_code():
    banner = diagnose(step='banner', code=554)
    assert (banner['matched_by'], banner['category']) == ('step_code', 'session_refused')
    assert diagnose(code=554)['category'] == 'transaction_failed'
    assert diagnose(step='message', code=554)['category'] == 'message_rejected'


def test_tier_basic_code():
    result = diagnose(code=552)
    assert (result['matched_by'], result['category']) == ('code', 'storage_exceeded')


def test_tier_code_class_with_second_digit():
    result = diagnose(code=527)
    assert (result['matched_by'], result['category'], result['status']) == ('code_class', 'permanent_failure', 'permanent')
    assert any(note.startswith('x2z') for note in result['notes'])
    odd = diagnose(code=496)
    assert odd['status'] == 'transient' and any('does not define' in note for note in odd['notes'])


def test_tier_enhanced_class():
    result = diagnose(enhanced='4.9.9')
    assert (result['matched_by'], result['category'], result['status']) == ('enhanced_class', 'transient_failure', 'transient')


def test_tier_unknown():
    result = diagnose()
    assert (result['matched_by'], result['category']) == ('unknown', 'unknown')
    assert result['status'] in catalog.STATUSES


def test_tier_error_step_then_error():
    at_banner = diagnose(error=errors.CONNECTION_CLOSED, step='banner')
    after_data = diagnose(error=errors.CONNECTION_CLOSED, step='message')
    elsewhere = diagnose(error=errors.CONNECTION_CLOSED, step='connect')
    assert (at_banner['matched_by'], at_banner['category']) == ('error_step', 'closed_before_greeting')
    assert (after_data['matched_by'], after_data['category']) == ('error_step', 'closed_after_data')
    assert 'duplicates' in after_data['remedy']
    assert (elsewhere['matched_by'], elsewhere['category']) == ('error', 'connection_closed')


def test_unknown_error_name():
    result = diagnose(error='no_such_condition')
    assert result['category'] == 'unknown' and any('no_such_condition' in note for note in result['notes'])


# --- tie-breakers: text and port --------------------------------------------------------------------------------

@pytest.mark.parametrize('code,enhanced,text,category,vendor', [
    (554, '5.7.1', '<kate@fabrikam.test>: Relay access denied', 'relay_denied', 'postfix'),
    (454, '4.7.1', '<kate@fabrikam.test>: Relay access denied', 'relay_denied', 'postfix'),
    (530, '5.7.1', 'Client was not authenticated', 'anonymous_submission_refused', 'exchange'),
    (550, '5.7.1', 'Unable to relay', 'relay_denied', 'exchange'),
    (550, '5.7.1', 'Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org', 'dnsbl_listed', 'postfix'),
    (550, '5.7.1', 'Some other policy', 'delivery_not_authorized', None),
    (550, '5.7.27', 'The sender domain has null MX', 'sender_null_mx', None),
    (550, '5.7.27', 'Your email has been blocked because SPF did not pass', 'spf_failed', 'gmail'),
    (421, '4.7.0', 'mx1.fabrikam.test Error: too many errors', 'too_many_errors', 'postfix'),
    (421, '4.7.0', 'TLS required for RCPT domain, closing connection.', 'tls_required', 'gmail'),
    (421, '4.7.0', 'unexplained', 'security_policy_problem', None),
    (452, '4.3.1', 'Insufficient system resources', 'back_pressure', 'exchange'),
    (452, '4.3.1', 'Insufficient system storage', 'queue_disk_full', 'postfix'),
    (556, '5.1.10', 'Recipient address has null MX', 'null_mx', None),
    (550, '5.1.10', 'RESOLVER.ADR.RecipientNotFound; not found', 'user_unknown', 'exchange_online'),
])
def test_text_tie_breakers(code, enhanced, text, category, vendor):
    result = diagnose(code=code, enhanced=enhanced, text=text)
    assert (result['category'], result['vendor']) == (category, vendor)


def test_status_by_class_for_shared_vendor_entry():
    soft = diagnose(code=450, enhanced='4.7.1', text='Client host rejected: cannot find your reverse hostname, [192.0.2.7]')
    hard = diagnose(code=550, enhanced='5.7.1', text='Client host rejected: cannot find your reverse hostname, [192.0.2.7]')
    assert soft['category'] == hard['category'] == 'no_reverse_dns'
    assert (soft['status'], hard['status']) == ('transient', 'permanent')


def test_port_2525_internal_connector():
    internal = diagnose(step='mail', code=530, enhanced='5.7.1', text='Client was not authenticated', port=2525)
    normal = diagnose(step='mail', code=530, enhanced='5.7.1', text='Client was not authenticated', port=25)
    assert internal['category'] == 'internal_receive_connector'
    assert internal['summary'] == catalog.EXCHANGE_2525
    assert normal['category'] == 'anonymous_submission_refused'
    # A server known to be something else is not Exchange's internal connector.
    postfix = diagnose(step='mail', code=530, enhanced='5.7.1', port=2525, context={'server': 'postfix'})
    assert postfix['category'] != 'internal_receive_connector'
    # Port 2525 alone says nothing: the note needs Exchange (item 9; the Exchange cases are in test_diagnosis_context).
    other_failure = diagnose(step='rcpt', code=550, enhanced='5.1.1', port=2525)
    assert not any('2525' in note for note in other_failure['notes'])


def test_unusual_port_noted_for_connect_failures():
    assert any('not a usual SMTP port' in note for note in diagnose(error=errors.CONNECTION_REFUSED, port=2255)['notes'])
    assert not any('not a usual' in note for note in diagnose(error=errors.CONNECTION_REFUSED, port=25)['notes'])
    assert diagnose(error=errors.COMMAND_TIMEOUT, step='banner', port=465)['category'] == 'implicit_tls_port'


# --- enhanced-code trust ------------------------------------------------------------------------------------------

def test_untrusted_enhanced_is_skipped_and_noted():
    trusted = diagnose(code=550, enhanced='5.7.54')
    untrusted = diagnose(code=550, enhanced='5.7.54', enhanced_trusted=False)
    assert trusted['category'] == 'relay_denied'
    assert (untrusted['matched_by'], untrusted['category']) == ('code', 'mailbox_unavailable')
    assert any('ENHANCEDSTATUSCODES' in note for note in untrusted['notes'])
    assert diagnose(step='mail', code=530, enhanced='5.7.1', enhanced_trusted=False)['category'] == 'authentication_required'


def test_class_mismatch_noted_basic_code_decides():
    result = diagnose(step='rcpt', code=250, enhanced='5.1.1')
    assert result['status'] == 'ok' and result['category'] == 'recipient_ok'
    assert any('does not match' in note for note in result['notes'])
    # Even when the engine trusts the enhanced code, an enhanced-only entry cannot override the basic class.
    assert diagnose(code=250, enhanced='5.7.54', enhanced_trusted=True)['status'] == 'ok'
    assert diagnose(code=250, enhanced='5.7.54', enhanced_trusted=True)['category'] == 'action_completed'


def test_exact_pair_applies_despite_mismatch_unless_untrusted():
    pair = diagnose(code=550, enhanced='4.4.4', text='Mail received as unauthenticated ... ATTR5')
    assert (pair['category'], pair['status']) == ('tenant_without_mail_subscription', 'permanent')
    assert diagnose(code=550, enhanced='4.4.4', enhanced_trusted=False)['category'] == 'mailbox_unavailable'


def test_success_class_is_always_ok():
    assert diagnose(code=250, enhanced='2.5.0')['status'] == 'ok'
    assert diagnose(code=235, enhanced='2.7.0')['status'] == 'ok'
    assert diagnose(code=550, enhanced='5.1.5')['status'] == 'permanent'


def test_auth_and_tls_statuses():
    assert diagnose(step='auth', code=535, enhanced='5.7.8', text='Error: authentication failed: x')['status'] == 'auth'
    assert diagnose(code=535, enhanced='5.7.139')['category'] == 'smtp_auth_blocked_by_identity_policy'
    assert diagnose(code=530, enhanced='5.7.0', text='Must issue a STARTTLS command first')['status'] == 'tls'


# --- the Exchange Telnet guide: every case ------------------------------------------------------------------------

def test_guide_open_refused():
    result = diagnose(error=errors.CONNECTION_REFUSED, step='connect', port=25)
    assert result['status'] == 'connection'
    assert result['category'] == 'destination_firewall_or_service_down'
    causes = joined(result)
    assert 'service' in causes and 'firewall' in causes and 'port' in causes


def test_guide_open_timeout():
    result = diagnose(error=errors.CONNECT_TIMEOUT, step='connect')
    assert result['status'] == 'timeout'
    causes = joined(result)
    assert 'drop' in causes and 'source-side firewall' in causes and 'host is down' in causes and 'routing' in causes


def test_guide_open_wrong_name_or_ip():
    unresolved = diagnose(error=errors.HOST_UNRESOLVED)
    assert unresolved['status'] == 'dns' and 'fqdn' in joined(unresolved)
    assert 'wrong ip' in joined(diagnose(error=errors.NO_ROUTE))


def test_guide_ehlo_invalid_domain():
    for step in ('ehlo', 'helo'):
        result = diagnose(step=step, code=501, enhanced='5.5.4', text='Invalid domain name')
        assert (result['matched_by'], result['category']) == ('exact', 'invalid_helo_domain')
        assert 'invalid characters' in joined(result) and 'connection restriction' in joined(result)


def test_guide_ehlo_fallback_to_helo():
    result = diagnose(step='ehlo', code=502)
    assert result['category'] == 'ehlo_not_supported' and 'HELO' in result['remedy']


def test_guide_mail_from():
    invalid = diagnose(step='mail', code=550, enhanced='5.1.7', text='Invalid address')
    anonymous = diagnose(step='mail', code=530, enhanced='5.7.1', text='Client was not authenticated')
    assert invalid['category'] == 'invalid_sender' and 'syntax' in joined(invalid)
    assert anonymous['category'] == 'anonymous_submission_refused' and anonymous['status'] == 'auth'
    assert 'receive connector' in joined(anonymous) and 'anonymous' in joined(anonymous)


def test_guide_rcpt_user_unknown():
    result = diagnose(step='rcpt', code=550, enhanced='5.1.1', text='User unknown')
    assert (result['category'], result['status']) == ('user_unknown', 'permanent')


@pytest.mark.parametrize('step', ['ehlo', 'mail', 'rcpt', 'data', 'quit', None])
def test_guide_unrecognized_command_at_any_step(step):
    result = diagnose(step=step, code=500, enhanced='5.3.3', text='Unrecognized command')
    assert (result['category'], result['status']) == ('unrecognized_command', 'protocol')


@pytest.mark.parametrize('code,category,status', [
    (260, 'success', 'ok'), (360, 'intermediate', 'ok'), (460, 'transient_failure', 'transient'),
    (560, 'permanent_failure', 'permanent'),
])
def test_guide_class_table(code, category, status):
    result = diagnose(code=code)
    assert (result['matched_by'], result['category'], result['status']) == ('code_class', category, status)
    assert 'Exchange Telnet guide: SMTP reply codes' in result['references']
    assert 'RFC 5321 4.2.1' in result['references']


@pytest.mark.parametrize('step,code,enhanced,text,category', [
    ('banner', 220, None, 'mail1.fabrikam.test Microsoft ESMTP MAIL Service ready at Fri, 5 Aug 2016', 'service_ready'),
    ('ehlo', 250, None, 'mail1.fabrikam.test Hello [172.16.0.5]', 'helo_accepted'),
    ('mail', 250, '2.1.0', 'Sender OK', 'sender_ok'),
    ('rcpt', 250, '2.1.5', 'Recipient OK', 'recipient_ok'),
    ('data', 354, None, 'Start mail input; end with <CRLF>.<CRLF>', 'start_mail_input'),
    ('message', 250, '2.6.0', '<c89b4fcc@mail1.fabrikam.test> [InternalId=5111011082268] Queued mail for delivery',
     'message_queued'),
    ('quit', 221, '2.0.0', 'Service closing transmission channel', 'closing'),
])
def test_guide_successful_session(step, code, enhanced, text, category):
    result = diagnose(step=step, code=code, enhanced=enhanced, text=text)
    assert (result['status'], result['category']) == ('ok', category)


def test_guide_exchange_banner_is_recognised():
    result = diagnose(step='banner', code=220, text='mail1.fabrikam.test Microsoft ESMTP MAIL Service ready')
    assert result['vendor'] == 'exchange'


def test_guide_port_2525_condition():
    result = diagnose(error=errors.PORT_2525_NOTE)
    assert result['category'] == 'internal_receive_connector'
    assert result['notes'] and 'anonymous' in result['summary']


# --- notes for non-failures ----------------------------------------------------------------------------------------

def test_tarpit_is_ok_with_note():
    result = diagnose(error=errors.TARPIT, step='rcpt')
    assert result['status'] == 'ok' and any('Slow is not failed' in note for note in result['notes'])


def test_dsn_not_offered_is_a_warning():
    result = diagnose(error=errors.DSN_NOT_OFFERED)
    assert result['status'] == 'ok' and any(note.startswith('Warning') for note in result['notes'])


def test_diagnose_success_by_last_step():
    assert diagnose_success(step='rcpt')['category'] == 'recipients_accepted'
    assert diagnose_success(step='message', code=250, enhanced='2.6.0')['category'] == 'message_queued'
    assert diagnose_success(step='quit')['category'] == 'dialogue_ok'
    default = diagnose_success(notes=['Warning: slow RCPT'])
    assert default['status'] == 'ok' and default['notes'] == ['Warning: slow RCPT']
    assert diagnose_success(step='weird', code='nope')['status'] == 'ok'


# --- results are fresh and the lookup is fast ------------------------------------------------------------------------

def test_result_is_a_new_dict_each_call():
    first = diagnose(step='rcpt', code=550, enhanced='5.1.1')
    first['causes'].append('mutated')
    first['notes'].append('mutated')
    first['category'] = 'mutated'
    second = diagnose(step='rcpt', code=550, enhanced='5.1.1')
    assert second['category'] == 'user_unknown'
    assert 'mutated' not in second['causes'] and 'mutated' not in second['notes']
    assert first is not second


def test_result_shape():
    result = diagnose(step='rcpt', code=550, enhanced='5.1.1')
    assert set(result) == {'status', 'step', 'code', 'enhanced', 'error', 'category', 'summary', 'causes', 'remedy',
                           'notes', 'references', 'vendor', 'matched_by'}


def test_lookup_is_fast_enough_for_hot_loops():
    calls = [dict(step='rcpt', code=550, enhanced='5.1.1', text='User unknown in local recipient table'),
             dict(code=421, enhanced='4.7.0', text='Error: too many connections'),
             dict(error=errors.CONNECT_TIMEOUT, step='connect'),
             dict(code=527)]
    started = time.perf_counter()
    for _round in range(2500):
        for kwargs in calls:
            diagnose(**kwargs)
    elapsed = time.perf_counter() - started
    # 10000 lookups; measured around 0.1 s on the 2-core dev machine. The bound only catches a linear scan.
    assert elapsed < 3.0, elapsed


def test_non_ascii_digits_are_not_a_port():
    # '²' passes str.isdigit() but int() refuses it (found by the property test).
    assert diagnose(error=errors.CONNECTION_REFUSED, port='\u00b2')['category']
