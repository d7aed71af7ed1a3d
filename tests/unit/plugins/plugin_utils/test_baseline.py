# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Baseline snapshots and their comparison, from facts captured in the real lab. No network."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.mailops.mailflow.plugins.plugin_utils import _baseline as B
from ansible_collections.mailops.mailflow.plugins.plugin_utils._report import ReportError

FIXTURE = os.path.join(os.path.dirname(__file__), 'fixtures', 'lab_facts.json')
MX2 = 'inbound/fabrikam.test/recipients_accepted/mx2.fabrikam.test'
EXCHANGE = 'inbound/exchange.test/recipients_accepted/mail1.exchange.test'
OPTIONAL = 'inbound/exchange.test/anonymous_accepted/mail-530.faultd.test'
MX_SET = 'inbound/fabrikam.test/mx_set/fabrikam.test'


def lab_facts():
    with open(FIXTURE, encoding='utf-8') as handle:
        return json.load(handle)['mailflow']


def fleet():
    return {'edge1': lab_facts(), 'edge2': lab_facts()}


def snap(facts, **kwargs):
    return B.build_snapshot(facts, created='2026-01-01T00:00:00Z', **kwargs)


def kinds(diff):
    return sorted((change['host'], change['id'], change['kind']) for change in diff['changes'])


def refused(entry, address):
    """The entry as it is when nothing listens on the server any more."""
    entry['passed'] = False
    entry['steps'] = [{'name': 'connect', 'command': 'OPEN %s 25' % address, 'ok': False, 'reply': None,
                       'error': 'connection_refused', 'error_message': '%s port 25: Connection refused' % address,
                       'elapsed_ms': 0.2}]
    entry['capabilities'] = dict((key, False) for key in entry['capabilities'])
    entry['capabilities'].update(greeting=None, auth=[], other=[], size=None, seen_client_address=None)
    entry['tls'] = {'mode': 'starttls', 'used': False, 'offered': None, 'certificate': None}
    entry['diagnosis'] = {'status': 'connection', 'step': 'connect', 'code': None, 'enhanced': None,
                          'error': 'connection_refused', 'category': 'destination_firewall_or_service_down',
                          'summary': 'Connection refused: the host answered, but nothing accepted the connection on that port.',
                          'causes': ['The SMTP service on the destination is stopped.'], 'remedy': 'Start it.'}
    return entry


# ----------------------------------------------------------------------------------------------- normalisation

@pytest.mark.parametrize('banner, expected', [
    ('mail1.exchange.test Microsoft ESMTP MAIL Service ready at Sun, 29 Nov 2026 01:51:21 +0000',
     'mail1.exchange.test Microsoft ESMTP MAIL Service ready at <date>'),
    ('mail1.contoso.com Microsoft ESMTP MAIL Service ready at Mon, 2 Feb 2026 10:00:00 -0800',
     'mail1.contoso.com Microsoft ESMTP MAIL Service ready at <date>'),
    ('mx.fabrikam.test ESMTP Sendmail 8.15.2/8.15.2/Debian-22; Tue, 3 Mar 2026 09:08:07 +0100 (CET)',
     'mx.fabrikam.test ESMTP Sendmail 8.15.2/8.15.2/Debian-22; <date>'),
    ('mx.google.com ESMTP d9443c01a7336-2a0a2fa1e9csi12345678ad.123 - gsmtp', 'mx.google.com ESMTP <id> - gsmtp'),
    ('smtp.fabrikam.test ready 2026-03-03T09:08:07Z', 'smtp.fabrikam.test ready <date>'),
    ('smtp.fabrikam.test Exim 4.96 Thu, 05 Mar 2026 11:12:13 +0000', 'smtp.fabrikam.test Exim 4.96 <date>'),
    ('gw.fabrikam.test service ready Mar 5 11:12:13 2026', 'gw.fabrikam.test service ready <date>'),
    ('gw.fabrikam.test time 11:12:13 local', 'gw.fabrikam.test time <time> local'),
    ('mx2.fabrikam.test ESMTP Postfix (Debian/GNU)', 'mx2.fabrikam.test ESMTP Postfix (Debian/GNU)'),
    ('mx01-exchanger-with-a-long-name.bigmx.test   ESMTP\tready', 'mx01-exchanger-with-a-long-name.bigmx.test ESMTP ready'),
    ('', ''),
])
def test_banner_normalisation(banner, expected):
    assert B.normalise_banner(banner) == expected


