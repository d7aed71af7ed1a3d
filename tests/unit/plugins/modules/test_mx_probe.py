# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""mx_probe module: option checks before anything is sent, result shape, facts, check mode, transcripts."""

from __future__ import annotations

import json
import os
import stat

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.mailops.mailflow.plugins.module_utils._route import engine
from ansible_collections.mailops.mailflow.plugins.module_utils._smtp.argspec import SMTP_OPTIONS_ARGSPEC, SMTP_PROBE_ARGSPEC
from ansible_collections.mailops.mailflow.plugins.modules import mx_probe
from ansible_collections.mailops.mailflow.tests.unit.plugins.module_utils._route.fakemta import FakeMta
from ansible_collections.mailops.mailflow.tests.unit.plugins.module_utils._route.test_engine import DOWN, MX1, MX2, zone_resolver

NS = '192.0.2.53'
BASE = {'nameservers': [NS], 'helo_name': 'contoso.test', 'mail_from': 'chris@contoso.test', 'tls': 'none',
        'connect_timeout': 2.0, 'deadline': 10.0}


@pytest.fixture
def lab(monkeypatch):
    """Scripted servers on loopback and an in-memory zone behind every resolver the engine makes."""
    monkeypatch.setattr(engine, 'make_resolver', lambda options: zone_resolver())
    behaviours = {
        MX1: {'rcpt': {'nosuchuser@route.test': '550 5.1.1 <nosuchuser@route.test>: User unknown'}},
        MX2: {},
    }
    with FakeMta(behaviours, refused=[DOWN]) as mta:
        yield mta


def run(capsys, args, check_mode=False, whole=True):
    if check_mode:
        args = dict(args, _ansible_check_mode=True)
    if whole:
        # These tests read the whole result and the facts; test_detail_* below run with the defaults.
        args = dict({'detail': 'full', 'facts': True}, **args)
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            mx_probe.main()
    return json.loads(capsys.readouterr().out)


def test_every_smtp_probe_option_passes_through():
    spec = mx_probe.argument_spec()
    for option, definition in SMTP_OPTIONS_ARGSPEC.items():
        assert spec[option] == definition
    # host is replaced by domain/domains; everything else smtp_probe takes, mx_probe takes too.
    assert set(SMTP_PROBE_ARGSPEC) - {'host'} <= set(spec)
    assert spec['port']['default'] == 25
    assert spec['dns_port']['default'] == 53


def test_tls_min_days_reaches_the_smtp_engine(capsys, lab):
    result = run(capsys, dict(BASE, port=lab.port, domain='implicit.test', rcpt_to=['kate@route.test'], tls_min_days=-1))
    assert result['failed'] is True
    assert result['option'] == 'tls_min_days'


def test_labels_come_back_unchanged_with_every_domain(capsys, lab):
    labels = {'check': 'route', 'required': True}
    result = run(capsys, dict(BASE, port=lab.port, domains=['implicit.test', 'nullmx.test'], rcpt_to=['kate@route.test'],
                              labels=labels))
    assert result['labels'] == labels
    assert [route['labels'] for route in result['ansible_facts']['mailflow']['routes'].values()] == [labels, labels]


@pytest.mark.parametrize('args, option', [
    (dict(domain='fabrikam.test\r\nQUIT'), 'domain'),
    (dict(domain='kate@fabrikam.test'), 'domain'),
    (dict(domains=['fabrikam.test', 'bad..test']), 'domains'),
    (dict(domain='fabrikam.test', dns_port=0), 'dns_port'),
    (dict(domain='fabrikam.test', dns_lifetime=0), 'dns_lifetime'),
    (dict(domain='fabrikam.test', nameservers=['ns1.fabrikam.test']), 'nameservers'),
    (dict(domain='fabrikam.test', concurrency=0), 'concurrency'),
    (dict(domain='fabrikam.test', concurrency=100000), 'concurrency'),
    (dict(domain='fabrikam.test', rcpt_to=['kate@fabrikam.test\nDATA']), 'rcpt_to[0]'),
    (dict(domain='fabrikam.test', mail_from=None), 'mail_from'),
    (dict(domain='fabrikam.test', name=' '), 'name'),
])
def test_bad_options_fail_before_anything_is_sent(capsys, lab, args, option):
    result = run(capsys, dict(BASE, port=lab.port, **args))
    assert result['failed'] is True
    assert result['option'] == option
    assert result['msg'].startswith(option)
    assert all(count == 0 for count in lab.connections.values())


