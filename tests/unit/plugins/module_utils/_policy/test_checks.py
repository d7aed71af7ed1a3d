# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How the checks turn answers, fetches and probes into named statuses (DNS, HTTPS and SMTP replaced by data)."""

from __future__ import annotations

import pytest

from ansible_collections.mailops.mailflow.plugins.module_utils._outcome import failure_message
from ansible_collections.mailops.mailflow.plugins.module_utils._policy import checks
from ansible_collections.mailops.mailflow.plugins.module_utils._policy.catalog import POLICY
from ansible_collections.mailops.mailflow.plugins.module_utils._policy.checks import PolicyOptions, PolicyRun

from ansible_collections.mailops.mailflow.tests.unit.plugins.module_utils._policy.test_dane import LEAF, OPENSSL

ENFORCE = 'version: STSv1\nmode: enforce\nmx: *.fabrikam.test\nmax_age: 604800\n'


def reply(outcome='answer', records=(), authenticated=False, nameserver='192.0.2.53'):
    return {'name': 'x', 'type': 'X', 'outcome': outcome, 'records': list(records), 'authenticated': authenticated,
            'nameserver': nameserver, 'port': 53, 'message': None if outcome in ('answer', 'nodata') else outcome}


def mx_record(*hosts):
    return {'domain': 'fabrikam.test', 'status': 'ok', 'error': None,
            'exchangers': [{'host': host, 'preference': 10 * (index + 1), 'addresses': [{'ip': '192.0.2.%d' % (index + 1)}]}
                           for index, host in enumerate(hosts)]}


def probe(verified=True, offered=True, der=LEAF):
    return {'host': 'h', 'address': '192.0.2.1', 'reached': True, 'starttls_offered': offered,
            'tls_used': bool(der) and offered, 'verified': verified if offered else None,
            'verify_error': None if verified else 'tls_cert_name_mismatch',
            'verify_message': None if verified else 'Hostname mismatch', 'certificate': {'sha256': 'AA'},
            'error': None, 'error_message': None, 'elapsed_ms': 1.0, '_der': der if offered else None, '_chain': None}


@pytest.fixture
def world(monkeypatch):
    """Answers by (name, type), the policy body, the MX hosts and the probe of each MX host."""
    state = {'answers': {}, 'policy': ENFORCE, 'mx': ('mx1.fabrikam.test',), 'probes': {}, 'fetch_reason': None}

    def fake_lookup(resolver, name, rdtype, tcp=False):
        found = state['answers'].get((name, rdtype))
        return dict(found) if found else reply('nxdomain')

    def fake_fetch(domain, addresses, ca_path=None, timeout=10.0):
        fetch = {'url': 'https://mta-sts.%s/.well-known/mta-sts.txt' % domain, 'host': 'mta-sts.' + domain,
                 'address': '192.0.2.80', 'ok': state['fetch_reason'] is None, 'reason': state['fetch_reason'],
                 'message': state['fetch_reason'] and 'failed: %s' % state['fetch_reason'], 'http_status': 200,
                 'content_type': 'text/plain', 'size': len(state['policy']), 'body': state['policy']}
        return fetch
    monkeypatch.setattr(checks, 'lookup', fake_lookup)
    monkeypatch.setattr(checks, 'addresses', lambda *args, **kwargs: (['192.0.2.80'], None))
    monkeypatch.setattr(checks, 'resolve_mx', lambda domain, options, resolver=None: mx_record(*state['mx']))
    monkeypatch.setattr(checks.mta_sts, 'fetch_policy', fake_fetch)
    monkeypatch.setattr(PolicyRun, 'probe', lambda self, host, address: state['probes'].get(host, probe()))
    return state


def run(state, validating=True, **kwargs):
    options = PolicyOptions(nameservers=['192.0.2.53'], dnssec_nameservers=['192.0.2.54'] if validating else None,
                            **kwargs)
    return checks.check_domains(['fabrikam.test'], options)[0]


def test_enforce_passes(world):
    world['answers'][('_mta-sts.fabrikam.test', 'TXT')] = reply(records=['v=STSv1; id=1'])
    result = run(world, checks=['mta_sts'])
    sts = result['checks']['mta_sts']
    assert (sts['status'], sts['passed'], sts['mode'], sts['policy_id']) == ('enforce', True, 'enforce', '1')
    assert sts['mx'][0]['pattern'] == '*.fabrikam.test'
    assert result['passed']