def test_banners_of_two_sessions_compare_equal():
    first = 'mail1.exchange.test Microsoft ESMTP MAIL Service ready at Sun, 29 Nov 2026 01:51:21 +0000'
    second = 'mail1.exchange.test Microsoft ESMTP MAIL Service ready at Mon, 30 Nov 2026 23:01:09 +0000'
    assert B.normalise_banner(first) == B.normalise_banner(second)


# ---------------------------------------------------------------------------------------------------- snapshot

def test_snapshot_keeps_what_should_stay_the_same():
    snapshot = snap(fleet())
    assert (snapshot['format'], snapshot['version'], snapshot['host_order']) == ('mailops.mailflow/baseline', 1, ['edge1', 'edge2'])
    exchange = snapshot['hosts']['edge1'][EXCHANGE]
    assert (exchange['passed'], exchange['status'], exchange['diagnosis']['category']) == (True, 'pass', 'recipients_accepted')
    assert exchange['codes']['rcpt <kate@exchange.test>'] == '250 2.1.5'
    assert exchange['codes']['connect'] == 'connected'
    endpoint = exchange['endpoints']['127.0.2.1:25']
    assert endpoint['banner'] == 'mail1.exchange.test Microsoft ESMTP MAIL Service ready at <date>'
    assert 'STARTTLS' in endpoint['capabilities'] and 'SIZE 37748736' in endpoint['capabilities']
    assert endpoint['certificate']['issuer'] == 'CN=mailflow lab CA, O=mailops.mailflow lab'
    assert set(endpoint['certificate']) == {'sha256', 'not_after', 'issuer'}
    mx2 = snapshot['hosts']['edge1'][MX2]
    assert mx2['codes']['rcpt <kate@fabrikam.test>'] == '250 2.1.5'
    assert mx2['codes']['rcpt <ghost@fabrikam.test>'] == '550 5.1.1'
    assert snapshot['hosts']['edge1'][MX_SET]['exchangers'] == ['10 mx1.fabrikam.test 127.0.0.11 ::1', '20 mx2.fabrikam.test 127.0.0.12']
    route = snapshot['hosts']['edge1']['outbound/primary-down.test/deliverable/primary-down.test']
    assert route['codes']['outcome'] == 'deliverable'
    assert route['codes']['down.primary-down.test [127.0.0.19] connect'] == 'connection_refused'
    assert 'mx2.fabrikam.test [127.0.0.12]' in route['endpoints']


def test_snapshot_leaves_out_timings_queue_ids_transcripts():
    facts = fleet()
    facts['edge1']['smtp']['exchange']['queued_as'] = 'D50CD160033'
    text = json.dumps(snap(facts))
    for word in ('elapsed_ms', 'D50CD160033', 'transcript', 'queued_as', '01:51:21', 'seen_client_address'):
        assert word not in text


def test_repeated_steps_are_numbered():
    codes = B.step_codes([{'name': 'connect'}, {'name': 'ehlo', 'reply': {'code': 250}}, {'name': 'connect', 'error': 'x'},
                          {'name': 'ehlo', 'reply': {'code': 250}}])
    assert codes == {'connect': 'connected', 'ehlo': '250', 'connect#2': 'x', 'ehlo#2': '250'}


