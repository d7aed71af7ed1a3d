# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""mx_lookup module: option checks before any query, result shape, facts, check mode."""

from __future__ import annotations

import json

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.mailops.mailflow.plugins.module_utils._dns import mx as engine
from ansible_collections.mailops.mailflow.plugins.modules import mx_lookup
from ansible_collections.mailops.mailflow.tests.unit.plugins.module_utils._dns.fakedns import ZoneNameserver

NS = '192.0.2.53'


@pytest.fixture
def nameserver(monkeypatch):
    """Every resolver the engine makes talks to one in-memory nameserver."""
    zone_nameserver = ZoneNameserver(servfail=['servfail.test'])
    real_make_resolver = engine.make_resolver

    def make_fake_resolver(options):
        resolver = real_make_resolver(options)
        zone_nameserver.port = options.port
        resolver.nameservers = [zone_nameserver]
        return resolver

    monkeypatch.setattr(engine, 'make_resolver', make_fake_resolver)
    return zone_nameserver


def run(capsys, args):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            mx_lookup.main()
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize('args, prefix', [
    (dict(domain='fabrikam.test', nameservers=['ns1.fabrikam.test']), 'nameservers[0]: '),
    (dict(domain='fabrikam.test', nameservers=[NS, '999.1.1.1']), 'nameservers[1]: '),
    (dict(domain='fabrikam.test', port=0), 'port: '),
    (dict(domain='fabrikam.test', port=70000), 'port: '),
    (dict(domain='fabrikam.test', timeout=0), 'timeout: '),
    (dict(domain='fabrikam.test', lifetime=-2), 'lifetime: '),
    (dict(domain='fabrikam.test\r\nQUIT'), 'domain: '),
    (dict(domain='kate@fabrikam.test'), 'domain: '),
    (dict(domain='fabrikam..test'), 'domain: '),
    (dict(domains=[]), 'domains: '),
    (dict(domains=['fabrikam.test', 'contoso.test\n']), 'domains[1]: '),
    (dict(domain='fabrikam.test', name=''), 'name: '),
])
def test_bad_options_fail_before_any_query(capsys, nameserver, args, prefix):
    args.setdefault('nameservers', [NS])
    result = run(capsys, args)
    assert result['failed'] is True
    assert result['msg'].startswith(prefix), result['msg']
    assert '\n' not in result['msg']
    assert nameserver.asked() == []


def test_nul_in_domain_fails_before_any_query(capsys, nameserver):
    # Ansible itself refuses to syslog a NUL; with target logging off (no_log) our own check answers.
    result = run(capsys, dict(domain='fabrikam.test\x00', nameservers=[NS]))
    assert result['failed'] is True
    result = run(capsys, dict(domain='fabrikam.test\x00', nameservers=[NS], _ansible_no_log=True))
    assert result['failed'] is True
    assert result['msg'].startswith('domain: ') and 'NUL' in result['msg']
    assert nameserver.asked() == []


@pytest.mark.parametrize('args, fragment', [
    (dict(domain='fabrikam.test', domains=['contoso.test']), 'mutually exclusive'),
    (dict(domains=['contoso.test'], name='x'), 'mutually exclusive'),
    (dict(nameservers=[NS]), 'one of the following is required'),
    (dict(domain='fabrikam.test', ip_version='5'), 'ip_version'),
])
def test_argument_spec_rules(capsys, nameserver, args, fragment):
    result = run(capsys, args)
    assert result['failed'] is True
    assert fragment in result['msg']
    assert nameserver.asked() == []


def test_single_domain_keys_at_top_level_and_facts(capsys, nameserver):
    result = run(capsys, dict(domain='fabrikam.test.', nameservers=[NS], port=5353))
    assert result['changed'] is False
    assert 'failed' not in result
    assert result['domain'] == 'fabrikam.test' and result['query_name'] == 'fabrikam.test.'
    assert result['status'] == 'ok'
    assert [(item['preference'], item['host']) for item in result['exchangers']] == [(10, 'mx1.fabrikam.test'), (20, 'mx2.fabrikam.test')]
    assert result['nameserver'] == NS and result['nameserver_port'] == 5353
    assert 'results' not in result
    facts = result['ansible_facts']['mailflow']['mx']
    assert list(facts) == ['fabrikam.test']
    assert facts['fabrikam.test']['exchangers'] == result['exchangers']
    assert result['diagnosis']['status'] == 'ok'


