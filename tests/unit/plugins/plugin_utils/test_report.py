# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check records, matrix, summary and the four renderings, from facts captured in the real lab. No network."""

from __future__ import annotations

import copy
import html.parser
import json
import os
import re
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.mailops.mailflow.plugins.plugin_utils import _report as R

FIXTURE = os.path.join(os.path.dirname(__file__), 'fixtures', 'lab_facts.json')
HOSTILE = '<script>alert("x")</script> | **bold** [link](http://evil.test) `tick` & \x1b[31m\x00'


def lab_facts():
    with open(FIXTURE, encoding='utf-8') as handle:
        return json.load(handle)['mailflow']


@pytest.fixture
def fleet():
    """Two vantage hosts; on edge2 mx2 answers every recipient (so that check passes there) and the route is not probed."""
    edge1 = lab_facts()
    edge2 = copy.deepcopy(edge1)
    mx2 = edge2['smtp']['mx2_rcpt']
    mx2['passed'] = True
    mx2['diagnosis'].update(status='ok', category='recipients_accepted', code=250, enhanced='2.1.5', summary='accepted')
    del edge2['routes']
    return {'edge1': edge1, 'edge2': edge2}


def by_key(records):
    return dict(((record['host'], record['section'], record['name']), record) for record in records)


# ------------------------------------------------------------------------------------------------------- records

def test_one_record_per_fact_entry_in_host_order(fleet):
    records = R.check_records(fleet)
    assert [record['host'] for record in records] == ['edge1'] * 9 + ['edge2'] * 8
    assert len(by_key(records)) == 17


def test_labelled_records_carry_their_labels(fleet):
    records = by_key(R.check_records(fleet))
    mx2 = records[('edge1', 'smtp', 'mx2_rcpt')]
    assert (mx2['check'], mx2['role'], mx2['domain'], mx2['target']) == (
        'recipients_accepted', 'inbound', 'fabrikam.test', 'mx2.fabrikam.test')
    assert mx2['id'] == 'inbound/fabrikam.test/recipients_accepted/mx2.fabrikam.test'
    assert mx2['group'] == u'inbound \u00b7 fabrikam.test'
    assert (mx2['passed'], mx2['status'], mx2['brief']) == (False, 'fail', 'rcpt 550 5.1.1')
    assert mx2['reply'].startswith('550 5.1.1 <ghost@fabrikam.test>: Recipient address rejected')
    assert mx2['diagnosis']['category'] == 'user_unknown'
    assert mx2['diagnosis']['remedy']
    assert any(line.startswith('<- 550 5.1.1') for line in mx2['transcript'])


def test_unlabelled_entries_are_named_after_their_fact(fleet):
    records = by_key(R.check_records(fleet))
    refused = records[('edge1', 'smtp', 'refused')]
    assert (refused['check'], refused['labelled'], refused['role']) == ('refused', False, None)
    assert refused['id'] == 'smtp:refused'
    assert refused['group'] == 'unlabelled smtp facts'
    assert refused['target'] == '127.0.0.19:25'
    assert (refused['status'], refused['brief']) == ('fail', 'connect connection_refused')
    assert refused['reply'] == '127.0.0.19 port 25: Connection refused'
    nullmx = records[('edge1', 'mx', 'nullmx.test')]
    assert (nullmx['id'], nullmx['status'], nullmx['brief'], nullmx['domain']) == ('mx:nullmx.test', 'fail', 'null mx', 'nullmx.test')