def test_capabilities_without_ehlo_are_unknown_not_empty():
    assert B.capability_keywords({'greeting': None, 'esmtp': False}) is None
    assert B.capability_keywords({'greeting': 'x', 'esmtp': False}) == ['HELO only']
    assert B.capability_keywords({'greeting': 'x', 'esmtp': True, 'auth': ['plain', 'LOGIN']}, {'offered': True}) == [
        'AUTH LOGIN PLAIN', 'STARTTLS']


def test_snapshot_select_and_json_round_trip():
    snapshot = snap(fleet(), select="[?role=='inbound']")
    assert sorted(snapshot['hosts']['edge1']) == sorted([EXCHANGE, OPTIONAL, MX_SET, MX2, 'inbound/fabrikam.test/recipient_validation/mx1.fabrikam.test'])
    loaded = json.loads(json.dumps(snapshot))
    assert B.compare(loaded, snapshot)['changes'] == []


# ----------------------------------------------------------------------------------------------------- compare

def test_unchanged_estate_has_no_changes():
    diff = B.compare(snap(fleet()), snap(fleet()))
    assert (diff['verdict'], diff['changes'], diff['checks_unchanged']) == ('ok', [], 18)
    assert diff['line'] == 'mailflow baseline: no regressions (0 checks changed, 18 unchanged)'


def test_a_stopped_server_is_exactly_one_regression_per_host_that_saw_it():
    after = fleet()
    refused(after['edge1']['smtp']['exchange'], '127.0.2.1')
    diff = B.compare(snap(fleet()), snap(after))
    assert kinds(diff) == [('edge1', EXCHANGE, 'codes'), ('edge1', EXCHANGE, 'regression')]
    regression = diff['changes'][0]
    assert (regression['kind'], regression['before'], regression['after']) == ('regression', 'rcpt 250 2.1.5', 'connect connection_refused')
    assert regression['summary'].startswith('Connection refused')
    # steps the failed run never reached are not listed as changed codes; no banner/capability/certificate noise
    assert diff['changes'][1]['changes'] == {'connect': ['connected', 'connection_refused']}
    assert diff['verdict'] == 'regressed'
    assert diff['failing'] == [{'host': 'edge1', 'id': EXCHANGE, 'kind': 'regression'}]
    assert diff['line'] == ('mailflow baseline: 1 regression on 1 host: '
                            'recipients_accepted @ mail1.exchange.test (connect connection_refused) on edge1')


def test_regressions_on_many_hosts_stay_one_short_line():
    before = dict(('host%02d' % number, lab_facts()) for number in range(12))
    after = dict(('host%02d' % number, lab_facts()) for number in range(12))
    for facts in after.values():
        refused(facts['smtp']['exchange'], '127.0.2.1')
    diff = B.compare(snap(before), snap(after))
    assert diff['line'] == ('mailflow baseline: 12 regressions on 12 hosts: recipients_accepted @ mail1.exchange.test '
                            '(connect connection_refused) on host00, host01, host02 and 9 more hosts')


def test_optional_check_failing_now_is_listed_not_failing():
    before = fleet()
    before['edge1']['smtp']['exchange_530']['passed'] = True
    diff = B.compare(snap(before), snap(fleet()))
    assert ('edge1', OPTIONAL, 'optional_failure') in kinds(diff)
    assert diff['verdict'] == 'ok'


def test_fixed():
    after = fleet()
    after['edge2']['smtp']['mx2_rcpt']['passed'] = True
    diff = B.compare(snap(fleet()), snap(after))
    assert kinds(diff) == [('edge2', MX2, 'fixed')]
    assert diff['verdict'] == 'ok'
    assert diff['line'] == 'mailflow baseline: no regressions (1 check changed: 1 fixed, 17 unchanged)'


def test_changed_codes():
    after = fleet()
    rcpt = [step for step in after['edge1']['smtp']['exchange']['steps'] if step['name'] == 'rcpt'][0]
    rcpt['reply'].update(code=251, enhanced='2.1.5')
    diff = B.compare(snap(fleet()), snap(after))
    assert kinds(diff) == [('edge1', EXCHANGE, 'codes')]
    assert diff['changes'][0]['changes'] == {'rcpt <kate@exchange.test>': ['250 2.1.5', '251 2.1.5']}


