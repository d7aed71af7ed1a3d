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
    assert summary['line'] == 'mailflow: all 8 required checks passed on 3 hosts (1 with warnings, 2 optional checks failed)'
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
    outside_code = re.sub(r'(`+)(?!`).*?(?<!`)\1(?!`)', '', markdown)  # a code span shows its text literally
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
    assert '&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;' in page
    assert '<script>alert("x")</script>' in ''.join(parser.text)  # shown as text
    assert '\x1b' not in page and '\x00' not in page
    assert '&lt;b&gt;host&lt;/b&gt;' in page


def test_html_hosts_as_rows(fleet):
    page = R.render_html(R.check_records(fleet), layout='hosts_as_rows')
    assert page.count('<th class="row">') == 2


def _css_rules():
    """Selector -> {property: value} of the page's inline style."""
    rules = {}
    for selectors, body in re.findall(r'([^{}]+)\{([^{}]*)\}', R.HTML_STYLE):
        declarations = dict((name.strip(), value.strip()) for name, _colon, value in
                            (part.partition(':') for part in body.split(';') if ':' in part))
        for selector in selectors.split(','):
            rules.setdefault(selector.strip(), {}).update(declarations)
    return rules


def _tiles(page):
    """(class, number, label) of each tile at the top of the page."""
    return re.findall(r'<div class="tile ([\w-]+)"><b>([^<]*)</b>([^<]*)</div>', page)


def test_html_zero_counts_are_not_coloured(fleet):
    passing = R.check_records(fleet, select="[?status!='fail']")
    tiles = dict((label, (status, number)) for status, number, label in _tiles(R.render_html(passing)))
    assert tiles['required checks failed'] == ('none', '0 / 8')  # not red: nothing failed
    assert tiles['checks passed'] == ('pass', '8')
    assert tiles['optional checks failed'] == ('optional_fail', '2')
    clean = R.check_records(fleet, select="[?status=='pass']")
    tiles = dict((label, (status, number)) for status, number, label in _tiles(R.render_html(clean)))
    assert tiles['with warnings'] == ('none', '0') and tiles['optional checks failed'] == ('none', '0')
    tiles = dict((label, (status, number)) for status, number, label in _tiles(R.render_html(R.check_records(fleet))))
    assert tiles['required checks failed'] == ('fail', '7 / 15')
    rules = _css_rules()
    assert rules['.tile.fail b']['color'] == 'var(--fail)'
    assert '.tile.none b' not in rules  # a neutral tile keeps the ink colour


def test_html_matrix_takes_the_page_width():
    rules = _css_rules()
    assert rules['table.matrix'].get('width') == '100%'
    # the scroll box is a plain block: as wide as the page, scrolling sideways when the matrix needs more
    assert 'width' not in rules['.scroll'] and 'max-width' not in rules['.scroll']
    assert rules['.scroll']['overflow-x'] == 'auto'
    assert 'max-width' not in rules['main']
    assert rules['.matrix th.row']['width'] == '1%'  # the names column as narrow as its text, the cells get the rest


def test_an_optional_check_that_failed_has_one_wording_everywhere(fleet):
    """Console line, Markdown, JUnit, HTML and the baseline diff all say "optional check(s) failed"."""
    from ansible_collections.mailops.mailflow.plugins.plugin_utils import _baseline as B
    records = R.check_records(fleet)
    passing = R.check_records(fleet, select="[?status!='fail']")
    before = copy.deepcopy(fleet)
    for facts in before.values():
        facts['smtp']['exchange_530']['passed'] = True
    diff = B.compare(B.build_snapshot(before), B.build_snapshot(fleet))
    junit = ET.fromstring(R.render_junit(records).encode('utf-8'))
    parser = _Collector()
    parser.feed(R.render_html(passing))
    texts = {
        'console': R.summarize(passing)['line'],
        'markdown': R.render_markdown(records),
        'junit': ' '.join(skipped.get('message') for skipped in junit.iter('skipped')),
        'html': ' '.join(parser.text),
        'baseline line': diff['line'],
        'baseline markdown': B.render_markdown(diff),
    }
    for where, text in texts.items():
        phrases = [phrase.lower() for phrase in re.findall(r'(?i)\boptional\b[\w ]*?\bfail\w*', text)]
        assert phrases, where
        assert set(phrases) <= {'optional check failed', 'optional checks failed'}, (where, phrases)
    assert texts['console'].endswith('(1 with warnings, 2 optional checks failed)')
    assert '## Optional checks failed' in texts['markdown']
    assert texts['baseline line'] == 'mailflow baseline: no regressions (2 checks changed: 2 optional checks failed, 15 unchanged)'
    assert R.optional_failed_words(1) == '1 optional check failed'


