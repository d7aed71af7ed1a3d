# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Windows path of the MX logic: Resolve-DnsName answers through the same resolve_mx code."""

from __future__ import annotations

import pytest

from ansible_collections.mailops.mailflow.plugins.module_utils._dns.mx import MxOptions
from ansible_collections.mailops.mailflow.plugins.module_utils._dns.resolve_dnsname import (
    WINDOWS_DNS_ERRORS,
    error_outcome,
    reply_from_answer,
    resolve_on_host,
)

MX, A, AAAA, CNAME, SOA = 15, 1, 28, 5, 6
ANSWER, AUTHORITY, ADDITIONAL = 1, 2, 3


def _mx(name, preference, exchange, section=ANSWER):
    return {'Name': name, 'Type': MX, 'TTL': 300, 'Section': section, 'NameExchange': exchange, 'Preference': preference}


def _a(name, address, rdtype=A, section=ANSWER, ttl=300):
    return {'Name': name, 'Type': rdtype, 'TTL': ttl, 'Section': section, 'IPAddress': address}


def _cname(name, target):
    return {'Name': name, 'Type': CNAME, 'TTL': 300, 'Section': ANSWER, 'NameHost': target}


SOA_ONLY = {'records': [{'Name': 'test', 'Type': SOA, 'TTL': 60, 'Section': AUTHORITY, 'PrimaryServer': 'ns.test'}]}
NXDOMAIN = {'error_code': 9003, 'error_message': 'DNS name does not exist'}

# What a Windows host's resolver would answer for a small zone, by (name, type).
ZONE = {
    ('fabrikam.test', 'MX'): {'records': [_mx('fabrikam.test', 20, 'mx2.fabrikam.test'), _mx('fabrikam.test', 10, 'mx1.fabrikam.test'),
                                          _a('mx1.fabrikam.test', '127.0.0.11', section=ADDITIONAL)]},
    # The authority NS and its glue in the additional section, as a resolver may send them: not addresses of mx1.
    ('mx1.fabrikam.test', 'A'): {'records': [_a('mx1.fabrikam.test', '127.0.0.11'),
                                             {'Name': 'test', 'Type': 2, 'TTL': 300, 'Section': AUTHORITY, 'NameHost': 'ns.test'},
                                             _a('ns.test', '127.0.0.1', section=ADDITIONAL)]},
    ('mx1.fabrikam.test', 'AAAA'): {'records': [_a('mx1.fabrikam.test', '::1', AAAA)]},
    ('mx2.fabrikam.test', 'A'): {'records': [_a('mx2.fabrikam.test', '127.0.0.12')]},
    ('mx2.fabrikam.test', 'AAAA'): SOA_ONLY,
    ('nullmx.test', 'MX'): {'records': [_mx('nullmx.test', 0, '.')]},
    ('implicit.test', 'MX'): {'error_code': 9501, 'error_message': 'No records found for given DNS query'},
    ('implicit.test', 'A'): {'records': [_a('implicit.test', '127.0.0.12', ttl=120)]},
    ('implicit.test', 'AAAA'): SOA_ONLY,
    ('nodata.test', 'MX'): SOA_ONLY,
    ('nodata.test', 'A'): SOA_ONLY,
    ('nodata.test', 'AAAA'): SOA_ONLY,
    ('cname-mx.test', 'MX'): {'records': [_mx('cname-mx.test', 10, 'alias.cname-mx.test')]},
    ('alias.cname-mx.test', 'A'): {'records': [_cname('alias.cname-mx.test', 'mx1.fabrikam.test'), _a('mx1.fabrikam.test', '127.0.0.11')]},
    ('alias.cname-mx.test', 'AAAA'): {'records': [_cname('alias.cname-mx.test', 'mx1.fabrikam.test'), _a('mx1.fabrikam.test', '::1', AAAA)]},
    ('dangling.test', 'MX'): {'records': [_mx('dangling.test', 10, 'nohost.dangling.test')]},
    ('nohost.dangling.test', 'A'): NXDOMAIN,
    ('nohost.dangling.test', 'AAAA'): NXDOMAIN,
    ('nosuchdomain.test', 'MX'): NXDOMAIN,
    ('servfail.test', 'MX'): {'error_code': 9002, 'error_message': 'DNS server failure'},
    ('timeout.test', 'MX'): {'error_code': 1460, 'error_message': 'This operation returned because the timeout period expired'},
    ('refused.test', 'MX'): {'error_code': 9005, 'error_message': 'DNS request refused'},
    ('odd.test', 'MX'): {'error_code': 4242, 'error_message': 'something else'},
}


class Host(object):
    """Stands in for win_mx_lookup: answers from ZONE and records each round of questions."""

    def __init__(self, zone=None):
        self.zone = ZONE if zone is None else zone
        self.rounds = []

    def __call__(self, questions):
        self.rounds.append(list(questions))
        return [dict(self.zone[question], name=question[0], type=question[1]) for question in questions]


def _resolve(domains, **options):
    host = Host()
    return resolve_on_host(domains, MxOptions(**options), host), host