def test_statuses_pass_expected_optional_and_warn(fleet):
    records = by_key(R.check_records(fleet))
    assert records[('edge1', 'smtp', 'exchange')]['status'] == 'pass'
    expected = records[('edge1', 'smtp', 'mx1_unknown')]
    assert (expected['status'], expected['brief']) == ('pass', 'rcpt 550 5.1.1 (expected)')
    optional = records[('edge1', 'smtp', 'exchange_530')]
    assert (optional['required'], optional['status'], optional['brief']) == (False, 'optional_fail', 'mail 530 5.7.1')
    route = records[('edge1', 'routes', 'primary-down.test')]
    assert route['status'] == 'warn'
    assert route['brief'] == 'via mx2.fabrikam.test'
    assert 'delivered via a fallback exchanger: mx2.fabrikam.test (preference 20)' in route['warnings']
    assert records[('edge1', 'mx', 'fabrikam.test')]['brief'] == '2 MX'


def test_passed_comes_from_the_entry_first_then_the_contract():
    facts = {'h': {'mx': {'implicit.test': {'status': 'implicit_mx', 'exchangers': [{'host': 'implicit.test'}]},
                          'forced.test': {'status': 'ok', 'passed': False, 'exchangers': []}},
                   'routes': {'r.test': {'verdict': {'deliverable': False, 'outcome': 'all_refused'}}},
                   'smtp': {'x': {'passed': True, 'labels': {'check': 'c', 'required': 'no'}}}}}
    records = by_key(R.check_records(facts))
    assert records[('h', 'mx', 'implicit.test')]['passed'] is True
    assert records[('h', 'mx', 'forced.test')]['passed'] is False
    assert (records[('h', 'routes', 'r.test')]['passed'], records[('h', 'routes', 'r.test')]['brief']) == (False, 'all refused')
    assert records[('h', 'smtp', 'x')]['required'] is False


def test_mx_set_comparison_shows_in_the_cell():
    facts = lab_facts()
    entry = facts['mx']['fabrikam.test']
    entry['mx_set'] = {'expected': ['mx1.fabrikam.test', 'mx2.fabrikam.test'], 'found': ['mx1.fabrikam.test', 'mx2.fabrikam.test'],
                       'missing': [], 'unexpected': [], 'matches': True}
    assert by_key(R.check_records({'h': facts}))[('h', 'mx', 'fabrikam.test')]['brief'] == '2 MX, as expected'
    entry['mx_set'].update(missing=['mx3.fabrikam.test'], unexpected=['mx2.fabrikam.test'], matches=False)
    entry['passed'] = False
    record = by_key(R.check_records({'h': facts}))[('h', 'mx', 'fabrikam.test')]
    assert (record['status'], record['brief']) == ('fail', 'MX set differs: -mx3.fabrikam.test +mx2.fabrikam.test')


def test_whole_ansible_facts_and_missing_hosts_are_accepted(fleet):
    records = R.check_records({'edge1': {'mailflow': fleet['edge1'], 'hostname': 'x'}, 'edge9': {}})
    assert len(records) == 9
    assert R.check_records({'edge1': fleet['edge1']}, hosts=['edge9']) == []


def test_same_check_id_twice_on_a_host_keeps_both():
    entry = {'passed': True, 'labels': {'check': 'banner', 'role': 'inbound', 'domain': 'd.test', 'target': 'mx.d.test'}}
    records = R.check_records({'h': {'smtp': {'a': dict(entry), 'b': dict(entry)}}})
    assert [record['id'] for record in records] == [
        'inbound/d.test/banner/mx.d.test', 'inbound/d.test/banner/mx.d.test#smtp:b']


def test_select_is_a_jmespath_filter(fleet):
    inbound = R.check_records(fleet, select="[?role=='inbound']")
    assert inbound and all(record['role'] == 'inbound' for record in inbound)
    failed_edge1 = R.check_records(fleet, select="[?host=='edge1' && status=='fail'].{id: id, host: host}")
    assert sorted(record['id'] for record in failed_edge1) == [
        'inbound/fabrikam.test/recipients_accepted/mx2.fabrikam.test', 'mx:nullmx.test', 'smtp:mx1_rcpt', 'smtp:refused']
    with pytest.raises(R.ReportError, match='invalid jmespath'):
        R.check_records(fleet, select='[?role==')
    with pytest.raises(R.ReportError, match='must return a list of check records'):
        R.check_records(fleet, select='[].host')