def test_html_template_escapes_every_value_and_undefined_names_fail():
    """The page comes from an autoescaping template; a name the template lacks is an error, not an empty string."""
    template = R._html_template()
    assert template.environment.autoescape is True
    assert template.environment.undefined is R.jinja2.StrictUndefined
    source = template.environment.loader.get_source(template.environment, 'report.html.j2')[0]
    assert '|safe' not in source.replace(' ', '')
    with pytest.raises(R.jinja2.UndefinedError):
        template.render()


# ------------------------------------------------------------------------------- server text in every format

BLOCKED = '550 _Blocked_'
HOSTILE_REPLY = '550 5.7.1 <script>alert(1)</script> *spam* | ~~gone~~ [x](http://evil.test) `tick` \\ &amp; a_b _c_'
MD_ACTIVE = '\\`*_~<>|[]&'


def _unescaped(markdown_text):
    """Characters of markdown_text that Markdown would act on: not backslash-escaped; an underscore inside a word is inert."""
    found = []
    for position, char in enumerate(markdown_text):
        if char not in MD_ACTIVE:
            continue
        backslashes = len(markdown_text[:position]) - len(markdown_text[:position].rstrip('\\'))
        if backslashes % 2:
            continue
        if char == '\\' and position + 1 < len(markdown_text) and markdown_text[position + 1] in MD_ACTIVE:
            continue  # it escapes the next one
        inside_word = 0 < position < len(markdown_text) - 1 and markdown_text[position - 1].isalnum() and markdown_text[position + 1].isalnum()
        if char == '_' and inside_word:
            continue
        found.append(char)
    return found


def _code_span_text(span):
    """What a CommonMark code span shows: the text between equal fences, one space stripped at each end if both have one."""
    fence = re.match('`+', span).group(0)
    assert span.endswith(fence) and not span[len(fence):-len(fence)].startswith('`') and '`' * len(fence) + '`' not in span
    inner = span[len(fence):-len(fence)]
    if inner.startswith(' ') and inner.endswith(' ') and inner.strip(' '):
        inner = inner[1:-1]
    assert fence not in inner
    return inner


def _reply_facts(reply):
    return {'edge1': {'smtp': {'x': {
        'passed': False, 'labels': {'check': 'recipients_accepted', 'role': 'inbound', 'domain': 'fabrikam.test', 'target': reply},
        'steps': [{'name': 'rcpt', 'ok': False, 'reply': {'code': 550, 'lines': [reply]}}],
        'transcript': ['<- ' + reply],
        'diagnosis': {'step': 'rcpt', 'code': 550, 'enhanced': '5.7.1', 'summary': reply, 'remedy': reply,
                      'causes': [reply], 'category': 'policy'}},
        'warned': {'passed': True, 'labels': {'check': 'banner', 'target': 'mx1.fabrikam.test'}, 'warnings': [reply]}}}}


@pytest.mark.parametrize('reply', [BLOCKED, HOSTILE_REPLY])
def test_server_text_is_text_in_every_format(reply):
    """The reply reads as sent in HTML, Markdown and JUnit, and changes none of their structure."""
    records = R.check_records(_reply_facts(reply))
    # HTML: escaped by the template, shown as text
    page = R.render_html(records)
    parser = _Collector()
    parser.feed(page)
    text = ''.join(parser.text)
    assert 'script' not in parser.tags and not [value for name, value in parser.attributes if name == 'href']
    assert text.count(reply) >= 5  # target, reply, cell summary, causes, remedy, warning, problem list
    assert '<- ' + reply in text  # the transcript
    # Markdown: every character Markdown would act on is escaped, the code span shows the reply whole
    markdown = R.render_markdown(records, layout='checks_as_rows')
    assert R.md_text(reply) in markdown
    assert not _unescaped(R.md_text(reply))
    assert re.sub(r'\\(.)', r'\1', R.md_text(reply)) == reply  # nothing lost: unescaping gives the reply back
    server = [line for line in markdown.splitlines() if line.startswith('  - server: ')]
    assert [_code_span_text(line[len('  - server: '):]) for line in server] == [reply]
    table = [line for line in markdown.splitlines() if line.startswith('|')]
    assert len(set(len(re.split(r'(?<!\\)\|', line)) for line in table)) == 1  # no cell split by the reply's pipe
    # JUnit: well-formed, the reply whole in the failure and the warning
    root = ET.fromstring(R.render_junit(records).encode('utf-8'))
    assert 'server: %s' % reply in root.find('.//failure').text
    assert 'warning: %s' % reply in root.find('.//system-out').text


