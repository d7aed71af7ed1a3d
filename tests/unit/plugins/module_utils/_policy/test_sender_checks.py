# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""DMARC parsing and discovery, egress identity, the sender policy verdict and the one-line outcomes."""

from __future__ import annotations

import pytest

from ansible_collections.mailops.mailflow.plugins.module_utils._outcome import failure_message
from ansible_collections.mailops.mailflow.plugins.module_utils._policy.dmarc import (
    DmarcSyntaxError,
    check_dmarc,
    parse_record,
)
from ansible_collections.mailops.mailflow.plugins.module_utils._policy.egress import check_egress
from ansible_collections.mailops.mailflow.plugins.module_utils._policy.sender_catalog import SENDER
from ansible_collections.mailops.mailflow.plugins.module_utils._policy.sender_policy import (
    check_sender_policy,
    egress_summary,
)

from ansible_collections.mailops.mailflow.tests.unit.plugins.module_utils._policy.sender_fakes import FakeResolver


def test_dmarc_defaults():
    policy = parse_record('v=DMARC1; p=quarantine')
    found = tuple(policy[key] for key in ('p', 'sp', 'pct', 'adkim', 'aspf', 'fo', 'ri', 'rua', 'ruf', 'sp_explicit'))
    assert found == ('quarantine', 'quarantine', 100, 'r', 'r', '0', 86400, [], [], False)


def test_dmarc_every_tag():
    policy = parse_record('v=DMARC1;p=reject; sp=none ;pct=25;adkim=s;aspf=s;fo=1:d;rf=afrf;ri=3600;'
                          'rua=mailto:dmarc@contoso.com!10m,mailto:agg@fabrikam.com;ruf=mailto:forensic@contoso.com;'
                          'np=reject')
    assert (policy['p'], policy['sp'], policy['pct'], policy['adkim'], policy['aspf'], policy['fo'], policy['ri']) == (
        'reject', 'none', 25, 's', 's', '1:d', 3600)
    assert policy['rua'] == [
        {'uri': 'mailto:dmarc@contoso.com', 'scheme': 'mailto', 'address': 'dmarc@contoso.com', 'domain': 'contoso.com',
         'max_size': '10m'},
        {'uri': 'mailto:agg@fabrikam.com', 'scheme': 'mailto', 'address': 'agg@fabrikam.com', 'domain': 'fabrikam.com',
         'max_size': None}]
    assert [uri['address'] for uri in policy['ruf']] == ['forensic@contoso.com']
    assert policy['unknown'] == ['np']


@pytest.mark.parametrize('record, word', [
    ('p=reject; v=DMARC1', 'v=DMARC1 must be the first tag'),
    ('v=DMARC1; rua=mailto:a@contoso.com', 'p (the policy) is missing'),
    ('v=DMARC1; pct=10; p=reject', 'p must be the second tag'),
    ('v=DMARC1; p=block', 'p=block'),
    ('v=DMARC1; p=none; sp=drop', 'sp=drop'),
    ('v=DMARC1; p=none; pct=101', 'pct=101'),
    ('v=DMARC1; p=none; adkim=x', 'adkim=x'),
    ('v=DMARC1; p=none; fo=2', 'fo=2'),
    ('v=DMARC1; p=none; ri=daily', 'ri=daily'),
    ('v=DMARC1; p=none; rua=dmarc@contoso.com', 'is not a URI'),
    ('v=DMARC1; p=none; rua=mailto:contoso.com', 'is not a mail address'),
    ('v=DMARC1; p=none; p=reject', 'appears twice'),
    ('v=DMARC1; p=none; garbage', 'is not tag=value'),
])
def test_dmarc_syntax_errors(record, word):
    with pytest.raises(DmarcSyntaxError) as raised:
        parse_record(record)
    assert word in str(raised.value)


def test_dmarc_falls_back_to_the_organizational_domain_and_applies_sp():
    resolver = FakeResolver({('_dmarc.contoso.com', 'TXT'): ['v=DMARC1; p=reject; sp=quarantine']})
    result = check_dmarc(resolver, 'mail.contoso.com', 'contoso.com')
    assert (result['status'], result['found_at'], result['applied_policy'], result['condition']) == (
        'ok', '_dmarc.contoso.com', 'quarantine', 'dmarc_enforced')
    assert resolver.questions == [('_dmarc.mail.contoso.com', 'TXT'), ('_dmarc.contoso.com', 'TXT')]
    assert check_dmarc(resolver, 'mail.contoso.com')['condition'] == 'dmarc_none'


def test_dmarc_external_report_domains_are_checked_once_each():
    resolver = FakeResolver({
        ('_dmarc.contoso.com', 'TXT'): ['v=DMARC1; p=none; rua=mailto:a@reports.fabrikam.com,mailto:b@reports.fabrikam.com;'
                                        'ruf=mailto:f@mail.contoso.com,mailto:x@example.net'],
        ('contoso.com._report._dmarc.reports.fabrikam.com', 'TXT'): ['v=DMARC1'],
    })
    result = check_dmarc(resolver, 'contoso.com')
    assert result['status'] == 'ok'
    assert result['report_authorization'] == [
        {'domain': 'reports.fabrikam.com', 'authorized': True,
         'query': 'contoso.com._report._dmarc.reports.fabrikam.com'},
        {'domain': 'example.net', 'authorized': False, 'query': 'contoso.com._report._dmarc.example.net'}]
    assert result['warnings'] == ['dmarc_monitor_only', 'dmarc_report_destination_unauthorized']