def test_facts_must_be_a_dict():
    with pytest.raises(R.ReportError, match='expects a dict'):
        R.check_records(['edge1'])


def test_missing_jmespath_is_reported(monkeypatch, fleet):
    monkeypatch.setattr(R, 'jmespath', None)
    with pytest.raises(R.ReportError, match='pip install jmespath'):
        R.summarize(R.check_records(fleet))


# --------------------------------------------------------------------------------------------- matrix, summary

def test_matrix_groups_labelled_checks_then_unlabelled_by_section(fleet):
    matrix = R.build_matrix(R.check_records(fleet))
    assert matrix['hosts'] == ['edge1', 'edge2']
    assert [group['name'] for group in matrix['groups']] == [
        u'inbound \u00b7 exchange.test', u'inbound \u00b7 fabrikam.test', u'outbound \u00b7 primary-down.test',
        'unlabelled mx facts', 'unlabelled smtp facts']
    assert [column['id'] for column in matrix['columns']][:2] == [
        'inbound/exchange.test/recipients_accepted/mail1.exchange.test', 'inbound/exchange.test/anonymous_accepted/mail-530.faultd.test']
    route = 'outbound/primary-down.test/deliverable/primary-down.test'
    assert route in matrix['cells']['edge1'] and route not in matrix['cells']['edge2']
    assert matrix['cells']['edge2']['inbound/fabrikam.test/recipients_accepted/mx2.fabrikam.test']['status'] == 'pass'


def test_summary_counts_and_one_line(fleet):
    summary = R.summarize(R.check_records(fleet))
    assert (summary['verdict'], summary['checks'], summary['required'], summary['failed']) == ('failed', 17, 15, 7)
    assert (summary['warnings'], summary['optional_failed'], summary['failed_hosts']) == (1, 2, ['edge1', 'edge2'])
    assert summary['line'] == (
        'mailflow: 7 of 15 required checks failed on 2 hosts: '
        'recipients_accepted @ mx2.fabrikam.test (rcpt 550 5.1.1) on edge1; '
        'nullmx.test (null mx) on edge1, edge2; '
        'mx1_rcpt @ mx1.fabrikam.test:25 (connect host_unresolved) on edge1, edge2; '
        'refused @ 127.0.0.19:25 (connect connection_refused) on edge1, edge2')
    assert '\n' not in summary['line']


def test_summary_when_everything_passed_and_when_empty(fleet):
    passing = R.check_records(fleet, select="[?status!='fail']")
    summary = R.summarize(passing, hosts=['edge1', 'edge2', 'edge3'])
    assert summary['verdict'] == 'passed'
    assert summary['line'] == 'mailflow: all 8 required checks passed on 3 hosts (1 with warnings, 2 optional failed)'
    empty = R.summarize([], hosts=['edge1'])
    assert (empty['verdict'], empty['line']) == ('empty', 'mailflow: no checks found in the facts of 1 host')


def test_summary_line_stays_short_for_many_problems():
    probes = dict(('probe%d' % index, {'passed': False, 'diagnosis': {'step': 'connect', 'error': 'e%d' % index}})
                  for index in range(8))
    facts = dict(('host%02d' % number, {'smtp': copy.deepcopy(probes)}) for number in range(30))
    line = R.summarize(R.check_records(facts))['line']
    assert line.startswith('mailflow: 240 of 240 required checks failed on 30 hosts: probe0 (connect e0) on host00, host01, host02 and 27 more hosts;')
    assert line.endswith('and 4 more')


def test_document_is_json_serialisable(fleet):
    document = R.report_document(R.check_records(fleet), title='T', generated='2026-01-01T00:00:00Z')
    again = json.loads(json.dumps(document))
    assert (again['format'], again['title'], again['generated']) == ('mailops.mailflow/report', 'T', '2026-01-01T00:00:00Z')
    assert again['matrix']['edge1']['smtp:refused'] == 'fail'
    assert len(again['checks']) == 17


