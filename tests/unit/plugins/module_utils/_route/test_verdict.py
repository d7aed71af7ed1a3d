# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Verdict logic on fabricated probe results: MTA order, fallback, permanent rejection, no network."""

from __future__ import annotations

import pytest

from ansible_collections.mailops.mailflow.plugins.module_utils._route import verdict as V
from ansible_collections.mailops.mailflow.plugins.module_utils._route.plan import plan_attempts

KATE = 'kate@fabrikam.test'
ADMIN = 'admin@fabrikam.test'


# --- fabricated smtp_probe results ---------------------------------------------------------------------------------

def step(name, code=None, enhanced=None, text='', error=None):
    reply = None if code is None else {'code': code, 'enhanced': enhanced, 'lines': ['%s %s' % (code, text)], 'text': text}
    return {'name': name, 'command': name.upper(), 'reply': reply, 'elapsed_ms': 1.0, 'ok': error is None,
            'error': error, 'error_message': error and ('%s happened' % error)}


def probe(steps, recipients=None, message_accepted=False, passed=None):
    return {'steps': steps, 'recipients': recipients or {}, 'message_accepted': message_accepted,
            'passed': passed if passed is not None else all(item['ok'] for item in steps)}


def greeting():
    return [step('connect'), step('banner', 220), step('ehlo', 250)]