def test_dmarc_status_per_answer():
    assert check_dmarc(FakeResolver({('_dmarc.contoso.com', 'TXT'): ['v=DMARC1; p=none', 'v=DMARC1; p=reject']}),
                       'contoso.com')['condition'] == 'dmarc_multiple_records'
    assert check_dmarc(FakeResolver({}, failing=['_dmarc.contoso.com']), 'contoso.com')['status'] == 'temperror'
    # A TXT record that is not DMARC does not count.
    assert check_dmarc(FakeResolver({('_dmarc.contoso.com', 'TXT'): ['v=spf1 -all']}), 'contoso.com')['status'] == 'none'


EGRESS = {
    ('25.100.51.198.in-addr.arpa', 'PTR'): ['mta1.contoso.com.'],
    ('mta1.contoso.com', 'A'): ['198.51.100.25'],
    ('26.100.51.198.in-addr.arpa', 'PTR'): ['generic-26.isp.example.'],
    ('generic-26.isp.example', 'A'): ['198.51.100.99'],
    ('relay.contoso.com', 'A'): ['198.51.100.26'],
    ('contoso.com', 'TXT'): ['v=spf1 ip4:198.51.100.25 -all'],
}


def test_egress_all_agree():
    result = check_egress(FakeResolver(EGRESS), '198.51.100.25', 'mta1.contoso.com', 'contoso.com')
    assert result['passed'] and result['conditions'] == []
    assert (result['ptr_name'], result['fcrdns'], result['helo']['how'], result['spf']['result']) == (
        'mta1.contoso.com', True, 'ptr_name', 'pass')
    assert result['diagnosis']['error'] == 'egress_ok'
    assert egress_summary(result) == ('198.51.100.25 (mta1.contoso.com): PTR, forward-confirmed reverse DNS, EHLO '
                                      'name and SPF agree')


def test_egress_generic_ptr_and_an_ehlo_name_that_resolves_to_the_address():
    result = check_egress(FakeResolver(EGRESS), '198.51.100.26', 'relay.contoso.com', 'contoso.com')
    assert result['conditions'] == ['egress_fcrdns_mismatch', 'egress_spf_not_authorized']
    # EHLO differs from the PTR name but resolves to the address: accepted.
    assert (result['helo']['matches'], result['helo']['how']) == (True, 'forward')
    assert result['forward'] == {'generic-26.isp.example': ['198.51.100.99']}
    assert result['findings'][1]['detail'] == 'SPF of contoso.com for 198.51.100.26: fail (by -all)'


def test_egress_no_ptr_and_an_address_literal():
    result = check_egress(FakeResolver(EGRESS), '198.51.100.27', '[198.51.100.27]')
    assert result['conditions'] == ['egress_no_ptr', 'egress_helo_mismatch']
    assert result['helo']['how'] == 'address_literal'
    assert result['spf'] is None
    assert result['ptr']['outcome'] == 'nxdomain'


def test_egress_dns_failure_is_named_first():
    resolver = FakeResolver(EGRESS, failing=['25.100.51.198.in-addr.arpa'])
    result = check_egress(resolver, '198.51.100.25')
    assert result['conditions'] == ['egress_dns_failed']
    assert 'within' in result['diagnosis']['detail']


def test_egress_ipv6_reverse_name():
    resolver = FakeResolver({})
    check_egress(resolver, '2001:db8::25')
    assert resolver.questions[0] == (
        '5.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa', 'PTR')


def test_sender_policy_verdict_and_summary():
    resolver = FakeResolver({('contoso.com', 'TXT'): ['v=spf1 mx -all'], ('contoso.com', 'MX'): ['10 mx.contoso.com.'],
                             ('_dmarc.contoso.com', 'TXT'): ['v=DMARC1; p=none']})
    result = check_sender_policy(resolver, 'contoso.com')
    assert result['passed']
    assert result['summary'] == 'contoso.com: SPF ok (1/10 lookups, -all); DMARC p=none (dmarc_monitor_only, dmarc_no_rua)'
    assert [finding['error'] for finding in result['findings']] == ['dmarc_monitor_only', 'dmarc_no_rua']
    assert failure_message('sender_policy', result) is None


def test_sender_policy_failure_line():
    resolver = FakeResolver({('contoso.com', 'TXT'): ['v=spf1 +all']})
    result = check_sender_policy(resolver, 'contoso.com', checks=('spf',))
    assert not result['passed'] and result['dmarc'] is None
    assert failure_message('mailops.mailflow.sender_policy', result) == (
        "contoso.com: SPF spf_pass_all: The SPF record ends in +all: it authorises every server on the Internet to "
        "send as the domain. (record 'v=spf1 +all', 0 of 10 DNS lookups, 0 void, ends in +all)")


def test_every_catalog_entry_is_complete():
    conditions = [entry['match']['error'] for entry in SENDER]
    assert len(conditions) == len(set(conditions))
    for entry in SENDER:
        assert entry['summary'] and entry['causes'] and entry['remedy'] and entry['references']
        assert entry['status'] in ('ok', 'dns', 'protocol')