# ----------------------------------------------------------------------------------------------------- Markdown

def test_markdown_verdict_table_failures(fleet):
    markdown = R.render_markdown(R.check_records(fleet))
    lines = markdown.splitlines()
    assert lines[0] == u'# Mail flow report: \u2716 FAILED'
    assert lines[2].startswith('**mailflow: 7 of 15 required checks failed on 2 hosts')
    table = [line for line in lines if line.startswith('|')]
    assert table[0] == '| group | check | target | edge1 | edge2 |'
    assert len(table) == 2 + 9
    row = [line for line in table if '| recipients_accepted | mx2.fabrikam.test' in line][0]
    assert row.endswith(u'| \u2716 | \u2714 |')
    assert u'| refused | 127.0.0.19:25 | \u2716 | \u2716 |' in markdown
    assert u'| anonymous_accepted (optional) | mail-530.faultd.test | \u2298 | \u2298 |' in markdown
    assert u'| deliverable | primary-down.test | \u26a0 | \u2013 |' in markdown
    failures = markdown.split('## Failures')[1].split('## Optional')[0]
    assert 'User unknown: the recipient mailbox does not exist on the destination.' in failures
    assert '**Remedy:** Check the recipient address' in failures
    assert failures.count(u'- \u2716 ') == 4


def test_markdown_hosts_as_rows(fleet):
    markdown = R.render_markdown(R.check_records(fleet, select="[?labelled]"), layout='hosts_as_rows')
    table = [line for line in markdown.splitlines() if line.startswith('|')]
    assert table[0].startswith('| host | recipients_accepted @ mail1.exchange.test |')
    assert len(table) == 4
    with pytest.raises(R.ReportError, match='layout'):
        R.render_markdown(R.check_records(fleet), layout='diagonal')


def test_markdown_escapes_server_text():
    facts = {'edge|1': {'smtp': {'evil': {'passed': False, 'labels': {'check': 'chk|x', 'target': HOSTILE},
                                          'steps': [{'name': 'banner', 'ok': False, 'reply': {'code': 554, 'lines': ['554 ' + HOSTILE]}}],
                                          'diagnosis': {'step': 'banner', 'code': 554, 'summary': HOSTILE, 'remedy': HOSTILE}}}}}
    markdown = R.render_markdown(R.check_records(facts), layout='checks_as_rows')
    outside_code = re.sub(r'`[^`]*`', '', markdown)  # a code span shows its text literally
    assert '<script>' not in outside_code
    assert '[link](' not in outside_code
    assert '\x1b' not in markdown and '\x00' not in markdown
    table = [line for line in markdown.splitlines() if line.startswith('|')]
    assert len(table) == 3 and 'chk' in table[2]
    assert len(set(len(re.split(r'(?<!\\)\|', line)) for line in table)) == 1  # no cell split by a server's pipe


# -------------------------------------------------------------------------------------------------------- JUnit

def test_junit_parses_and_counts(fleet):
    root = ET.fromstring(R.render_junit(R.check_records(fleet)).encode('utf-8'))
    assert root.tag == 'testsuites'
    assert (root.get('tests'), root.get('failures'), root.get('skipped'), root.get('errors')) == ('17', '7', '2', '0')
    suites = root.findall('testsuite')
    assert [(suite.get('name'), suite.get('tests'), suite.get('failures'), suite.get('skipped')) for suite in suites] == [
        ('edge1', '9', '4', '1'), ('edge2', '8', '3', '1')]
    assert len(root.findall('.//testcase')) == 17
    assert len(root.findall('.//testcase/failure')) == 7
    assert len(root.findall('.//testcase/skipped')) == 2
    case = [case for case in suites[0].findall('testcase') if case.get('name') == 'recipients_accepted @ mx2.fabrikam.test'][0]
    assert case.get('classname') == 'mailflow.edge1.inbound.fabrikam_test'
    failure = case.find('failure')
    assert failure.get('type') == 'user_unknown'
    assert failure.get('message').startswith('rcpt 550 5.1.1: User unknown')
    assert 'remedy: Check the recipient address' in failure.text
    assert '<- 550 5.1.1' in failure.text
    properties = dict((prop.get('name'), prop.get('value')) for prop in case.find('properties'))
    assert properties['required'] == 'true' and properties['target'] == 'mx2.fabrikam.test'
    warned = [case for case in suites[0].findall('testcase') if case.get('name') == 'deliverable @ primary-down.test'][0]
    assert 'fallback exchanger' in warned.find('system-out').text
    assert warned.find('failure') is None