def test_invalid_certificate_fails_enforce_but_only_notes_under_testing(world):
    world['answers'][('_mta-sts.fabrikam.test', 'TXT')] = reply(records=['v=STSv1; id=1'])
    world['probes']['mx1.fabrikam.test'] = probe(verified=False)
    sts = run(world, checks=['mta_sts'])['checks']['mta_sts']
    assert sts['status'] == 'certificate_invalid' and not sts['passed']
    assert sts['invalid_certificate_mx'] == ['mx1.fabrikam.test']
    world['policy'] = ENFORCE.replace('enforce', 'testing')
    sts = run(world, checks=['mta_sts'])['checks']['mta_sts']
    assert sts['status'] == 'testing' and sts['passed']
    assert 'Hostname mismatch' in sts['diagnosis']['notes'][0]


def test_missing_starttls_counts_as_invalid_under_enforce(world):
    world['answers'][('_mta-sts.fabrikam.test', 'TXT')] = reply(records=['v=STSv1; id=1'])
    world['probes']['mx1.fabrikam.test'] = probe(offered=False)
    sts = run(world, checks=['mta_sts'])['checks']['mta_sts']
    assert sts['status'] == 'certificate_invalid'
    assert 'does not offer STARTTLS' in sts['diagnosis']['notes'][0]


def test_uncovered_mx_fails_even_in_testing_mode(world):
    world['answers'][('_mta-sts.fabrikam.test', 'TXT')] = reply(records=['v=STSv1; id=1'])
    world['mx'] = ('mx1.fabrikam.test', 'mx.contoso.test')
    world['policy'] = ENFORCE.replace('enforce', 'testing')
    sts = run(world, checks=['mta_sts'])['checks']['mta_sts']
    assert sts['status'] == 'mx_not_covered' and sts['uncovered_mx'] == ['mx.contoso.test']


@pytest.mark.parametrize('answer, status', [
    (reply('nxdomain'), 'no_record'),
    (reply(records=['v=spf1 -all']), 'no_record'),
    (reply(records=['v=STSv1; id=1', 'v=STSv1; id=2']), 'no_record'),
    (reply(records=['v=STSv1; id=bad!']), 'record_invalid'),
    (reply('servfail'), 'dns_failed'),
])
def test_record_outcomes(world, answer, status):
    world['answers'][('_mta-sts.fabrikam.test', 'TXT')] = answer
    assert run(world, checks=['mta_sts'])['checks']['mta_sts']['status'] == status


def test_fetch_failure_keeps_the_reason(world):
    world['answers'][('_mta-sts.fabrikam.test', 'TXT')] = reply(records=['v=STSv1; id=1'])
    world['fetch_reason'] = 'content_type'
    sts = run(world, checks=['mta_sts'])['checks']['mta_sts']
    assert sts['status'] == 'fetch_failed' and sts['fetch']['reason'] == 'content_type'
    assert 'body' not in sts['fetch']


def test_mode_none_passes(world):
    world['answers'][('_mta-sts.fabrikam.test', 'TXT')] = reply(records=['v=STSv1; id=1'])
    world['policy'] = 'version: STSv1\nmode: none\nmax_age: 86400\n'
    assert run(world, checks=['mta_sts'])['checks']['mta_sts']['status'] == 'none'


def tlsa_answer(authenticated=True, data=OPENSSL['leaf'][(1, 1)]):
    return reply(records=[{'usage': 3, 'selector': 1, 'matching_type': 1, 'data': data}], authenticated=authenticated,
                 nameserver='192.0.2.54')


def test_dane_match_from_the_validating_resolver(world):
    world['answers'][('_25._tcp.mx1.fabrikam.test', 'TLSA')] = tlsa_answer()
    dane = run(world, checks=['dane'])['checks']['dane']
    assert dane['status'] == 'match' and dane['passed']
    assert dane['mx'][0]['answered_by'] == '192.0.2.54 port 53'
    assert dane['validating_resolver'] == '192.0.2.54 port 53'


def test_dane_ad_bit_is_not_trusted_without_a_named_validating_resolver(world):
    world['answers'][('_25._tcp.mx1.fabrikam.test', 'TLSA')] = tlsa_answer(authenticated=True)
    dane = run(world, validating=False, checks=['dane'])['checks']['dane']
    assert dane['status'] == 'not_authenticated'
    assert dane['mx'][0]['ad_bit'] and not dane['mx'][0]['authenticated']
    assert any('no validating resolver named' in note for note in dane['diagnosis']['notes'])


