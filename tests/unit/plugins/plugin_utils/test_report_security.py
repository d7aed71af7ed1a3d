# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The security section (policy, sender_policy, egress, smuggling rows and the open relay probe) in records, every
rendering and the baseline; round-trip latency in the baseline. The facts were captured from the real lab:
tls_policy (enforce/testing.policy.test, ee-11/nomatch.dane.test), sender_policy (good/toomany.sender.test),
egress_identity (127.0.0.21 match, .22 missing, .23 mismatch), smtp_smuggling (127.0.0.17 open, .18 strict) and
mail_roundtrip (kate@ at once, slow@ held 4 s). No network."""

from __future__ import annotations

import copy
import html.parser
import json
import os
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.mailops.mailflow.plugins.plugin_utils import _baseline as B
from ansible_collections.mailops.mailflow.plugins.plugin_utils import _report as R

FIXTURE = os.path.join(os.path.dirname(__file__), 'fixtures', 'security_facts.json')
LAB_FIXTURE = os.path.join(os.path.dirname(__file__), 'fixtures', 'lab_facts.json')


def security_facts():
    with open(FIXTURE, encoding='utf-8') as handle:
        return json.load(handle)['mailflow']


def by_id(records):
    return dict((record['id'], record) for record in records)


@pytest.fixture
def facts():
    return security_facts()


# ------------------------------------------------------------------------------------------------------- records

def test_rows_per_check_and_dane_per_mx(facts):
    records = R.check_records({'edge1': facts})
    security = [record for record in records if record['area'] == 'security']
    assert len(security) == 15  # 2 domains x (mta_sts, tlsrpt), 2 DANE MX, 2 x (spf, dmarc), 3 egress, 2 smuggling
    assert all(record['group'] == 'security' for record in security)
    assert [record['kind'] for record in security] == sorted(
        (record['kind'] for record in security), key=R.SECURITY_KINDS.index)
    rows = by_id(security)
    enforce = rows['inbound/enforce.policy.test/mta_sts/enforce.policy.test']
    assert (enforce['status'], enforce['brief'], enforce['section']) == ('pass', 'mode enforce', 'policy')
    testing = rows['inbound/testing.policy.test/mta_sts/testing.policy.test']
    assert testing['status'] == 'warn' and testing['brief'] == 'mode testing'
    assert testing['warnings'][0].startswith('MTA-STS mode testing')
    nomatch = rows['security/nomatch.dane.test/dane/mx.nomatch.dane.test']
    assert (nomatch['status'], nomatch['brief']) == ('fail', 'no match (3 TLSA tried)')
    assert nomatch['diagnosis']['category'] == 'dane' and nomatch['diagnosis']['error'] == 'dane_no_match'
    assert nomatch['diagnosis']['causes'] and nomatch['diagnosis']['remedy']
    assert any(line.startswith('tried: 3 1 1') for line in nomatch['transcript'])
    assert rows['security/ee-11.dane.test/dane/mx.ee-11.dane.test']['brief'] == 'match 3 1 1 (DANE-EE SPKI SHA2-256)'
    assert rows['security/toomany.sender.test/spf/toomany.sender.test']['brief'] == 'too many lookups'
    assert rows['security/toomany.sender.test/dmarc/toomany.sender.test']['brief'] == 'no DMARC record'
    assert rows['security/good.sender.test/spf/good.sender.test']['brief'] == '1 of 10 lookups, -all'
    assert rows['security/good.sender.test/dmarc/good.sender.test']['brief'] == 'p=reject'
    mismatch = rows['security/-/egress_identity/127.0.0.23']
    assert mismatch['brief'] == u'PTR mta3.sender.test \u00b7 FCrDNS fail \u00b7 EHLO mismatch \u00b7 SPF pass'
    assert mismatch['diagnosis']['error'] == 'egress_fcrdns_mismatch'
    assert rows['security/-/egress_identity/127.0.0.21']['status'] == 'pass'
    exposed = rows['security/-/smtp_smuggling/127.0.0.17:25']
    assert exposed['brief'] == 'exposed: <LF>.<LF>, <LF>.<CR><LF>, <CR><LF>.<LF>'
    assert 'lf_dot_lf <LF>.<LF>: exposed' in exposed['transcript']
    assert len(exposed['transcript']) == 8
    assert rows['security/-/smtp_smuggling/127.0.0.18:25']['brief'] == 'safe: 8 sequences'
    # round trips stay delivery rows
    assert {record['area'] for record in records if record['section'] == 'roundtrip'} == {'delivery'}


def test_entry_time_counts_once(facts):
    records = R.check_records({'edge1': facts}, select="[?section=='policy' && domain=='enforce.policy.test']")
    assert [record['elapsed_ms'] is None for record in records] == [False, True]


def test_open_relay_probe_is_in_the_security_section():
    facts = json.load(open(LAB_FIXTURE, encoding='utf-8'))['mailflow']
    relay = copy.deepcopy(facts['smtp']['mx2_rcpt'])
    relay['labels'] = {'check': 'open_relay', 'role': 'inbound', 'domain': 'fabrikam.test', 'target': 'mx2.fabrikam.test'}
    facts['smtp']['relay'] = relay
    records = by_id(R.check_records({'edge1': facts}))
    record = records['inbound/fabrikam.test/open_relay/mx2.fabrikam.test']
    assert (record['area'], record['group'], record['kind'], record['section']) == ('security', 'security', 'open_relay', 'smtp')
    assert records['inbound/fabrikam.test/recipients_accepted/mx2.fabrikam.test']['area'] == 'delivery'
    markdown = R.render_markdown(list(records.values()))
    security = markdown.split('## Security')[1].split('## Failures')[0]
    assert u'| open_relay | mx2.fabrikam.test | \u2716 rcpt 550 5.1.1 |' in security


def test_dane_rows_of_several_mx_each_have_their_own_diagnosis(facts):
    entry = facts['policy']['nomatch.dane.test']
    second = copy.deepcopy(facts['policy']['ee-11.dane.test']['checks']['dane']['mx'][0])
    entry['checks']['dane']['mx'].append(second)
    entry['labels'] = {'target': 'dane-lab'}
    records = R.check_records({'edge1': {'policy': {'nomatch.dane.test': entry}}})
    dane = [record for record in records if record['check'] == 'dane']
    assert [record['target'] for record in dane] == ['dane-lab #1', 'dane-lab #2']
    assert [record['brief'] for record in dane] == ['mx.nomatch.dane.test: no match (3 TLSA tried)',
                                                    'mx.ee-11.dane.test: match 3 1 1 (DANE-EE SPKI SHA2-256)']
    assert [record['diagnosis']['error'] for record in dane] == ['dane_no_match', 'dane_match']
    assert dane[0]['diagnosis']['causes'] and dane[0]['diagnosis']['notes'][-1].startswith('the certificate of')


def test_policy_entry_without_checks_is_one_row():
    entry = {'domain': 'gone.test', 'passed': False, 'mx_status': 'nxdomain', 'checks': {},
             'diagnosis': {'error': 'policy_mx_lookup_failed', 'category': 'policy', 'summary': 'no MX',
                           'causes': ['c'], 'remedy': 'r'}}
    records = R.check_records({'h': {'policy': {'gone.test': entry}}})
    assert [(record['check'], record['status'], record['brief']) for record in records] == [('tls_policy', 'fail', 'nxdomain')]


# ---------------------------------------------------------------------------------------------------- renderings

def test_summary_document_and_matrix_carry_the_security_section(facts):
    records = R.check_records({'edge1': facts, 'edge2': facts})
    summary = R.summarize(records)
    assert summary['security']['checks'] == 30
    assert summary['security']['failed'] == 14 and summary['security']['warnings'] == 2
    assert 'security/-/smtp_smuggling/127.0.0.17:25' in summary['security']['failed_checks']
    assert summary['failed'] == 14  # every failure of these facts is a security row
    matrix = R.build_matrix(records)
    assert len(matrix['security']) == 15
    assert matrix['columns'][-1]['kind'] == 'smtp_smuggling'
    document = R.report_document(records, generated='2026-01-01T00:00:00Z')
    assert document['security'] == matrix['security']
    assert document['matrix']['edge2']['security/nomatch.dane.test/dane/mx.nomatch.dane.test'] == 'fail'


def test_markdown_security_table_and_failures_with_causes(facts):
    markdown = R.render_markdown(R.check_records({'edge1': facts}))
    main, rest = markdown.split('## Security')
    assert 'mta_sts' not in main.split('**mailflow:')[1].split('\n', 1)[1]  # not in the matrix above
    security = rest.split('## Failures')[0]
    assert u'| mta_sts | enforce.policy.test | \u2714 mode enforce |' in security
    assert u'| mta_sts | testing.policy.test | \u26a0 mode testing |' in security
    assert u'| dane | mx.nomatch.dane.test | \u2716 no match (3 TLSA tried) |' in security
    assert u'| egress_identity | 127.0.0.22 | \u2716 PTR none' in security
    assert u'| smtp_smuggling | 127.0.0.18:25 | \u2714 safe: 8 sequences |' in security
    assert '\\<LF\\>.\\<LF\\>' in security  # server-ish text escaped
    failures = rest.split('## Failures')[1]
    assert '**Causes** (`dane`): The certificate or its key changed' in failures
    assert '**Causes** (`smtp_smuggling`): Postfix before 3.9' in failures
    assert '**Remedy:** Publish a TLSA record for the certificate in use' in failures


class _Cells(html.parser.HTMLParser):
    """The text of the Security section's rows: (row heading, [cell texts])."""

    def __init__(self):
        super().__init__()
        self.in_security = False
        self.rows = []
        self.cell = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == 'section' and attrs.get('class') == 'security':
            self.in_security = True
        elif self.in_security and tag == 'tr':
            self.rows.append([])
        elif self.in_security and tag in ('th', 'td'):
            self.cell = []

    def handle_endtag(self, tag):
        if tag == 'section':
            self.in_security = False
        elif self.in_security and tag in ('th', 'td') and self.cell is not None:
            self.rows[-1].append(''.join(self.cell))
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def test_html_security_section(facts):
    page = R.render_html(R.check_records({'edge1': facts, 'edge2': facts}), generated='2026-01-01T00:00:00Z')
    parser = _Cells()
    parser.feed(page)
    rows = parser.rows[1:]
    assert len(rows) == 15
    dane = [row for row in rows if row[0].startswith('danemx.nomatch.dane.test')][0]
    assert dane[1].startswith(u'\u2716no match (3 TLSA tried)')
    assert 'category: dane' in dane[1] and 'Remedy: Publish a TLSA record' in dane[1]
    assert any(row[0] == 'mta_stsenforce.policy.test' and row[1] == u'\u2714mode enforce' for row in rows)
    assert page.count('<section class="security">') == 1