@pytest.mark.parametrize('args', [
    dict(domain='fabrikam.test', domains=['contoso.test']),
    dict(domains=['fabrikam.test'], name='x'),
    dict(),
    dict(domain='fabrikam.test', probe='random'),
])
def test_argument_spec_rules(capsys, lab, args):
    result = run(capsys, dict(BASE, port=lab.port, **args))
    assert result['failed'] is True


def test_single_domain_returns_its_keys_at_the_top_and_in_the_facts(capsys, lab):
    result = run(capsys, dict(BASE, port=lab.port, domain='primary-down.test.', rcpt_to=['kate@route.test']))
    assert result['changed'] is False
    assert result['domain'] == 'primary-down.test'
    assert result['status'] == 'ok'
    assert [exchanger['preference'] for exchanger in result['exchangers']] == [10, 20]
    assert result['verdict']['deliverable'] is True
    assert result['passed'] is True
    assert result['verdict']['via']['host'] == 'mx2.route.test'
    assert result['verdict']['failures'][0]['diagnosis']['error'] == 'connection_refused'
    assert result['msg'] == result['verdict']['summary']
    assert result['probe_mode'] == 'all'
    assert result['mx']['query_name'] == 'primary-down.test.'
    assert [probe['address'] for probe in result['probes']] == [DOWN, MX2]
    route = result['ansible_facts']['mailflow']['routes']['primary-down.test']
    assert route['verdict'] == result['verdict']
    assert 'results' not in result


def test_name_sets_the_fact_key(capsys, lab):
    result = run(capsys, dict(BASE, port=lab.port, domain='implicit.test', rcpt_to=['kate@route.test'], name='lab-implicit'))
    assert list(result['ansible_facts']['mailflow']['routes']) == ['lab-implicit']


def test_domains_return_results_in_order_with_outcome_counts(capsys, lab):
    domains = ['rejecting.test', 'nullmx.test', 'primary-down.test', 'nosuchdomain.test']
    result = run(capsys, dict(BASE, port=lab.port, domains=domains, rcpt_to=['nosuchuser@route.test'], probe='first_success',
                              fail_on_failure=False))
    assert 'failed' not in result
    assert [entry['domain'] for entry in result['results']] == domains
    assert [entry['verdict']['outcome'] for entry in result['results']] == ['rejected', 'null_mx', 'deliverable', 'nxdomain']
    assert result['outcomes'] == {'rejected': 1, 'null_mx': 1, 'deliverable': 1, 'nxdomain': 1}
    assert [entry['passed'] for entry in result['results']] == [False, False, True, False]
    assert result['passed'] is False
    assert sorted(result['ansible_facts']['mailflow']['routes']) == sorted(domains)
    assert result['msg'] == '4 domains: 1 deliverable, 1 null_mx, 1 nxdomain, 1 rejected'
    assert 'verdict' not in result


def test_check_mode_never_sends_data(capsys, lab):
    args = dict(BASE, port=lab.port, domain='primary-down.test', rcpt_to=['kate@route.test'], send_message=True,
                quit_after='data', probe='first_success')
    result = run(capsys, args, check_mode=True)
    assert result['changed'] is False
    assert 'send_message was forced to false' in result['check_mode_note']
    assert result['verdict']['deliverable'] is True
    assert not any(command.startswith('DATA') for command in lab.commands[MX2])
    assert all(step['name'] not in ('data', 'message') for probe in result['probes'] for step in probe['steps'])