def test_dane_without_ad_is_not_authenticated_and_not_probed(world):
    world['answers'][('_25._tcp.mx1.fabrikam.test', 'TLSA')] = tlsa_answer(authenticated=False)
    dane = run(world, checks=['dane'])['checks']['dane']
    assert dane['status'] == 'not_authenticated' and dane['mx'][0]['probe'] is None


def test_dane_worst_mx_names_the_domain_status(world):
    world['mx'] = ('mx1.fabrikam.test', 'mx2.fabrikam.test')
    world['answers'][('_25._tcp.mx1.fabrikam.test', 'TLSA')] = tlsa_answer()
    world['answers'][('_25._tcp.mx2.fabrikam.test', 'TLSA')] = tlsa_answer(data='00' * 32)
    dane = run(world, checks=['dane'])['checks']['dane']
    assert [detail['status'] for detail in dane['mx']] == ['match', 'no_match']
    assert dane['status'] == 'no_match' and not dane['passed']


@pytest.mark.parametrize('tlsa, probed, status', [
    (reply('servfail'), probe(), 'lookup_failed'),
    (reply('nxdomain', authenticated=True), probe(), 'no_tlsa'),
    (tlsa_answer(), probe(offered=False), 'starttls_missing'),
])
def test_dane_named_failures(world, tlsa, probed, status):
    world['answers'][('_25._tcp.mx1.fabrikam.test', 'TLSA')] = tlsa
    world['probes']['mx1.fabrikam.test'] = probed
    assert run(world, checks=['dane'])['checks']['dane']['status'] == status


def test_tlsrpt_statuses(world):
    world['answers'][('_smtp._tls.fabrikam.test', 'TXT')] = reply(records=['v=TLSRPTv1; rua=mailto:tls@fabrikam.test'])
    assert run(world, checks=['tlsrpt'])['checks']['tlsrpt']['status'] == 'ok'
    world['answers'][('_smtp._tls.fabrikam.test', 'TXT')] = reply(records=['v=TLSRPTv1; rua=ftp://x.test/'])
    assert run(world, checks=['tlsrpt'])['checks']['tlsrpt']['status'] == 'rua_invalid'


def test_failed_domain_fails_its_task_with_one_line(world):
    result = run(world, checks=['mta_sts', 'tlsrpt'])
    line = failure_message('mailops.mailflow.tls_policy', result)
    assert line.startswith('fabrikam.test: mta_sts no_record: ')
    assert '; tlsrpt no_record: ' in line and '\n' not in line
    many = failure_message('tls_policy', {'results': [result, dict(result, passed=True)], 'passed': False})
    assert many.startswith('tls_policy: 1 of 2 domains failed a transport security check: fabrikam.test: ')


def test_unknown_check_is_refused():
    with pytest.raises(ValueError, match='^checks: '):
        PolicyOptions(checks=['mta_sts', 'spf'])


def test_every_status_has_a_diagnosis_entry():
    conditions = set(entry['match']['error'] for entry in POLICY)
    assert set(condition for condition, _rank in PolicyRun.DANE_OUTCOMES.values()) <= conditions
    for entry in POLICY:
        assert entry['summary'] and entry['causes'] and entry['remedy'] and entry['references']
        assert entry['status'] in ('ok', 'transient', 'permanent', 'connection', 'timeout', 'tls', 'dns', 'protocol',
                                   'auth')


@pytest.mark.parametrize('options, problem', [
    ({'helo_name': 'bad name'}, '^helo_name: '),
    ({'smtp_port': 0}, '^smtp_port: '),
    ({'connect_timeout': -1}, '^connect_timeout: '),
    ({'https_timeout': 0}, '^https_timeout: '),
    ({'ca_path': '/nonexistent/ca.pem'}, '^ca_path: '),
    ({'dnssec_nameservers': ['resolver.example']}, r'^dnssec_nameservers\[0\]: '),
    ({'nameservers': ['resolver.example']}, r'^nameservers\[0\]: '),
])
def test_bad_options_are_refused_naming_the_option(options, problem):
    with pytest.raises(ValueError, match=problem):
        PolicyOptions(**options)