def test_junit_survives_control_characters():
    facts = {'h<1>': {'smtp': {'x': {'passed': False, 'steps': [{'name': 'banner', 'ok': False,
                                                                 'reply': {'code': 554, 'lines': ['554 ' + HOSTILE]}}],
                                     'diagnosis': {'step': 'banner', 'code': 554, 'summary': HOSTILE}}}}}
    root = ET.fromstring(R.render_junit(R.check_records(facts)).encode('utf-8'))
    failure = root.find('.//failure')
    assert '<script>alert("x")</script>' in failure.text
    assert root.find('testsuite').get('name') == 'h<1>'


# --------------------------------------------------------------------------------------------------------- HTML

class _Collector(html.parser.HTMLParser):
    def __init__(self):
        html.parser.HTMLParser.__init__(self)
        self.tags = []
        self.attributes = []
        self.text = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes.extend(attrs)

    def handle_data(self, data):
        self.text.append(data)


def test_html_is_self_contained_and_shows_the_matrix(fleet):
    page = R.render_html(R.check_records(fleet), title='Lab')
    parser = _Collector()
    parser.feed(page)
    assert 'script' not in parser.tags
    assert not [value for name, value in parser.attributes if name in ('src', 'href')]
    assert not re.search(r'url\(|@import|https?://', page)
    assert page.count('<td class="cell fail"') == 7
    assert page.count('<td class="cell optional_fail"') == 2
    assert page.count('<td class="cell warn"') == 1
    assert page.count('<td class="cell missing"') == 1
    assert page.count('<td class="cell pass"') == 7
    text = ''.join(parser.text)
    assert '7 of 15 required checks failed on 2 hosts' in text
    assert 'User unknown: the recipient mailbox does not exist on the destination.' in text
    assert 'Check the recipient address' in text
    assert page.count('<details>') >= 9


def test_html_escapes_hostile_strings():
    facts = {'<b>host</b>': {'smtp': {'"><script>x()</script>': {
        'passed': False, 'labels': {'check': '<img src=x onerror=alert(1)>', 'target': HOSTILE, 'role': '</td>'},
        'steps': [{'name': 'rcpt', 'ok': False, 'reply': {'code': 550, 'lines': ['550 ' + HOSTILE]}}],
        'transcript': ['<- 550 ' + HOSTILE, '</pre></details><script>y()</script>'],
        'diagnosis': {'step': 'rcpt', 'code': 550, 'summary': HOSTILE, 'causes': [HOSTILE], 'remedy': HOSTILE}}}}}
    page = R.render_html(R.check_records(facts), title='<title>')
    parser = _Collector()
    parser.feed(page)
    assert 'script' not in parser.tags and 'img' not in parser.tags and 'b' in parser.tags  # <b> only from the page itself
    assert not [value for name, value in parser.attributes if name in ('src', 'onerror', 'href')]
    assert '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;' in page
    assert '\x1b' not in page and '\x00' not in page
    assert '&lt;b&gt;host&lt;/b&gt;' in page


def test_html_hosts_as_rows(fleet):
    page = R.render_html(R.check_records(fleet), layout='hosts_as_rows')
    assert page.count('<th class="row">') == 2
