# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""SPF (RFC 7208): record syntax, macro expansion, the lookup and void-lookup limits, and check_host()."""

from __future__ import annotations

import ipaddress

import pytest

from ansible_collections.mailops.mailflow.plugins.module_utils._policy.spf import (
    SpfPermError,
    analyze,
    check_host,
    expand,
    parse_record,
    spf_records,
)

from ansible_collections.mailops.mailflow.tests.unit.plugins.module_utils._policy.sender_fakes import FakeResolver


def terms(record):
    return [(term['kind'], term['name'], term['qualifier'], term['value'], term['cidr4'], term['cidr6'], term['network'])
            for term in parse_record(record)]


def test_parse_every_mechanism_and_modifier():
    parsed = terms('v=spf1 +all -include:_spf.contoso.com ~a ?a:mail.contoso.com/24//64 mx/28 ptr:contoso.com '
                   'ip4:192.0.2.0/24 ip6:2001:db8::/32 exists:%{i}.spf.contoso.com redirect=_spf.contoso.com '
                   'exp=explain.contoso.com x-custom=anything')
    assert parsed == [
        ('mechanism', 'all', '+', None, None, None, None),
        ('mechanism', 'include', '-', '_spf.contoso.com', None, None, None),
        ('mechanism', 'a', '~', None, None, None, None),
        ('mechanism', 'a', '?', 'mail.contoso.com', 24, 64, None),
        ('mechanism', 'mx', '+', None, 28, None, None),
        ('mechanism', 'ptr', '+', 'contoso.com', None, None, None),
        ('mechanism', 'ip4', '+', None, None, None, '192.0.2.0/24'),
        ('mechanism', 'ip6', '+', None, None, None, '2001:db8::/32'),
        ('mechanism', 'exists', '+', '%{i}.spf.contoso.com', None, None, None),
        ('modifier', 'redirect', None, '_spf.contoso.com', None, None, None),
        ('modifier', 'exp', None, 'explain.contoso.com', None, None, None),
        ('modifier', 'x-custom', None, 'anything', None, None, None),
    ]


def test_ip4_network_parses():
    # The ':' after ip4 must not be taken for an IPv6 address (found live: every ip4 term was refused).
    assert terms('v=spf1 ip4:127.0.0.21 -all')[0][-1] == '127.0.0.21/32'


@pytest.mark.parametrize('record, word', [
    ('v=spf1 ip4:mail.contoso.com -all', 'not an IP4 network'),
    ('v=spf1 ip4:2001:db8::1 -all', 'not an IP4 network'),
    ('v=spf1 ip6:192.0.2.1 -all', 'not an IP6 network'),
    ('v=spf1 include -all', 'include needs ":domain"'),
    ('v=spf1 includes:contoso.com -all', 'unknown mechanism'),
    ('v=spf1 a/33 -all', 'CIDR length'),
    ('v=spf1 mx//129 -all', 'CIDR length'),
    ('v=spf1 a/024 -all', 'CIDR length'),
    ('v=spf1 redirect=a.contoso.com redirect=b.contoso.com', 'appears more than once'),
    ('v=spf1 all:contoso.com', 'all takes no argument'),
    ('v=spf1 include:contoso', 'top-level label'),
    ('v=spf2 -all', 'does not start with v=spf1'),
])
def test_syntax_errors_name_the_term(record, word):
    with pytest.raises(SpfPermError) as raised:
        parse_record(record)
    assert raised.value.condition == 'spf_syntax_error'
    assert word in str(raised.value)


def test_only_v_spf1_records_count():
    texts = ['v=spf1 -all', 'v=spf10 -all', 'google-site-verification=x', 'V=SPF1']
    assert spf_records(texts) == ['v=spf1 -all', 'V=SPF1']


