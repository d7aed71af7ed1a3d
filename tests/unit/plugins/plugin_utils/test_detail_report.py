# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lean result (detail: summary) carries everything the report and the baseline read (issue 15).

fixtures/lab_full.json holds the facts of one run against the real lab at detail: full: passes (with and without
the tls_verify: false reconnect), an unknown user, an expected 5.1.1, relay denied, a certificate name mismatch,
a refused port, the Exchange persona, a slow Exim, and mx_probe domains (deliverable, fallback, null MX, NXDOMAIN,
dangling MX, relay denied). The summary of the same run must give the same report in every rendering, and the same
baseline.
"""

from __future__ import annotations

import copy
import json
import os

import pytest

from ansible_collections.mailops.mailflow.plugins.module_utils._smtp.detail import (
    current_connection, route_output, smtp_output, summarize_route, summarize_smtp)
from ansible_collections.mailops.mailflow.plugins.plugin_utils import _baseline as B
from ansible_collections.mailops.mailflow.plugins.plugin_utils import _report as R

FIXTURE = os.path.join(os.path.dirname(__file__), 'fixtures', 'lab_full.json')
GENERATED = '2026-12-05T08:00:00Z'


def full_facts():
    with open(FIXTURE, encoding='utf-8') as handle:
        return json.load(handle)['mailflow']


def lean_facts(facts):
    return {
        'smtp': dict((name, summarize_smtp(entry)) for name, entry in facts['smtp'].items()),
        'routes': dict((name, summarize_route(entry)) for name, entry in facts['routes'].items()),
    }


def renderings(facts_by_host):
    hosts = list(facts_by_host)
    records = R.check_records(facts_by_host, hosts=hosts)
    return {
        'records': records,
        'summary': R.summarize(records, hosts=hosts),
        'document': R.report_document(records, hosts=hosts, title='t', generated=GENERATED),
        'markdown': R.render_markdown(records, hosts=hosts, title='t'),
        'junit': R.render_junit(records, hosts=hosts, generated=GENERATED),
        'html': R.render_html(records, hosts=hosts, title='t', generated=GENERATED),
        'baseline': B.build_snapshot(facts_by_host, hosts=hosts, created=GENERATED),
    }


@pytest.fixture(scope='module')
def both():
    full = full_facts()
    # Two vantage hosts, so the matrix has columns to compare: edge2 saw the same run.
    return renderings({'edge1': full, 'edge2': copy.deepcopy(full)}), \
        renderings({'edge1': lean_facts(full), 'edge2': lean_facts(copy.deepcopy(full))})


@pytest.mark.parametrize('what', ['records', 'summary', 'document', 'markdown', 'junit', 'html', 'baseline'])
def test_a_report_from_the_lean_form_equals_one_from_the_full_form(both, what):
    full, lean = both
    assert lean[what] == full[what]


def test_the_comparison_is_not_empty(both):
    full, _lean = both
    records = full['records']
    assert len(records) == 2 * 17
    statuses = set(record['status'] for record in records)
    assert {'pass', 'warn', 'fail', 'optional_fail'} <= statuses
    assert any(record['transcript'] for record in records)
    assert any(codes for codes in full['baseline']['hosts']['edge1'].values())


def test_a_baseline_saved_at_full_detail_compares_equal_to_a_lean_run():
    full = full_facts()
    saved = B.build_snapshot({'edge1': full}, hosts=['edge1'], created=GENERATED)
    current = B.build_snapshot({'edge1': lean_facts(full)}, hosts=['edge1'], created=GENERATED)
    diff = B.compare(saved, current)
    assert diff['verdict'] == 'ok' and not any(diff['counts'].values()), diff['line']


def test_the_lean_form_is_smaller_and_keeps_the_transcript_only_of_a_failure():
    full = full_facts()
    lean = lean_facts(full)
    assert len(json.dumps(lean)) < len(json.dumps(full)) / 2
    for name, entry in full['smtp'].items():
        assert len(json.dumps(lean['smtp'][name])) < len(json.dumps(entry))
        assert ('transcript' in lean['smtp'][name]) is (not entry['passed'])
        assert 'capabilities_before_tls' not in lean['smtp'][name]
    # One exchanger with STARTTLS and its certificate, as most partner domains have: the 4 KB of issue 15.
    route = lean['routes']['exchange_route']
    assert 'mx' not in route and len(json.dumps(route, separators=(',', ':'))) <= 4096


def test_summary_steps_are_flat_with_the_lines_of_a_failed_step():
    full = full_facts()
    lean = summarize_smtp(full['smtp']['unknown_user'])
    rcpt = [step for step in lean['steps'] if step['name'] == 'rcpt']
    assert rcpt[0] == {'name': 'rcpt', 'code': 550, 'enhanced': '5.1.1', 'elapsed_ms': rcpt[0]['elapsed_ms'], 'ok': False,
                       'text': rcpt[0]['text'], 'command': 'RCPT TO:<nobody@fabrikam.test>',
                       'lines': full_step(full['smtp']['unknown_user'], 'rcpt')['reply']['lines']}
    assert rcpt[0]['text'].startswith('<nobody@fabrikam.test>: Recipient address rejected')
    assert 'lines' not in rcpt[1] and rcpt[1]['ok'] is True
    connect = lean['steps'][0]
    assert set(connect) == {'name', 'elapsed_ms', 'ok'}


def full_step(entry, name):
    return [step for step in entry['steps'] if step['name'] == name][0]


def test_the_reconnect_of_tls_verify_false_is_left_out_only_when_it_repeated_passing_steps():
    full = full_facts()
    repeated = full['smtp']['pass_reconnect']['steps']
    assert [step['name'] for step in repeated].count('connect') == 2
    assert [step['name'] for step in current_connection(repeated)].count('connect') == 1
    # tls_verify: true: the first connection failed verification; the read-only reconnect must not hide it
    failed = full['smtp']['bad_name_verify']['steps']
    assert current_connection(failed) == failed


def test_the_diagnosis_is_whole_where_something_failed_or_was_slow():
    full = full_facts()
    assert 'references' in summarize_smtp(full['smtp']['unknown_user'])['diagnosis']
    assert 'references' in summarize_smtp(full['smtp']['slow_exim'])['diagnosis']
    passed = summarize_smtp(full['smtp']['pass_verified'])['diagnosis']
    assert 'references' not in passed and passed['remedy'] and passed['status'] == 'ok'


def test_facts_only_when_asked_and_the_same_result_as_returned():
    full = full_facts()
    shown, facts = smtp_output(full['smtp']['pass_verified'], 'mx1', 'summary', False)
    assert facts is None
    shown, facts = smtp_output(full['smtp']['pass_verified'], 'mx1', 'summary', True)
    assert facts == {'mailflow': {'smtp': {'mx1': shown}}}
    shown, facts = smtp_output(full['smtp']['pass_verified'], 'mx1', 'full', True)
    assert shown == full['smtp']['pass_verified'] and facts['mailflow']['smtp']['mx1'] == shown
    shown, facts = route_output(list(full['routes'].values()), 'summary', True)
    assert sorted(facts['mailflow']['routes']) == sorted(entry['domain'] for entry in full['routes'].values())
    shown, facts = route_output([full['routes']['fabrikam.test']], 'summary', True, key='outbound:fabrikam.test')
    assert list(facts['mailflow']['routes']) == ['outbound:fabrikam.test']