def test_junit_security_cases(facts):
    root = ET.fromstring(R.render_junit(R.check_records({'edge1': facts})).encode('utf-8'))
    cases = root.find('testsuite').findall('testcase')
    security = [case for case in cases if '.security.' in case.get('classname')]
    assert len(security) == 15
    case = [case for case in security if case.get('name') == 'smtp_smuggling @ 127.0.0.17:25'][0]
    failure = case.find('failure')
    assert failure.get('type') == 'smtp_smuggling'
    assert 'category: smtp_smuggling' in failure.text and 'cause: Postfix before 3.9' in failure.text
    assert 'remedy: Postfix: smtpd_forbid_bare_newline' in failure.text
    assert 'lf_dot_crlf <LF>.<CR><LF>: exposed' in failure.text
    properties = dict((prop.get('name'), prop.get('value')) for prop in case.find('properties'))
    assert properties['area'] == 'security' and properties['section'] == 'smuggling'
    assert root.get('failures') == '7'


# ------------------------------------------------------------------------------------------------------ baseline

def labelled(entry, **labels):
    entry = copy.deepcopy(entry)
    entry['labels'] = dict(labels)
    return entry


def diff_of(saved, current, **options):
    return B.compare(B.build_snapshot({'edge1': saved}), B.build_snapshot({'edge1': current}), **options)