def test_name_sets_the_facts_key(capsys, nameserver):
    result = run(capsys, dict(domain='nullmx.test', nameservers=[NS], name='no-mail-here'))
    assert result['status'] == 'null_mx'
    assert list(result['ansible_facts']['mailflow']['mx']) == ['no-mail-here']


def test_domains_give_results_in_order_with_one_fact_each(capsys, nameserver):
    domains = ['servfail.test', 'fabrikam.test', 'nosuchdomain.test', 'implicit.test.', 'nodata.test']
    result = run(capsys, dict(domains=domains, nameservers=[NS]))
    assert [record['domain'] for record in result['results']] == [
        'servfail.test', 'fabrikam.test', 'nosuchdomain.test', 'implicit.test', 'nodata.test']
    assert [record['status'] for record in result['results']] == ['servfail', 'ok', 'nxdomain', 'implicit_mx', 'no_mail']
    assert 'status' not in result
    assert sorted(result['ansible_facts']['mailflow']['mx']) == sorted(record['domain'] for record in result['results'])
    assert result['changed'] is False


def test_check_mode_runs_the_lookup(capsys, nameserver):
    result = run(capsys, dict(domain='fabrikam.test', nameservers=[NS], _ansible_check_mode=True))
    assert result['status'] == 'ok'
    assert result['changed'] is False
    assert nameserver.asked('MX') == [('fabrikam.test.', 'MX', False)]


def test_missing_dnspython_fails_with_the_install_hint(capsys, monkeypatch, nameserver):
    monkeypatch.setattr(mx_lookup, 'HAS_DNSPYTHON', False)
    result = run(capsys, dict(domain='fabrikam.test', nameservers=[NS]))
    assert result['failed'] is True
    assert result['msg'] == 'dnspython is required on the managed host: pip install dnspython (or apt install python3-dnspython)'
    assert 'exception' not in result
    assert result['diagnosis'] is not None
    assert nameserver.asked() == []


def test_host_without_resolver_configuration_fails_cleanly(capsys, monkeypatch):
    def no_configuration(options):
        raise engine.DnsConfigError('the host has no usable resolver configuration (no nameservers); give nameservers')

    monkeypatch.setattr(engine, 'make_resolver', no_configuration)
    result = run(capsys, dict(domain='fabrikam.test'))
    assert result['failed'] is True
    assert 'give nameservers' in result['msg']


LABELS = {'check': 'mx_set', 'role': 'inbound', 'domain': 'fabrikam.test', 'target': 'fabrikam.test', 'required': True}


def test_passed_and_labels_without_expectation(capsys, nameserver):
    result = run(capsys, dict(domain='fabrikam.test', nameservers=[NS], labels=LABELS))
    assert result['passed'] is True
    assert result['mx_set'] is None
    assert result['labels'] == LABELS
    assert result['ansible_facts']['mailflow']['mx']['fabrikam.test']['labels'] == LABELS
    assert result['ansible_facts']['mailflow']['mx']['fabrikam.test']['passed'] is True


def test_labels_default_to_an_empty_dict(capsys, nameserver):
    result = run(capsys, dict(domain='fabrikam.test', nameservers=[NS]))
    assert result['labels'] == {}


@pytest.mark.parametrize('domain, passed', [
    ('fabrikam.test', True),
    ('implicit.test', True),
    ('cname-mx.test', True),
    ('dangling.test', True),         # mx2 still takes the mail
    ('dangling-only.test', False),   # no exchanger has an address
    ('nullmx.test', False),
    ('nosuchdomain.test', False),
    ('nodata.test', False),
    ('servfail.test', False),
])
def test_passed_means_mail_can_flow(capsys, nameserver, domain, passed):
    result = run(capsys, dict(domain=domain, nameservers=[NS]))
    assert result['passed'] is passed


def test_expected_set_matches_regardless_of_case_dots_and_order(capsys, nameserver):
    result = run(capsys, dict(domain='fabrikam.test', nameservers=[NS],
                              expect_exchangers=['MX2.Fabrikam.Test.', 'mx1.fabrikam.test']))
    assert result['passed'] is True
    assert result['mx_set'] == {'expected': ['mx1.fabrikam.test', 'mx2.fabrikam.test'],
                                'found': ['mx1.fabrikam.test', 'mx2.fabrikam.test'],
                                'missing': [], 'unexpected': [], 'matches': True}
    assert result['diagnosis']['status'] == 'ok'