def test_send_message_outside_check_mode_reports_a_change(capsys, lab):
    args = dict(BASE, port=lab.port, domain='primary-down.test', rcpt_to=['kate@route.test'], send_message=True,
                probe='first_success')
    result = run(capsys, args)
    assert result['changed'] is True
    assert result['probes'][-1]['queued_as'].startswith('FAKE')
    assert lab.commands[MX2].count('DATA') == 1


def test_transcript_path_holds_every_probe(capsys, lab, tmp_path):
    path = tmp_path / 'routes.txt'
    result = run(capsys, dict(BASE, port=lab.port, domain='primary-down.test', rcpt_to=['kate@route.test'],
                              transcript_path=str(path)))
    text = path.read_text()
    assert '== primary-down.test: down.primary-down.test [%s]' % DOWN in text
    assert '== primary-down.test: mx2.route.test [%s]' % MX2 in text
    assert 'RCPT TO:<kate@route.test>' in text
    assert stat.S_IMODE(os.stat(str(path)).st_mode) == 0o600
    assert result['verdict']['deliverable'] is True


def test_missing_dnspython_is_reported(capsys, lab, monkeypatch):
    monkeypatch.setattr(mx_probe, 'HAS_DNSPYTHON', False)
    result = run(capsys, dict(BASE, port=lab.port, domain='fabrikam.test', rcpt_to=['kate@route.test']))
    assert result['failed'] is True
    assert 'dnspython' in result['msg']
    assert result['diagnosis']['category'] == 'dns_library_missing'


def test_domains_not_deliverable_fail_the_task_naming_each_with_step_code_and_summary(capsys, lab):
    domains = ['rejecting.test', 'primary-down.test', 'nosuchdomain.test']
    result = run(capsys, dict(BASE, port=lab.port, domains=domains, rcpt_to=['nosuchuser@route.test'], probe='first_success'))
    assert result['failed'] is True
    assert result['passed'] is False
    rejected, nxdomain = result['results'][0], result['results'][2]
    # The DNS verdict quotes its diagnosis already, so only the condition is added.
    assert result['msg'] == 'mx_probe: 2 of 3 domains not deliverable: %s (diagnosis: rcpt 550 5.1.1: %s) | %s (diagnosis: mx %s)' % (
        rejected['verdict']['summary'], rejected['verdict']['diagnosis']['summary'], nxdomain['verdict']['summary'],
        nxdomain['verdict']['diagnosis']['error'])
    assert sorted(result['ansible_facts']['mailflow']['routes']) == sorted(domains)


def test_one_domain_not_deliverable_fails_the_task_with_its_verdict(capsys, lab):
    result = run(capsys, dict(BASE, port=lab.port, domain='rejecting.test', rcpt_to=['nosuchuser@route.test']))
    assert result['failed'] is True
    assert result['msg'].startswith(result['verdict']['summary'] + ' (diagnosis: rcpt 550 5.1.1: ')
    assert result['probes'] and result['ansible_facts']['mailflow']['routes']['rejecting.test']['passed'] is False


def test_a_message_queued_for_some_recipients_is_in_msg_with_the_refused_one(capsys, lab):
    args = dict(BASE, port=lab.port, domain='rejecting.test', rcpt_to=['kate@route.test', 'nosuchuser@route.test'],
                send_message=True, probe='first_success', fail_on_failure=False)
    result = run(capsys, args)
    [sent] = [probe for probe in result['probes'] if probe['message_accepted']]
    assert result['verdict']['outcome'] == 'partial' and result['changed'] is True
    assert result['msg'] == '%s; %s [%s] queued as %s for 1 of 2 recipients; refused at rcpt: nosuchuser@route.test (550 5.1.1)' % (
        result['verdict']['summary'], sent['exchanger'], sent['address'], sent['queued_as'])