def changes_of(diff, kind):
    return [change for change in diff['changes'] if change['kind'] == kind]


def test_snapshot_keeps_codes_watch_and_latency(facts):
    snapshot = B.build_snapshot({'edge1': facts})['hosts']['edge1']
    enforce = snapshot['inbound/enforce.policy.test/mta_sts/enforce.policy.test']
    assert enforce['watch'] == {'mta_sts mode': 'enforce'}
    assert enforce['codes']['mta_sts'] == 'enforce'
    assert snapshot['security/-/egress_identity/127.0.0.23']['watch'] == {'ptr name': 'mta3.sender.test', 'fcrdns': 'fail'}
    assert snapshot['security/nomatch.dane.test/dane/mx.nomatch.dane.test']['watch'] == {'tlsa': 'no_match'}
    assert snapshot['security/-/smtp_smuggling/127.0.0.17:25']['codes']['lf_dot_lf'] == 'exposed'
    slow = snapshot['roundtrip:slow@roundtrip.test']
    assert slow['latency_s'] == facts['roundtrip']['slow@roundtrip.test']['latency_s']
    assert slow['codes'] == {'delivered': 'yes', 'folder': 'INBOX', 'outcome': 'delivered'}
    assert 'latency_s' not in enforce
    # an unchanged estate compares equal
    assert diff_of(facts, facts)['line'] == 'mailflow baseline: no regressions (0 checks changed, 17 unchanged)'