def test_changed_capabilities():
    after = fleet()
    capabilities = after['edge1']['smtp']['exchange']['capabilities']
    capabilities['pipelining'] = False
    capabilities['auth'] = ['NTLM', 'LOGIN']
    diff = B.compare(snap(fleet()), snap(after))
    assert kinds(diff) == [('edge1', EXCHANGE, 'capabilities')]
    change = diff['changes'][0]
    assert (change['endpoint'], change['added'], change['removed']) == ('127.0.2.1:25', ['AUTH LOGIN NTLM'], ['AUTH NTLM', 'PIPELINING'])


def test_changed_certificate():
    after = fleet()
    certificate = after['edge2']['smtp']['exchange']['tls']['certificate']
    certificate.update(sha256='AA:BB', not_after='2030-01-01T00:00:00Z', days_left=1000, serial='01')
    diff = B.compare(snap(fleet()), snap(after))
    assert kinds(diff) == [('edge2', EXCHANGE, 'certificate')]
    assert sorted(diff['changes'][0]['changes']) == ['not_after', 'sha256']


def test_changed_banner_but_not_its_date():
    after = fleet()
    banner = [step for step in after['edge1']['smtp']['exchange']['steps'] if step['name'] == 'banner'][0]
    banner['reply']['lines'] = ['220 mail1.exchange.test Microsoft ESMTP MAIL Service ready at Wed, 2 Dec 2026 07:00:00 +0000']
    assert B.compare(snap(fleet()), snap(after))['changes'] == []
    banner['reply']['lines'] = ['220 mail1.exchange.test ESMTP Postfix']
    diff = B.compare(snap(fleet()), snap(after))
    assert kinds(diff) == [('edge1', EXCHANGE, 'banner')]
    assert diff['changes'][0]['after'] == 'mail1.exchange.test ESMTP Postfix'


def test_changed_mx_records():
    after = fleet()
    after['edge1']['mx']['fabrikam.test']['exchangers'][1]['addresses'] = [{'ip': '127.0.0.14', 'family': 'ipv4'}]
    diff = B.compare(snap(fleet()), snap(after))
    assert kinds(diff) == [('edge1', MX_SET, 'exchangers')]
    assert diff['changes'][0]['added'] == ['20 mx2.fabrikam.test 127.0.0.14']
    assert diff['changes'][0]['removed'] == ['20 mx2.fabrikam.test 127.0.0.12']


def test_added_and_removed_checks():
    after = fleet()
    del after['edge1']['smtp']['exchange']
    after['edge1']['smtp']['new'] = {'passed': False, 'labels': {'check': 'tls_required', 'role': 'inbound',
                                                                 'domain': 'exchange.test', 'target': 'mail1.exchange.test'},
                                     'diagnosis': {'step': 'starttls', 'error': 'starttls_not_offered'}}
    diff = B.compare(snap(fleet()), snap(after))
    assert kinds(diff) == [('edge1', EXCHANGE, 'removed'), ('edge1', 'inbound/exchange.test/tls_required/mail1.exchange.test', 'added')]
    assert diff['verdict'] == 'ok'  # a new failing check is not a regression; the report fails on it
    assert B.compare(snap(fleet()), snap(after), fail_on_removed=True)['verdict'] == 'regressed'


def test_hosts_not_in_this_run_are_not_compared():
    diff = B.compare(snap(fleet()), snap({'edge2': lab_facts()}))
    assert (diff['changes'], diff['hosts_missing'], diff['verdict']) == ([], ['edge1'], 'ok')


def test_a_host_without_facts_now_loses_its_checks():
    diff = B.compare(snap(fleet()), snap({'edge1': lab_facts(), 'edge2': {}}))
    assert diff['counts']['removed'] == 9
    assert diff['hosts_missing'] == []