def dialogue(rcpt_replies, mail=(250, '2.1.0'), data=None, message=None):
    """A full dialogue; rcpt_replies: {recipient: (code, enhanced)}."""
    steps = greeting() + [step('mail', *mail)]
    recipients = {}
    for recipient, (code, enhanced) in rcpt_replies.items():
        steps.append(step('rcpt', code, enhanced, 'reply for %s' % recipient))
        recipients[recipient] = {'accepted': code // 100 == 2, 'code': code, 'enhanced': enhanced, 'text': 'reply for %s' % recipient}
    if data is not None:
        steps.append(step('data', *data))
    if message is not None:
        steps.append(step('message', *message))
    steps += [step('rset', 250), step('quit', 221)]
    accepted = message is not None and message[0] // 100 == 2
    return probe(steps, recipients, message_accepted=accepted)


def accepts(*recipients):
    return dialogue(dict((recipient, (250, '2.1.5')) for recipient in recipients or (KATE,)))


def refused():
    return probe([step('connect', error='connection_refused')])


def timed_out():
    return probe([step('connect', error='connect_timeout')])


def rcpt(code, enhanced, recipient=KATE):
    return dialogue({recipient: (code, enhanced)})


# --- fabricated mx_lookup records ------------------------------------------------------------------------------------

def exchanger(preference, host, *addresses, **extra):
    entry = {'preference': preference, 'host': host, 'addresses': [{'ip': ip, 'family': 'ipv4'} for ip in addresses],
             'usable': bool(addresses), 'implicit': False, 'warnings': [] if addresses else ['%s has no A or AAAA record' % host]}
    entry.update(extra)
    return entry


def record(*exchangers, **extra):
    entry = {'domain': 'fabrikam.test', 'status': 'ok', 'exchangers': list(exchangers), 'diagnosis': None}
    entry.update(extra)
    return entry


TWO_MX = record(exchanger(20, 'mx2.fabrikam.test', '127.0.0.12'), exchanger(10, 'mx1.fabrikam.test', '127.0.0.11'))


def conclude(mx_record, results, recipients=(KATE,), tls_verify=False):
    attempts, unusable = plan_attempts(mx_record)
    assert len(results) == len(attempts)
    outcomes = [None if result is None else V.classify_probe(result, list(recipients), tls_verify) for result in results]
    units = list(recipients) or [V.SESSION]
    return V.build_verdict(mx_record, attempts, outcomes, units, unusable, port=25)


# --- plan ------------------------------------------------------------------------------------------------------------

def test_plan_orders_by_preference_then_host_and_expands_addresses():
    mx_record = record(exchanger(20, 'b.test', '127.0.0.3'), exchanger(10, 'z.test', '127.0.0.1', '127.0.0.2'),
                       exchanger(10, 'a.test'), exchanger(20, 'a2.test', '127.0.0.4'))
    attempts, unusable = plan_attempts(mx_record)
    assert [(attempt['host'], attempt['address']) for attempt in attempts] == [
        ('z.test', '127.0.0.1'), ('z.test', '127.0.0.2'), ('a2.test', '127.0.0.4'), ('b.test', '127.0.0.3')]
    assert [attempt['order'] for attempt in attempts] == [0, 1, 2, 3]
    assert [entry['host'] for entry in unusable] == ['a.test']


@pytest.mark.parametrize('status', ['null_mx', 'nxdomain', 'no_mail', 'servfail', 'timeout', 'error'])
def test_plan_is_empty_without_exchangers(status):
    assert plan_attempts(record(status=status)) == ([], [])


# --- MTA semantics ---------------------------------------------------------------------------------------------------

def test_primary_refused_falls_back_to_secondary_and_says_why():
    verdict, roles = conclude(TWO_MX, [refused(), accepts()])
    assert verdict['deliverable'] is True
    assert verdict['outcome'] == 'deliverable'
    assert verdict['via'] == {'host': 'mx2.fabrikam.test', 'address': '127.0.0.12', 'preference': 20, 'implicit': False,
                              'equal_preference_hosts': []}
    assert verdict['fallback_used'] is True
    [failure] = verdict['failures']
    assert (failure['host'], failure['address'], failure['kind'], failure['error']) == (
        'mx1.fabrikam.test', '127.0.0.11', 'refused', 'connection_refused')
    assert failure['diagnosis']['error'] == 'connection_refused'
    assert failure['diagnosis']['status'] == 'connection'
    assert verdict['diagnosis']['status'] == 'ok'
    assert roles == ['failed', 'accepted']
    assert 'mx1.fabrikam.test' in verdict['summary'] and 'deliverable via mx2.fabrikam.test' in verdict['summary']


def test_primary_accepting_means_no_fallback_and_secondary_not_used():
    verdict, roles = conclude(TWO_MX, [accepts(), refused()])
    assert verdict['deliverable'] is True
    assert verdict['via']['host'] == 'mx1.fabrikam.test'
    assert verdict['fallback_used'] is False
    assert verdict['failures'] == []
    assert roles == ['accepted', 'not_used']


def test_permanent_rcpt_rejection_does_not_fall_back():
    verdict, roles = conclude(TWO_MX, [rcpt(550, '5.1.1'), accepts()])
    assert verdict['deliverable'] is False
    assert verdict['outcome'] == 'rejected'
    assert verdict['via'] is None
    assert verdict['fallback_used'] is False
    assert verdict['failures'] == []
    assert verdict['decided_by']['host'] == 'mx1.fabrikam.test'
    assert (verdict['decided_by']['code'], verdict['decided_by']['enhanced']) == (550, '5.1.1')
    assert verdict['recipients'][KATE]['outcome'] == 'rejected'
    assert verdict['recipients'][KATE]['host'] == 'mx1.fabrikam.test'
    assert verdict['diagnosis']['category'] == 'user_unknown'
    assert verdict['diagnosis']['status'] == 'permanent'
    # The secondary accepted, but an MTA never gets there.
    assert roles == ['rejected', 'not_used']
    assert 'mx2' not in verdict['summary']


def test_transient_rcpt_reply_falls_back():
    verdict, roles = conclude(TWO_MX, [rcpt(451, '4.3.0'), accepts()])
    assert verdict['deliverable'] is True
    assert verdict['via']['host'] == 'mx2.fabrikam.test'
    assert verdict['fallback_used'] is True
    assert verdict['failures'][0]['kind'] == 'transient'
    assert verdict['failures'][0]['code'] == 451
    assert roles == ['failed', 'accepted']


@pytest.mark.parametrize('results, outcome', [
    ([refused(), refused()], 'all_refused'),
    ([timed_out(), timed_out()], 'all_timed_out'),
    ([refused(), timed_out()], 'unreachable'),
    ([rcpt(451, '4.7.1'), rcpt(450, '4.2.0')], 'transient'),
    ([refused(), rcpt(451, '4.7.1')], 'deferred'),
])
def test_nothing_decided_names_why(results, outcome):
    verdict, roles = conclude(TWO_MX, results)
    assert verdict['deliverable'] is False
    assert verdict['outcome'] == outcome
    assert verdict['via'] is None
    assert [failure['host'] for failure in verdict['failures']] == ['mx1.fabrikam.test', 'mx2.fabrikam.test']
    assert roles == ['failed', 'failed']
    # The queue shows the last failure, as an MTA would.
    last = verdict['failures'][-1]
    assert verdict['diagnosis']['step'] == last['step']
    assert 'retry' in verdict['summary']


def test_all_timed_out_diagnosis_is_the_catalog_timeout():
    verdict, _roles = conclude(TWO_MX, [timed_out(), timed_out()])
    assert verdict['diagnosis']['error'] == 'connect_timeout'
    assert verdict['diagnosis']['status'] == 'timeout'


@pytest.mark.parametrize('status, outcome, category', [
    ('null_mx', 'null_mx', 'null_mx'),
    ('nxdomain', 'nxdomain', 'domain_not_found'),
    ('no_mail', 'no_mail', 'no_mail_exchanger'),
    ('servfail', 'dns_failure', 'dns_server_failure'),
    ('timeout', 'dns_failure', 'dns_timeout'),
])
def test_dns_outcomes_need_no_probe(status, outcome, category):
    from ansible_collections.mailops.mailflow.plugins.module_utils._dns.mx import STATUS_CONDITIONS
    from ansible_collections.mailops.mailflow.plugins.module_utils._diagnosis import diagnose
    mx_record = record(status=status, diagnosis=diagnose(step='mx', error=STATUS_CONDITIONS[status]))
    verdict, roles = conclude(mx_record, [])
    assert verdict['deliverable'] is False
    assert verdict['outcome'] == outcome
    assert verdict['diagnosis']['category'] == category
    assert verdict['probed'] == 0
    assert roles == []


def test_no_usable_exchanger():
    verdict, _roles = conclude(record(exchanger(10, 'nohost.dangling.test')), [])
    assert verdict['outcome'] == 'no_usable_exchanger'
    assert verdict['diagnosis']['category'] == 'no_usable_exchanger'


def test_dangling_primary_is_a_failure_before_the_fallback():
    mx_record = record(exchanger(10, 'nohost.dangling.test'), exchanger(20, 'mx2.fabrikam.test', '127.0.0.12'))
    verdict, _roles = conclude(mx_record, [accepts()])
    assert verdict['deliverable'] is True
    assert verdict['fallback_used'] is True
    [failure] = verdict['failures']
    assert (failure['host'], failure['kind'], failure['address']) == ('nohost.dangling.test', 'no_address', None)
    assert failure['diagnosis']['category'] == 'mx_without_address'


def test_second_address_of_the_primary_is_not_an_mx_fallback():
    mx_record = record(exchanger(10, 'mx1.fabrikam.test', '127.0.0.11', '127.0.0.21'), exchanger(20, 'mx2.fabrikam.test', '127.0.0.12'))
    verdict, roles = conclude(mx_record, [refused(), accepts(), accepts()])
    assert verdict['via']['address'] == '127.0.0.21'
    assert verdict['fallback_used'] is False
    assert [failure['address'] for failure in verdict['failures']] == ['127.0.0.11']
    assert roles == ['failed', 'accepted', 'not_used']


@pytest.mark.parametrize('steps, outcome, kind', [
    (greeting()[:1] + [step('banner', 554, '5.3.2')], 'deferred', 'failed'),
    (greeting()[:1] + [step('banner', 421, '4.3.2')], 'deferred', 'transient'),
    (greeting()[:2] + [step('ehlo', 550, '5.7.1'), step('helo', 550, '5.7.1')], 'rejected', 'permanent'),
    (greeting() + [step('mail', 553, '5.1.7')], 'rejected', 'permanent'),
    (greeting() + [step('mail', 452, '4.3.1')], 'deferred', 'transient'),
    (greeting() + [step('mail', 250), step('rcpt', error='command_timeout')], 'deferred', 'timeout'),
    (greeting() + [step('starttls', error='starttls_not_offered')], 'deferred', 'failed'),
    (greeting() + [step('starttls', 220, error='tls_cert_unknown_ca')], 'deferred', 'failed'),
])
def test_session_failures(steps, outcome, kind):
    classified = V.classify_probe(probe(steps), [KATE], tls_verify=True)
    assert classified['units'][KATE]['outcome'] == outcome
    assert classified['units'][KATE]['kind'] == kind


def test_ehlo_rejected_then_helo_accepted_is_the_fallback_not_a_failure():
    steps = greeting()[:2] + [step('ehlo', 502, '5.5.2'), step('helo', 250), step('mail', 250), step('rcpt', 250, '2.1.5')]
    classified = V.classify_probe(probe(steps, {KATE: {'accepted': True, 'code': 250, 'enhanced': '2.1.5', 'text': 'ok'}}), [KATE])
    assert classified['failure'] is None
    assert classified['units'][KATE]['outcome'] == 'accepted'


def test_opportunistic_tls_goes_on_past_an_untrusted_certificate():
    steps = greeting() + [step('starttls', 220, error='tls_cert_unknown_ca'), step('connect'), step('banner', 220),
                          step('ehlo', 250), step('starttls', 220), step('ehlo_tls', 250), step('mail', 250), step('rcpt', 250, '2.1.5')]
    result = probe(steps, {KATE: {'accepted': True, 'code': 250, 'enhanced': '2.1.5', 'text': 'ok'}})
    assert V.classify_probe(result, [KATE], tls_verify=False)['units'][KATE]['outcome'] == 'accepted'
    assert V.classify_probe(result, [KATE], tls_verify=True)['units'][KATE]['outcome'] == 'deferred'


def test_a_certificate_that_expires_soon_does_not_stop_an_mta():
    steps = greeting() + [step('starttls', 220, error='tls_cert_expires_soon'), step('ehlo_tls', 250), step('mail', 250),
                          step('rcpt', 250, '2.1.5')]
    result = probe(steps, {KATE: {'accepted': True, 'code': 250, 'enhanced': '2.1.5', 'text': 'ok'}})
    assert V.classify_probe(result, [KATE], tls_verify=True)['units'][KATE]['outcome'] == 'accepted'


def test_reply_codes_decide_not_expect():
    # expect: {rcpt: [550]} makes the probe pass; the MTA still bounces.
    result = rcpt(550, '5.1.1')
    result['passed'] = True
    assert V.classify_probe(result, [KATE])['units'][KATE]['outcome'] == 'rejected'


def test_message_rejected_after_data_is_permanent_and_deferred_when_transient():
    rejected = dialogue({KATE: (250, '2.1.5')}, data=(354, None), message=(554, '5.6.0'))
    deferred = dialogue({KATE: (250, '2.1.5')}, data=(451, '4.3.0'))
    queued = dialogue({KATE: (250, '2.1.5')}, data=(354, None), message=(250, '2.0.0'))
    assert V.classify_probe(rejected, [KATE])['units'][KATE]['outcome'] == 'rejected'
    assert V.classify_probe(deferred, [KATE])['units'][KATE]['outcome'] == 'deferred'
    assert V.classify_probe(queued, [KATE])['units'][KATE]['outcome'] == 'accepted'


def test_each_recipient_follows_its_own_path():
    primary = dialogue({KATE: (250, '2.1.5'), ADMIN: (452, '4.2.2')})
    secondary = accepts(KATE, ADMIN)
    verdict, roles = conclude(TWO_MX, [primary, secondary], recipients=(KATE, ADMIN))
    assert verdict['deliverable'] is True
    assert verdict['recipients'][KATE]['host'] == 'mx1.fabrikam.test'
    assert verdict['recipients'][ADMIN]['host'] == 'mx2.fabrikam.test'
    assert roles == ['accepted', 'accepted']


def test_partial_when_one_recipient_is_rejected():
    verdict, _roles = conclude(TWO_MX, [dialogue({KATE: (250, '2.1.5'), ADMIN: (550, '5.1.1')}), accepts(KATE, ADMIN)],
                               recipients=(KATE, ADMIN))
    assert verdict['outcome'] == 'partial'
    assert verdict['deliverable'] is False
    assert verdict['via']['host'] == 'mx1.fabrikam.test'
    assert verdict['recipients'][ADMIN]['outcome'] == 'rejected'
    assert verdict['diagnosis']['category'] == 'user_unknown'


def test_without_recipients_the_session_is_what_is_decided():
    reachable = probe(greeting() + [step('quit', 221)])
    verdict, _roles = conclude(TWO_MX, [refused(), reachable], recipients=())
    assert verdict['deliverable'] is True
    assert verdict['via']['host'] == 'mx2.fabrikam.test'
    assert verdict['recipients'] == {}


def test_equal_preferences_are_reported_as_a_group():
    mx_record = record(exchanger(10, 'a.equal.test', '127.0.0.21'), exchanger(10, 'b.equal.test', '127.0.0.22'))
    verdict, _roles = conclude(mx_record, [accepts(), accepts()])
    assert verdict['via']['equal_preference_hosts'] == ['a.equal.test', 'b.equal.test']
    assert verdict['shuffle_dependent'] is False
    assert any('at random' in note for note in verdict['notes'])


def test_disagreeing_equal_preferences_make_the_verdict_shuffle_dependent():
    mx_record = record(exchanger(10, 'a.equal.test', '127.0.0.21'), exchanger(10, 'b.equal.test', '127.0.0.22'))
    verdict, _roles = conclude(mx_record, [accepts(), rcpt(550, '5.1.1')])
    assert verdict['deliverable'] is True
    assert verdict['shuffle_dependent'] is True
    assert any('b.equal.test' in note for note in verdict['notes'])


def test_first_success_needs_only_the_attempts_an_mta_makes():
    units = [KATE]
    classified = [V.classify_probe(refused(), units), None, None]
    assert V.next_needed(V.walk(classified, units)) == 1
    classified[1] = V.classify_probe(accepts(), units)
    assert V.next_needed(V.walk(classified, units)) is None
    rejected = [V.classify_probe(rcpt(550, '5.1.1'), units), None]
    assert V.next_needed(V.walk(rejected, units)) is None


def test_outcomes_list_is_complete():
    seen = set(outcome for outcome, _kinds, _exact in V._UNDECIDED_OUTCOMES) | set(V._DNS_OUTCOMES.values())
    seen |= {'deliverable', 'partial', 'rejected', 'no_usable_exchanger', 'deferred'}
    assert seen == set(V.OUTCOMES)