def test_mta_sts_mode_change_is_a_regression_while_both_pass(facts):
    same = {'check': 'mta_sts', 'role': 'inbound', 'domain': 'policy-lab', 'target': 'lab-domain'}
    before = {'policy': {'lab': labelled(facts['policy']['enforce.policy.test'], **same)}}
    after = {'policy': {'lab': labelled(facts['policy']['testing.policy.test'], **same)}}
    diff = diff_of(before, after)
    assert diff['verdict'] == 'regressed'
    mode = [change for change in changes_of(diff, 'regression') if change['check'] == 'mta_sts'][0]
    assert mode['reason'] == 'watched' and mode['fields'] == {'mta_sts mode': ['enforce', 'testing']}
    assert (mode['before'], mode['after']) == ('mta_sts mode enforce', 'mta_sts mode testing')
    assert 'mta_sts @ lab-domain (mta_sts mode testing) on edge1' in diff['line']
    markdown = B.render_markdown(diff)
    assert '`mta_sts mode enforce` \u2192 `mta_sts mode testing`: the MTA-STS mode changed' in markdown
    # and back: any change of mode counts
    assert diff_of(after, before)['verdict'] == 'regressed'


def test_tlsa_match_to_no_match_is_a_regression_and_back_is_fixed(facts):
    same = {'role': 'inbound', 'domain': 'dane-lab', 'target': 'lab-mx'}
    before = {'policy': {'lab': labelled(facts['policy']['ee-11.dane.test'], **same)}}
    after = {'policy': {'lab': labelled(facts['policy']['nomatch.dane.test'], **same)}}
    diff = diff_of(before, after)
    regression = changes_of(diff, 'regression')
    assert len(regression) == 1 and regression[0]['id'] == 'inbound/dane-lab/dane/lab-mx'
    assert regression[0]['fields'] == {'tlsa': ['match', 'no_match']}
    assert regression[0]['after'] == 'mx.nomatch.dane.test: no match (3 TLSA tried)'
    assert '(tlsa `match` \u2192 `no_match`)' in B.render_markdown(diff)
    back = diff_of(after, before)
    assert back['verdict'] == 'ok' and len(changes_of(back, 'fixed')) == 1
    # optional: listed, not failing
    optional = diff_of({'policy': {'lab': labelled(before['policy']['lab'], required=False, **same)}},
                       {'policy': {'lab': labelled(after['policy']['lab'], required=False, **same)}})
    assert optional['verdict'] == 'ok' and len(changes_of(optional, 'optional_failure')) == 1