def test_markdown_shows_underscores_as_text():
    """550 _Blocked_ stays underscores, not emphasis; a name with underscores inside stays readable."""
    assert R.md_text(BLOCKED) == '550 \\_Blocked\\_'
    assert R.md_text('recipients_accepted ~~gone~~ *x* __init__') == 'recipients_accepted \\~\\~gone\\~\\~ \\*x\\* \\_\\_init\\_\\_'
    markdown = R.render_markdown(R.check_records(_reply_facts(BLOCKED)))
    assert '  - 550 \\_Blocked\\_' in markdown  # the diagnosis summary
    assert '  - server: `550 _Blocked_`' in markdown  # a code span shows underscores as they are
    assert '**Remedy:** 550 \\_Blocked\\_' in markdown


@pytest.mark.parametrize('value, span', [
    ('550 a|b', '`550 a|b`'),  # outside a table a backslash before the pipe would show
    ('a `tick` b', '``a `tick` b``'),
    ('`edge`', '`` `edge` ``'),
    (' both ', '`  both  `'),
    ('one\r\ntwo\rthree', '`one  two three`'),
    ('', ''),
])
def test_markdown_code_spans_show_the_text_as_sent(value, span):
    assert R.md_code(value) == span
    if value:
        assert _code_span_text(span) == value.replace('\r', ' ').replace('\n', ' ')


def test_baseline_markdown_escapes_server_text():
    """The baseline diff's Markdown uses the same escaping: a summary with _ or * is text, a banner is a whole code span."""
    from ansible_collections.mailops.mailflow.plugins.plugin_utils import _baseline as B
    before = lab_facts()
    after = copy.deepcopy(before)
    exchange = after['smtp']['exchange']
    exchange['passed'] = False
    exchange['diagnosis'] = dict(exchange['diagnosis'], summary=BLOCKED + ' *now*', code=550, status='rejected')
    banner = [step for step in exchange['steps'] if step['name'] == 'banner'][0]
    banner['reply']['lines'] = ['220 ' + HOSTILE_REPLY]
    diff = B.compare(B.build_snapshot({'edge1': before}), B.build_snapshot({'edge1': after}))
    markdown = B.render_markdown(diff)
    assert ': 550 \\_Blocked\\_ \\*now\\*' in markdown
    banner_line = [line for line in markdown.splitlines() if '\u2192' in line and 'tick' in line][0]
    assert _code_span_text(banner_line.split(u' \u2192 ')[1]) == HOSTILE_REPLY


# ------------------------------------------------------------------------- behaviour pinned by the mutation check

@pytest.mark.parametrize('value, required', [
    (None, True), (True, True), (False, False), (1, True), (0, False), (0.0, False),
    ('yes', True), ('true', True), ('no', False), (' No ', False), ('FALSE', False), ('off', False), ('0', False),
])
def test_required_label_values(value, required):
    entry = {'passed': False, 'labels': {'check': 'c', 'required': value}}
    record = R.check_records({'h': {'smtp': {'x': entry}}})[0]
    assert (record['required'], record['status']) == (required, 'fail' if required else 'optional_fail')


def test_the_failing_reply_is_quoted_whole_or_marked_as_cut():
    def record(lines):
        entry = {'passed': False, 'steps': [{'name': 'rcpt', 'ok': False, 'reply': {'code': 550, 'lines': lines}}]}
        return R.check_records({'h': {'smtp': {'x': entry}}})[0]
    assert record(['550 5.1.1 unknown'])['reply'] == '550 5.1.1 unknown'
    assert record(['550-5.1.1 unknown', '550 5.1.1 see the help'])['reply'] == u'550-5.1.1 unknown \u2026'