def test_bad_baselines_are_refused():
    with pytest.raises(ReportError, match='not a mailops.mailflow baseline'):
        B.compare({'hosts': {}}, snap(fleet()))
    old = snap(fleet())
    old['version'] = 0
    with pytest.raises(ReportError, match='version 0'):
        B.compare(old, snap(fleet()))
    with pytest.raises(ReportError, match='expects the result'):
        B.render_markdown({'x': 1})


def test_markdown_lists_the_most_serious_first():
    after = fleet()
    refused(after['edge1']['smtp']['exchange'], '127.0.2.1')
    after['edge2']['smtp']['exchange']['capabilities']['dsn'] = False
    markdown = B.render_markdown(B.compare(snap(fleet()), snap(after)))
    lines = markdown.splitlines()
    assert lines[0] == u'# Mail flow baseline comparison: \u2716 REGRESSED'
    assert lines[2] == ('**mailflow baseline: 1 regression on 1 host: '
                        'recipients_accepted @ mail1.exchange.test (connect connection_refused) on edge1**')
    titles = [line for line in lines if line.startswith('## ')]
    assert titles == ['## Regressions (passed before, failing now; or a watched value or the latency changed)',
                      '## Reply codes changed', '## Capabilities changed']
    assert u'- \u2716 edge1 **recipients_accepted** mail1.exchange.test: `rcpt 250 2.1.5` \u2192 `connect connection_refused`' in markdown
    assert u'- edge2 **recipients_accepted** mail1.exchange.test: 127.0.2.1:25: -`DSN`' in markdown


# ------------------------------------------------------------------------- behaviour pinned by the mutation check

def test_an_optional_passing_check_made_required_and_failing_is_a_regression():
    """The window made the check required and broke it: the required flag of now decides, not the baseline's."""
    before = fleet()
    for facts in before.values():
        facts['smtp']['exchange_530']['passed'] = True
    after = fleet()
    after['edge1']['smtp']['exchange_530']['labels']['required'] = True
    diff = B.compare(snap(before), snap(after))
    assert ('edge1', OPTIONAL, 'regression') in kinds(diff)
    assert ('edge2', OPTIONAL, 'optional_failure') in kinds(diff)
    assert diff['verdict'] == 'regressed'
    assert diff['failing'] == [{'host': 'edge1', 'id': OPTIONAL, 'kind': 'regression'}]


def test_an_optional_check_that_passes_again_is_fixed():
    after = fleet()
    after['edge2']['smtp']['exchange_530']['passed'] = True
    diff = B.compare(snap(fleet()), snap(after))
    assert ('edge2', OPTIONAL, 'fixed') in kinds(diff)


def test_what_a_failed_session_did_not_see_is_not_a_change():
    """EHLO refused now: no capabilities and no certificate this time, which is the failure, not a changed server."""
    after = fleet()
    entry = after['edge1']['smtp']['exchange']
    steps = entry['steps'][:3]
    steps[2].update(ok=False, reply={'code': 554, 'enhanced': '5.7.1', 'lines': ['554 5.7.1 go away']})
    entry.update(passed=False, steps=steps)
    entry['capabilities'].update(greeting=None)
    entry['tls'] = {'mode': 'starttls', 'used': False, 'offered': None, 'certificate': None}
    diff = B.compare(snap(fleet()), snap(after))
    assert kinds(diff) == [('edge1', EXCHANGE, 'codes'), ('edge1', EXCHANGE, 'regression')]
    assert diff['changes'][1]['changes'] == {'ehlo': ['250', '554 5.7.1']}
    # the other way round (the baseline saw nothing, now everything) is no change of endpoint either
    assert [change['kind'] for change in B.compare(snap(after), snap(fleet()))['changes']] == ['fixed', 'codes']