def test_egress_ptr_name_change_and_fcrdns_loss_are_regressions(facts):
    same = {'check': 'egress_identity', 'role': 'outbound', 'domain': 'sender.test', 'target': 'transport1'}
    match = labelled(facts['egress']['match'], **same)
    renamed = copy.deepcopy(match)
    renamed['ptr_name'] = 'relay9.sender.test'  # still forward-confirmed: the check passes, the name changed
    diff = diff_of({'egress': {'t': match}}, {'egress': {'t': renamed}})
    regression = changes_of(diff, 'regression')
    assert len(regression) == 1 and regression[0]['reason'] == 'watched'
    assert regression[0]['fields'] == {'ptr name': ['mta1.sender.test', 'relay9.sender.test']}
    assert diff['verdict'] == 'regressed'
    mismatch = labelled(facts['egress']['mismatch'], **same)
    diff = diff_of({'egress': {'t': match}}, {'egress': {'t': mismatch}})
    regression = changes_of(diff, 'regression')
    assert len(regression) == 1
    assert regression[0]['fields'] == {'ptr name': ['mta1.sender.test', 'mta3.sender.test'], 'fcrdns': ['pass', 'fail']}
    # FCrDNS fail -> pass is not a regression (the check is fixed)
    assert diff_of({'egress': {'t': mismatch}}, {'egress': {'t': match}})['verdict'] == 'ok'


def roundtrip(facts, name, **changes):
    entry = labelled(facts['roundtrip'][name], check='roundtrip', role='roundtrip', domain='roundtrip.test', target='kate')
    entry.update(changes)
    return {'roundtrip': {'rt': entry}}


def test_latency_growth_past_the_threshold_is_a_regression(facts):
    fast, slow = roundtrip(facts, 'kate@roundtrip.test'), roundtrip(facts, 'slow@roundtrip.test')
    before, after = fast['roundtrip']['rt']['latency_s'], slow['roundtrip']['rt']['latency_s']
    assert after - before > 3
    # the defaults (+10 s and x2) keep a 4 s hold from counting
    assert diff_of(fast, slow)['verdict'] == 'ok'
    diff = diff_of(fast, slow, latency_growth_s=2, latency_growth_factor=2)
    regression = changes_of(diff, 'regression')
    assert len(regression) == 1 and regression[0]['reason'] == 'latency'
    assert regression[0]['latency_s'] == [before, after]
    assert regression[0]['summary'].endswith('past the threshold (+2 s and x2)')
    assert diff['latency_threshold'] == {'growth_s': 2.0, 'growth_factor': 2.0}
    assert 'roundtrip @ kate (latency {:g} s) on edge1'.format(after) in diff['line']
    # each condition alone, and both dropped
    assert diff_of(fast, slow, latency_growth_s=None, latency_growth_factor=3)['verdict'] == 'regressed'
    assert diff_of(fast, slow, latency_growth_s=after, latency_growth_factor=None)['verdict'] == 'ok'
    assert diff_of(fast, slow, latency_growth_s=None, latency_growth_factor=None)['verdict'] == 'ok'
    # strings from a role variable are numbers too; faster is never a regression
    assert diff_of(fast, slow, latency_growth_s='2', latency_growth_factor='null')['verdict'] == 'regressed'
    assert diff_of(slow, fast, latency_growth_s=0, latency_growth_factor=1)['verdict'] == 'ok'


def test_a_delivery_that_stopped_is_a_regression(facts):
    fast = roundtrip(facts, 'kate@roundtrip.test')
    lost = roundtrip(facts, 'kate@roundtrip.test', delivered=False, passed=False, latency_s=None, folder=None,
                     diagnosis={'category': 'not_delivered', 'status': 'not_delivered', 'summary': 'not delivered within 5 s',
                                'causes': ['queued'], 'remedy': 'follow the queue id'})
    diff = diff_of(fast, lost)
    regression = changes_of(diff, 'regression')
    assert len(regression) == 1 and 'reason' not in regression[0]
    assert regression[0]['summary'] == 'not delivered within 5 s'
    assert changes_of(diff, 'codes')[0]['changes']['delivered'] == ['yes', 'no']


@pytest.mark.parametrize('option,value,message', [
    ('latency_growth_s', -1, 'latency_growth_s must be a finite number of at least 0'),
    ('latency_growth_s', 'soon', "latency_growth_s must be a number or null, not 'soon'"),
    ('latency_growth_factor', 0.5, 'latency_growth_factor must be a finite number of at least 1'),
    ('latency_growth_factor', True, 'latency_growth_factor must be a number or null'),
])
def test_bad_threshold_names_the_option(facts, option, value, message):
    with pytest.raises(R.ReportError, match=message):
        diff_of(facts, facts, **{option: value})