@pytest.mark.parametrize('spec, expected', [
    ('%{s}', 'strong-bad@email.example.com'),
    ('%{o}', 'email.example.com'),
    ('%{d}', 'email.example.com'),
    ('%{d4}', 'email.example.com'),
    ('%{d3}', 'email.example.com'),
    ('%{d2}', 'example.com'),
    ('%{d1}', 'com'),
    ('%{dr}', 'com.example.email'),
    ('%{d2r}', 'example.email'),
    ('%{l}', 'strong-bad'),
    ('%{l-}', 'strong.bad'),
    ('%{lr}', 'strong-bad'),
    ('%{lr-}', 'bad.strong'),
    ('%{l1r-}', 'strong'),
    ('%{ir}.%{v}._spf.%{d2}', '3.2.0.192.in-addr._spf.example.com'),
    ('%{lr-}.lp._spf.%{d2}', 'bad.strong.lp._spf.example.com'),
    ('%%%_%-', '% %20'),
    ('%{S}', 'strong-bad%40email.example.com'),
])
def test_macros_as_in_rfc_7208_section_7_4(spec, expected):
    context = {'s': 'strong-bad@email.example.com', 'l': 'strong-bad', 'o': 'email.example.com',
               'd': 'email.example.com', 'h': None, 'ip': ipaddress.ip_address('192.0.2.3')}
    assert expand(spec, context) == expected


def test_ipv6_macro_is_nibbles():
    context = {'d': 'email.example.com', 'ip': ipaddress.ip_address('2001:db8::cb01')}
    assert expand('%{ir}.%{v}._spf.%{d2}', context) == (
        '1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com')


def test_macro_errors():
    with pytest.raises(SpfPermError):
        expand('%{c}.contoso.com', {'d': 'contoso.com'})
    with pytest.raises(SpfPermError):
        expand('%x.contoso.com', {'d': 'contoso.com'})
    with pytest.raises(LookupError):
        expand('%{i}.contoso.com', {'d': 'contoso.com', 'ip': None})


def include_chain(count, each='v=spf1 a:mail.contoso.com -all'):
    includes = ' '.join('include:i%d.contoso.com' % n for n in range(count))
    records = {('contoso.com', 'TXT'): ['v=spf1 %s -all' % includes], ('mail.contoso.com', 'A'): ['192.0.2.25']}
    for n in range(count):
        records[('i%d.contoso.com' % n, 'TXT')] = [each]
    return records


def test_lookups_inside_includes_are_counted():
    # 5 includes + the a: inside each = 10: exactly the limit, still fine.
    result = analyze(FakeResolver(include_chain(5)), 'contoso.com')
    assert result['status'] == 'ok'
    assert result['lookup_count'] == 10
    assert [entry['depth'] for entry in result['records']] == [0, 1, 1, 1, 1, 1]
    assert result['all'] == '-all'


def test_the_eleventh_lookup_is_a_permerror_naming_it():
    result = analyze(FakeResolver(include_chain(6)), 'contoso.com')
    assert result['status'] == 'permerror'
    assert result['condition'] == 'spf_too_many_lookups'
    assert result['lookup_count'] == 11
    assert "'include:i5.contoso.com' in the record of contoso.com" in result['message']


def test_redirect_and_every_dns_mechanism_count_but_ip_and_all_do_not():
    records = {('contoso.com', 'TXT'): ['v=spf1 ip4:192.0.2.1 ip6:2001:db8::1 a mx ptr exists:x.contoso.com '
                                        'redirect=_spf.contoso.com'],
               ('contoso.com', 'A'): ['192.0.2.1'], ('contoso.com', 'MX'): ['10 mail.contoso.com.'],
               ('x.contoso.com', 'A'): ['127.0.0.2'],
               ('_spf.contoso.com', 'TXT'): ['v=spf1 -all']}
    result = analyze(FakeResolver(records), 'contoso.com')
    assert result['status'] == 'ok'
    assert result['lookup_count'] == 5
    assert result['records'][0]['lookups'] == ['a', 'mx', 'ptr', 'exists:x.contoso.com', 'redirect=_spf.contoso.com']
    assert result['all'] == '-all'


def test_the_third_void_lookup_is_a_permerror():
    records = {('contoso.com', 'TXT'): ['v=spf1 a:gone1.contoso.com a:gone2.contoso.com -all'],
               ('void.contoso.com', 'TXT'): ['v=spf1 a:gone1.contoso.com mx:gone2.contoso.com a:gone3.contoso.com -all']}
    two = analyze(FakeResolver(records), 'contoso.com')
    assert two['status'] == 'ok' and two['void_lookup_count'] == 2
    three = analyze(FakeResolver(records), 'void.contoso.com')
    assert three['condition'] == 'spf_too_many_void_lookups'
    assert three['void_lookup_count'] == 3