def test_slow_replies_and_repeated_warnings_are_warned_once():
    entry = {'passed': True, 'warnings': ['certificate expires in 10 days', 'certificate expires in 10 days'],
             'steps': [{'name': 'ehlo', 'ok': True, 'slow': True, 'elapsed_ms': 1200}, {'name': 'mail', 'ok': True}]}
    record = R.check_records({'h': {'smtp': {'x': entry}}})[0]
    assert record['status'] == 'warn'
    assert record['warnings'] == ['certificate expires in 10 days', 'ehlo reply slow (1200 ms)']
    page = R.render_html([record])
    assert '<summary>2 warnings</summary>' in page
    one = R.check_records({'h': {'smtp': {'x': dict(entry, warnings=[])}}})
    assert '<summary>1 warning</summary>' in R.render_html(one)


def test_a_failed_route_shows_the_sessions_of_the_failed_probes_only():
    facts = lab_facts()
    route = facts['routes']['primary-down.test']
    route['passed'] = False
    record = by_key(R.check_records({'h': facts}))[('h', 'routes', 'primary-down.test')]
    assert record['transcript'][0] == '== down.primary-down.test [127.0.0.19]'
    assert not [line for line in record['transcript'] if line.startswith('== mx2')]


def test_a_passing_check_carries_no_transcript(fleet):
    records = by_key(R.check_records(fleet))
    assert records[('edge1', 'smtp', 'exchange')]['transcript'] == []
    assert records[('edge1', 'smtp', 'refused')]['transcript']