def test_a_banner_not_captured_on_one_side_is_not_a_banner_change():
    after = fleet()
    banner = [step for step in after['edge1']['smtp']['exchange']['steps'] if step['name'] == 'banner'][0]
    banner['reply']['lines'] = []
    assert B.compare(snap(fleet()), snap(after))['changes'] == []
    assert B.compare(snap(after), snap(fleet()))['changes'] == []


def test_steps_reached_only_now_are_listed_as_code_changes():
    after = fleet()
    steps = after['edge1']['smtp']['exchange']['steps']
    rcpt = [step for step in steps if step['name'] == 'rcpt'][0]
    steps.insert(steps.index(rcpt) + 1, dict(rcpt, command='RCPT TO:<lee@exchange.test>'))
    diff = B.compare(snap(fleet()), snap(after))
    assert kinds(diff) == [('edge1', EXCHANGE, 'codes')]
    assert diff['changes'][0]['changes'] == {'rcpt <lee@exchange.test>': [None, '250 2.1.5']}
    markdown = B.render_markdown(diff)
    assert u'`rcpt <lee@exchange.test>` `-` \u2192 `250 2.1.5`' in markdown


def test_a_step_without_reply_or_error_reads_no_reply():
    codes = B.step_codes([{'name': 'connect'}, {'name': 'data'}, {'name': 'quit', 'reply': {'code': 221, 'enhanced': '2.0.0'}}])
    assert codes == {'connect': 'connected', 'data': 'no reply', 'quit': '221 2.0.0'}


def test_size_zero_means_no_limit_and_is_kept():
    assert B.capability_keywords({'greeting': 'x', 'size': 0}) == ['SIZE 0']
    assert B.capability_keywords({'greeting': 'x', 'size': None}) == []


def test_regression_line_lists_four_problems_then_counts_the_rest():
    def passing():
        facts = fleet()
        for host_facts in facts.values():
            for name in ('mx2_rcpt', 'mx1_rcpt', 'refused'):
                host_facts['smtp'][name]['passed'] = True
        return facts
    names = ['exchange', 'mx1_unknown', 'mx2_rcpt', 'mx1_rcpt', 'refused']
    for count in (4, 5):
        after = passing()
        for host_facts in after.values():
            for name in names[:count]:
                refused(host_facts['smtp'][name], '127.0.0.1')
        line = B.compare(snap(passing()), snap(after))['line']
        assert line.startswith('mailflow baseline: %d regressions on 2 hosts: ' % (2 * count))
        assert line.count(' on edge1, edge2') == 4
        assert line.endswith('; and 1 more') if count == 5 else 'more' not in line


def test_one_check_failing_two_ways_is_two_items_of_the_line():
    after = fleet()
    refused(after['edge1']['smtp']['exchange'], '127.0.2.1')
    entry = after['edge2']['smtp']['exchange']
    entry['passed'] = False
    rcpt = [step for step in entry['steps'] if step['name'] == 'rcpt'][0]
    rcpt.update(ok=False, reply={'code': 550, 'enhanced': '5.1.1', 'lines': ['550 5.1.1 unknown']})
    entry['diagnosis'].update(step='rcpt', code=550, enhanced='5.1.1')
    diff = B.compare(snap(fleet()), snap(after))
    assert diff['line'] == ('mailflow baseline: 2 regressions on 2 hosts: '
                            'recipients_accepted @ mail1.exchange.test (connect connection_refused) on edge1; '
                            'recipients_accepted @ mail1.exchange.test (rcpt 550 5.1.1) on edge2')


def test_markdown_names_hosts_not_compared_and_marks_optional_failures():
    before = fleet()
    before['edge2']['smtp']['exchange_530']['passed'] = True
    markdown = B.render_markdown(B.compare(snap(before), snap({'edge2': lab_facts()})))
    assert 'Hosts in the baseline but not in this run (not compared): edge1.' in markdown
    assert '## Optional checks failed (passed before)' in markdown
    assert u'- \u2298 edge2 **anonymous_accepted** mail-530.faultd.test: `mail 530 5.7.1` \u2192 `mail 530 5.7.1`' in markdown