@pytest.mark.parametrize('records, condition', [
    ({('contoso.com', 'A'): ['192.0.2.1']}, 'spf_none'),
    ({('contoso.com', 'TXT'): ['v=spf1 -all', 'v=spf1 mx -all']}, 'spf_multiple_records'),
    ({('contoso.com', 'TXT'): ['v=spf1 include:gone.contoso.com -all']}, 'spf_include_without_record'),
    ({('contoso.com', 'TXT'): ['v=spf1 redirect=gone.contoso.com']}, 'spf_include_without_record'),
])
def test_record_level_conditions(records, condition):
    assert analyze(FakeResolver(records), 'contoso.com')['condition'] == condition


def test_a_dns_failure_is_temperror():
    records = {('contoso.com', 'TXT'): ['v=spf1 include:slow.contoso.com -all']}
    result = analyze(FakeResolver(records, failing=['slow.contoso.com']), 'contoso.com')
    assert result['status'] == 'temperror'
    assert result['condition'] == 'spf_dns_failed'


def test_a_macro_that_needs_the_address_is_counted_not_followed():
    records = {('contoso.com', 'TXT'): ['v=spf1 exists:%{i}._spf.contoso.com -all']}
    resolver = FakeResolver(records)
    result = analyze(resolver, 'contoso.com')
    assert result['lookup_count'] == 1
    assert result['notes'] == ["'exists:%{i}._spf.contoso.com': %{i} needs the address (not evaluated)"]
    assert resolver.questions == [('contoso.com', 'TXT')]


WORLD = {
    ('contoso.com', 'TXT'): ['v=spf1 ip4:198.51.100.0/24 a:mail.contoso.com/30 mx include:_spf.fabrikam.com '
                             'ptr:relay.contoso.com exists:%{ir}.allow.contoso.com ~all'],
    ('mail.contoso.com', 'A'): ['203.0.113.9'],
    ('contoso.com', 'MX'): ['10 mx1.contoso.com.'],
    ('mx1.contoso.com', 'A'): ['203.0.113.50'],
    ('_spf.fabrikam.com', 'TXT'): ['v=spf1 ip6:2001:db8:f::/48 -all'],
    ('7.113.0.203.in-addr.arpa', 'PTR'): ['out7.relay.contoso.com.'],
    ('out7.relay.contoso.com', 'A'): ['203.0.113.7'],
    ('16.113.0.203.in-addr.arpa', 'PTR'): ['out16.relay.contoso.com.'],
    ('out16.relay.contoso.com', 'A'): ['203.0.113.99'],
    ('20.113.0.203.allow.contoso.com', 'A'): ['127.0.0.2'],
}


@pytest.mark.parametrize('ip, result, mechanism', [
    ('198.51.100.77', 'pass', 'ip4:198.51.100.0/24'),
    ('203.0.113.10', 'pass', 'a:mail.contoso.com/30'),
    ('203.0.113.50', 'pass', 'mx'),
    ('2001:db8:f::25', 'pass', 'include:_spf.fabrikam.com'),
    ('203.0.113.7', 'pass', 'ptr:relay.contoso.com'),
    # The PTR name does not resolve back: ptr does not match.
    ('203.0.113.16', 'softfail', '~all'),
    ('203.0.113.20', 'pass', 'exists:%{ir}.allow.contoso.com'),
    ('203.0.113.200', 'softfail', '~all'),
])
def test_check_host(ip, result, mechanism):
    outcome = check_host(FakeResolver(WORLD), ip, 'contoso.com', 'chris@contoso.com', 'mail.contoso.com')
    assert (outcome['result'], outcome['mechanism']) == (result, mechanism)


def test_check_host_reports_the_error_condition():
    outcome = check_host(FakeResolver({('contoso.com', 'TXT'): ['v=spf1 ip4:bad -all']}), '192.0.2.1', 'contoso.com')
    assert outcome['result'] == 'permerror'
    assert outcome['condition'] == 'spf_syntax_error'
    assert check_host(FakeResolver({}), '192.0.2.1', 'contoso.com')['result'] == 'none'