def test_transcripts_are_cut_only_beyond_the_limit():
    def transcript(count):
        entry = {'passed': False, 'transcript': ['line %d' % number for number in range(count)]}
        return R.check_records({'h': {'smtp': {'x': entry}}})[0]['transcript']
    assert transcript(R.TRANSCRIPT_LINES) == ['line %d' % number for number in range(R.TRANSCRIPT_LINES)]
    cut = transcript(R.TRANSCRIPT_LINES + 5)
    assert len(cut) == R.TRANSCRIPT_LINES + 1
    assert cut[R.TRANSCRIPT_LINES // 4] == u'\u2026 (5 lines left out)'
    assert cut[-1] == 'line %d' % (R.TRANSCRIPT_LINES + 4)


def test_a_check_optional_on_any_host_is_an_optional_column():
    def facts(required):
        return {'smtp': {'x': {'passed': True, 'labels': {'check': 'c', 'target': 't', 'required': required}}}}
    for order in (('a', 'b'), ('b', 'a')):
        by_host = {'a': facts(True), 'b': facts(False)}
        matrix = R.build_matrix(R.check_records(by_host, hosts=list(order)))
        assert [column['required'] for column in matrix['columns']] == [False]


def test_summary_counts_warned_checks_as_passed(fleet):
    summary = R.summarize(R.check_records(fleet))
    assert (summary['passed'], summary['counts']) == (8, {'pass': 7, 'warn': 1, 'fail': 7, 'optional_fail': 2})


def test_summary_line_of_one_failing_host_and_of_exactly_three(fleet):
    line = R.summarize(R.check_records({'edge1': fleet['edge1']}))['line']
    assert line.startswith('mailflow: 4 of 8 required checks failed on 1 host: ')
    three = dict(('edge%d' % number, copy.deepcopy(fleet['edge1'])) for number in (1, 2, 3))
    assert R.summarize(R.check_records(three))['line'].endswith(
        'refused @ 127.0.0.19:25 (connect connection_refused) on edge1, edge2, edge3')
    four = dict(three, edge4=copy.deepcopy(fleet['edge1']))
    assert 'on edge1, edge2, edge3 and 1 more hosts' in R.summarize(R.check_records(four))['line']


def test_summary_line_lists_four_problems_without_a_tail(fleet):
    line = R.summarize(R.check_records(fleet))['line']
    assert line.count(' on edge') == 4 and 'more' not in line


def test_markdown_hosts_as_rows_marks_checks_not_run(fleet):
    markdown = R.render_markdown(R.check_records(fleet, select='[?labelled]'), layout='hosts_as_rows')
    rows = [line for line in markdown.splitlines() if line.startswith('| edge')]
    assert rows[1].split(' | ')[-1] == u'\u2013 |'  # edge2 did not probe the route, the last labelled column


def test_auto_layout_puts_hosts_as_rows_when_there_are_no_more_checks_than_hosts():
    def facts():
        return {'smtp': {'a': {'passed': True}, 'b': {'passed': True}}}
    table = [line for line in R.render_markdown(R.check_records({'h1': facts(), 'h2': facts()})).splitlines()
             if line.startswith('|')]
    assert table[0] == '| host | a | b |'
    table = [line for line in R.render_markdown(R.check_records({'h1': facts()})).splitlines() if line.startswith('|')]
    assert table[0] == '| group | check | target | h1 |'


def test_markdown_text_stays_on_its_line():
    assert R.md_text('550 first\r\nsecond\rthird') == '550 first  second third'
    markdown = R.render_markdown(R.check_records({'h': {'smtp': {'x': {'passed': False, 'diagnosis': {
        'step': 'rcpt', 'code': 550, 'summary': 'one\r\ntwo', 'remedy': 'three\rfour'}}}}}))
    assert '\r' not in markdown and '  - one  two' in markdown and '**Remedy:** three four' in markdown


def test_junit_times_in_seconds_and_optional_failures_keep_their_diagnosis(fleet):
    root = ET.fromstring(R.render_junit(R.check_records(fleet)).encode('utf-8'))
    suite = root.find('testsuite')
    case = [case for case in suite.findall('testcase') if case.get('name') == 'recipients_accepted @ mail1.exchange.test'][0]
    assert case.get('time') == '0.034'  # 33.97 ms
    optional = [case for case in suite.findall('testcase') if case.find('skipped') is not None][0]
    assert optional.find('skipped').get('message').startswith('optional check failed: mail 530 5.7.1: Client was not authenticated')
    assert 'remedy: ' in optional.find('system-out').text


def test_markdown_optional_failures_without_remedy(fleet):
    markdown = R.render_markdown(R.check_records(fleet))
    optional = markdown.split('## Optional checks failed')[1].split('## Warnings')[0]
    assert 'Client was not authenticated' in optional
    assert 'Remedy' not in optional


ROUNDTRIP_LABELS = {'check': 'roundtrip', 'role': 'roundtrip', 'domain': 'roundtrip.test',
                    'target': 'kate@roundtrip.test', 'required': True}


def test_round_trip_entries_are_checks_with_folder_latency_and_hops():
    delivered = {'passed': True, 'recipient': 'kate@roundtrip.test', 'folder': 'INBOX', 'latency_s': 0.8,
                 'accepted': True, 'hops': [{'index': 1, 'from': 'a', 'by': 'relay.roundtrip.test', 'delay_s': 0.1,
                                             'tls': {'protocol': 'TLSv1.3'}},
                                            {'index': 2, 'from': 'relay', 'by': 'mx.roundtrip.test', 'delay_s': 0.2,
                                             'tls': None}],
                 'diagnosis': {'category': 'delivered', 'status': 'ok', 'summary': 'delivered'},
                 'labels': ROUNDTRIP_LABELS}
    delayed = dict(delivered, passed=False, latency_s=4.2,
                   diagnosis={'category': 'delayed', 'status': 'transient', 'summary': 'late'},
                   slowest_hop={'index': 2, 'held_by': 'relay.roundtrip.test', 'delay_s': 4.0})
    lost = {'passed': False, 'recipient': 'lost@roundtrip.test', 'accepted': True, 'hops': [],
            'smtp': {'transcript': ['-> QUIT']}, 'labels': dict(ROUNDTRIP_LABELS, target='lost@roundtrip.test'),
            'diagnosis': {'category': 'not_delivered', 'status': 'transient', 'summary': 'not delivered'}}
    refused = dict(lost, accepted=False, diagnosis={'category': 'refused_at_submission', 'status': 'auth'})
    facts = {'th1': {'roundtrip': {'roundtrip:kate': delivered, 'roundtrip:late': delayed,
                                   'roundtrip:lost': lost, 'roundtrip:refused': refused}}}
    records = {record["name"]: record for record in R.check_records(facts)}
    assert records['roundtrip:kate']['status'] == 'pass'
    assert records['roundtrip:kate']['brief'] == 'INBOX in 0.8 s, 2 hops'
    assert records['roundtrip:late']['brief'] == 'delayed'
    assert 'the slowest hop: relay.roundtrip.test held it 4.0 s' in records['roundtrip:late']['warnings']
    assert records['roundtrip:late']['transcript'][0] == 'hop 1: a -> relay.roundtrip.test, 0.1 s, TLSv1.3'
    assert records['roundtrip:lost']['brief'] == 'not delivered'
    assert records['roundtrip:refused']['transcript'] == ['-> QUIT']
    assert {record['section'] for record in records.values()} == {'roundtrip'}