@pytest.mark.parametrize('code, name, outcome', [
    (9003, 'DNS_ERROR_RCODE_NAME_ERROR', 'nxdomain'),
    (9002, 'DNS_ERROR_RCODE_SERVER_FAILURE', 'servfail'),
    (9501, 'DNS_INFO_NO_RECORDS', 'nodata'),
    (9701, 'DNS_ERROR_RECORD_DOES_NOT_EXIST', 'nodata'),
    (1460, 'ERROR_TIMEOUT', 'timeout'),
    (10060, 'WSAETIMEDOUT', 'timeout'),
    (9005, 'DNS_ERROR_RCODE_REFUSED', 'error'),
    (9001, 'DNS_ERROR_RCODE_FORMAT_ERROR', 'error'),
    (9852, 'DNS_ERROR_NO_DNS_SERVERS', 'error'),
])
def test_windows_error_codes_map_to_the_query_outcomes_documented(code, name, outcome):
    assert error_outcome(code) == (name, outcome)


def test_every_documented_code_is_in_the_module_doc():
    from ansible_collections.mailops.mailflow.plugins.modules import win_mx_lookup
    for code, (name, _outcome) in WINDOWS_DNS_ERRORS.items():
        assert '%d C(%s)' % (code, name) in win_mx_lookup.DOCUMENTATION.replace('\n    ', ' ')


def test_unknown_code_is_an_error_that_names_it():
    records, _host = _resolve(['odd.test'])
    assert records[0]['status'] == 'error'
    assert '4242' in records[0]['error']


def test_exchangers_sorted_with_addresses_from_the_second_round_only():
    records, host = _resolve(['fabrikam.test'])
    record = records[0]
    assert record['status'] == 'ok'
    assert [(exchanger['preference'], exchanger['host']) for exchanger in record['exchangers']] == [
        (10, 'mx1.fabrikam.test'), (20, 'mx2.fabrikam.test')]
    assert record['exchangers'][0]['addresses'] == [{'ip': '127.0.0.11', 'family': 'ipv4'}, {'ip': '::1', 'family': 'ipv6'}]
    # The additional section's glue is not an answer: mx2 has only what its own question returned.
    assert record['exchangers'][1]['addresses'] == [{'ip': '127.0.0.12', 'family': 'ipv4'}]
    assert host.rounds == [[('fabrikam.test', 'MX')],
                           [('mx1.fabrikam.test', 'A'), ('mx1.fabrikam.test', 'AAAA'),
                            ('mx2.fabrikam.test', 'A'), ('mx2.fabrikam.test', 'AAAA')]]
    assert record['ttl'] == 300
    assert record['diagnosis']['status'] == 'ok'


def test_ip_version_4_asks_no_aaaa():
    _records, host = _resolve(['fabrikam.test'], ip_version='4')
    assert all(rdtype == 'A' for _name, rdtype in host.rounds[1])


@pytest.mark.parametrize('domain, status, condition', [
    ('nullmx.test', 'null_mx', 'dns_null_mx'),
    ('implicit.test', 'implicit_mx', 'dns_implicit_mx'),
    ('nodata.test', 'no_mail', 'dns_no_mail'),
    ('nosuchdomain.test', 'nxdomain', 'dns_nxdomain'),
    ('servfail.test', 'servfail', 'dns_servfail'),
    ('timeout.test', 'timeout', 'dns_timeout'),
    ('refused.test', 'error', 'dns_error'),
])
def test_statuses_and_diagnoses_are_those_of_the_linux_path(domain, status, condition):
    records, _host = _resolve([domain])
    assert records[0]['status'] == status
    assert records[0]['diagnosis']['error'] == condition


def test_implicit_mx_uses_the_domains_address_and_ttl():
    records, _host = _resolve(['implicit.test'])
    exchanger = records[0]['exchangers'][0]
    assert exchanger['implicit'] and exchanger['host'] == 'implicit.test'
    assert exchanger['addresses'] == [{'ip': '127.0.0.12', 'family': 'ipv4'}]
    assert records[0]['ttl'] == 120


def test_cname_target_and_dangling_exchanger_warn():
    records, _host = _resolve(['cname-mx.test', 'dangling.test'])
    alias, dangling = records
    assert alias['exchangers'][0]['canonical_name'] == 'mx1.fabrikam.test'
    assert any('RFC 2181 10.3' in warning for warning in alias['exchangers'][0]['warnings'])
    assert alias['diagnosis']['error'] == 'dns_mx_is_cname'
    assert not dangling['exchangers'][0]['usable']
    assert any('NXDOMAIN' in warning for warning in dangling['exchangers'][0]['warnings'])
    assert dangling['diagnosis']['error'] == 'dns_no_usable_exchanger'


def test_string_types_and_sections_are_read_too():
    reply = reply_from_answer('fabrikam.test', 'MX', {'records': [
        {'Name': 'fabrikam.test', 'Type': 'MX', 'TTL': 5, 'Section': 'Answer', 'NameExchange': 'MX1.Fabrikam.test.', 'Preference': 10},
        {'Name': 'mx1.fabrikam.test', 'Type': 'A', 'TTL': 5, 'Section': 'Additional', 'IPAddress': '127.0.0.11'},
    ]}, MxOptions())
    assert reply.outcome == 'answer'
    assert reply.records == [(10, 'mx1.fabrikam.test')]


def test_a_question_the_host_did_not_answer_is_an_error_not_a_guess():
    records = resolve_on_host(['fabrikam.test'], MxOptions(), lambda questions: [])
    assert records[0]['status'] == 'error'
    assert 'no answer' in records[0]['error']