def test_expected_set_mismatch_fails_with_a_diagnosis(capsys, nameserver):
    result = run(capsys, dict(domain='fabrikam.test', nameservers=[NS], labels=LABELS, fail_on_failure=False,
                              expect_exchangers=['mx1.fabrikam.test', 'mx3.fabrikam.test']))
    assert 'failed' not in result
    assert result['status'] == 'ok'
    assert result['passed'] is False
    assert result['mx_set']['missing'] == ['mx3.fabrikam.test']
    assert result['mx_set']['unexpected'] == ['mx2.fabrikam.test']
    assert result['mx_set']['matches'] is False
    diagnosis = result['diagnosis']
    assert diagnosis['category'] == 'mx_set_mismatch'
    assert diagnosis['status'] == 'dns'
    assert 'missing: mx3.fabrikam.test' in diagnosis['notes']
    assert 'unexpected: mx2.fabrikam.test' in diagnosis['notes']
    fact = result['ansible_facts']['mailflow']['mx']['fabrikam.test']
    assert fact['passed'] is False and fact['diagnosis']['category'] == 'mx_set_mismatch' and fact['labels'] == LABELS


def test_expected_set_on_a_failed_lookup_keeps_the_dns_diagnosis(capsys, nameserver):
    result = run(capsys, dict(domain='nosuchdomain.test', nameservers=[NS], expect_exchangers=['mx1.nosuchdomain.test']))
    assert result['passed'] is False
    assert result['mx_set']['missing'] == ['mx1.nosuchdomain.test']
    assert result['diagnosis']['category'] == 'domain_not_found'
    assert result['diagnosis']['notes'][0] == 'the exchangers also differ from expect_exchangers'


def test_domains_pass_each_and_all(capsys, nameserver):
    result = run(capsys, dict(domains=['fabrikam.test', 'cname-mx.test'], nameservers=[NS], labels={'check': 'x'},
                              expect_exchangers=['mx1.fabrikam.test', 'mx2.fabrikam.test']))
    assert [record['passed'] for record in result['results']] == [True, False]
    assert result['results'][1]['mx_set']['unexpected'] == ['mailalias.cname-mx.test']
    assert result['passed'] is False
    assert result['labels'] == {'check': 'x'}
    assert all(record['labels'] == {'check': 'x'} for record in result['results'])


def test_bad_expected_host_fails_before_any_query(capsys, nameserver):
    result = run(capsys, dict(domain='fabrikam.test', nameservers=[NS], expect_exchangers=['mx1.fabrikam.test', 'bad host']))
    assert result['failed'] is True
    assert result['msg'].startswith('expect_exchangers[1]: ')
    assert nameserver.asked() == []


def test_a_lookup_that_did_not_pass_fails_the_task_in_one_line_with_the_facts(capsys, nameserver):
    result = run(capsys, dict(domain='nosuchdomain.test', nameservers=[NS]))
    assert result['failed'] is True
    assert result['passed'] is False and result['status'] == 'nxdomain'
    assert result['msg'] == 'nosuchdomain.test: status nxdomain at mx (%s): %s' % (
        result['diagnosis']['error'], result['diagnosis']['summary'])
    assert result['ansible_facts']['mailflow']['mx']['nosuchdomain.test']['status'] == 'nxdomain'


def test_a_set_mismatch_fails_the_task_naming_the_hosts(capsys, nameserver):
    result = run(capsys, dict(domain='fabrikam.test', nameservers=[NS], expect_exchangers=['mx1.fabrikam.test', 'mx3.fabrikam.test']))
    assert result['failed'] is True
    assert result['msg'].startswith('fabrikam.test: status ok at mx')
    assert result['msg'].endswith('(missing: mx3.fabrikam.test; unexpected: mx2.fabrikam.test)')


def test_many_domains_fail_naming_only_those_that_did_not_pass(capsys, nameserver):
    result = run(capsys, dict(domains=['fabrikam.test', 'nosuchdomain.test', 'servfail.test'], nameservers=[NS]))
    assert result['failed'] is True
    assert result['msg'].startswith('mx_lookup: 2 of 3 domains cannot take mail as checked: nosuchdomain.test: status nxdomain')
    assert ' | servfail.test: status servfail' in result['msg']
    assert 'fabrikam.test:' not in result['msg'].replace('nosuchdomain.test', '')


def test_fail_on_failure_false_keeps_a_failed_lookup_a_result(capsys, nameserver):
    result = run(capsys, dict(domain='nosuchdomain.test', nameservers=[NS], fail_on_failure=False))
    assert 'failed' not in result
    assert result['passed'] is False
