# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""RFC rules of the MX engine against an in-memory nameserver: no network."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

import dns.exception
import dns.flags
import dns.message
import dns.rdataclass
import dns.rdatatype
import dns.resolver

from ansible_collections.mailops.mailflow.plugins.module_utils._diagnosis import errors
from ansible_collections.mailops.mailflow.plugins.module_utils._dns import mx
from ansible_collections.mailops.mailflow.plugins.module_utils._dns.mx import (
    DnsConfigError,
    MxOptions,
    OptionError,
    make_resolver,
    resolve_host,
    resolve_many,
    resolve_mx,
)
from ansible_collections.mailops.mailflow.tests.unit.plugins.module_utils._dns.fakedns import (
    BIG_MX_COUNT,
    fake_resolver,
)

NS = '192.0.2.53'


def opts(**kwargs):
    kwargs.setdefault('nameservers', [NS])
    kwargs.setdefault('lifetime', 2.0)
    return MxOptions(**kwargs)


def lookup(domain, options=None, **behaviour):
    options = options or opts()
    resolver, nameserver = fake_resolver(options, **behaviour)
    return resolve_mx(domain, options, resolver=resolver), nameserver


def hosts(record):
    return [(exchanger['preference'], exchanger['host']) for exchanger in record['exchangers']]


def ips(exchanger):
    return [address['ip'] for address in exchanger['addresses']]


def category_of(record):
    return record['diagnosis'], record['diagnosis'].get('category')


def test_two_mx_sorted_by_preference_with_addresses():
    record, nameserver = lookup('fabrikam.test')
    assert record['status'] == 'ok'
    assert record['domain'] == 'fabrikam.test'
    assert record['query_name'] == 'fabrikam.test.'
    assert hosts(record) == [(10, 'mx1.fabrikam.test'), (20, 'mx2.fabrikam.test')]
    first, second = record['exchangers']
    assert first['addresses'] == [{'ip': '127.0.0.11', 'family': 'ipv4'}, {'ip': '::1', 'family': 'ipv6'}]
    assert ips(second) == ['127.0.0.12']
    assert first['usable'] and second['usable']
    assert (first['preference_group'], second['preference_group']) == (0, 1)
    assert not first['equal_preference_group'] and not second['equal_preference_group']
    assert first['warnings'] == [] and first['canonical_name'] is None and first['implicit'] is False
    assert record['ttl'] == 300
    assert record['nameserver'] == NS and record['nameserver_port'] == 53
    assert record['dnssec_ad'] is False
    assert record['error'] is None and record['domain_warnings'] == []
    assert record['diagnosis']['status'] == 'ok'
    assert record['elapsed_ms'] >= 0


def test_trailing_dot_gives_identical_answer_and_absolute_queries():
    with_dot, nameserver = lookup('fabrikam.test.')
    without_dot = lookup('Fabrikam.Test')[0]
    for record in (with_dot, without_dot):
        record.pop('elapsed_ms')
    assert with_dot == without_dot
    assert nameserver.asked('MX') == [('fabrikam.test.', 'MX', False)]


def test_search_domains_are_never_appended():
    options = opts()
    resolver, nameserver = fake_resolver(options)
    assert resolver.search == []
    # Even a resolver that has a search list configured gets absolute questions only.
    resolver.search = [dns.name.from_text('corp.example.')]
    record = resolve_mx('nosuchdomain', options, resolver=resolver)
    assert record['status'] == 'nxdomain'
    assert [entry[0] for entry in nameserver.asked()] == ['nosuchdomain.']


def test_equal_preferences_form_a_marked_group():
    record = lookup('equal.test')[0]
    assert hosts(record) == [(5, 'c.equal.test'), (10, 'a.equal.test'), (10, 'b.equal.test'), (20, 'd.equal.test')]
    assert [exchanger['equal_preference_group'] for exchanger in record['exchangers']] == [False, True, True, False]
    assert [exchanger['preference_group'] for exchanger in record['exchangers']] == [0, 1, 1, 2]


def test_null_mx_accepts_no_mail_and_resolves_nothing_more():
    record, nameserver = lookup('nullmx.test')
    assert record['status'] == 'null_mx'
    assert record['exchangers'] == []
    assert record['domain_warnings'] == []
    assert record['diagnosis']['category'] == mx.diagnose(step='mx', error=errors.DNS_NULL_MX)['category']
    assert [entry[1] for entry in nameserver.asked()] == ['MX']


def test_null_mx_with_a_preference_other_than_zero_is_noted():
    record = lookup('nullmx-pref.test')[0]
    assert record['status'] == 'null_mx'
    assert any('preference other than 0' in warning for warning in record['domain_warnings'])


def test_null_mx_next_to_real_mx_is_ignored_with_a_warning():
    record = lookup('mixednull.test')[0]
    assert record['status'] == 'ok'
    assert hosts(record) == [(10, 'mx1.fabrikam.test')]
    assert any('RFC 7505' in warning for warning in record['domain_warnings'])


def test_implicit_mx_uses_the_domain_address():
    record, nameserver = lookup('implicit.test')
    assert record['status'] == 'implicit_mx'
    assert hosts(record) == [(0, 'implicit.test')]
    exchanger = record['exchangers'][0]
    assert exchanger['implicit'] is True and exchanger['usable'] is True
    assert ips(exchanger) == ['127.0.0.12']
    assert record['ttl'] == 300
    assert any('RFC 5321 5.1' in warning for warning in record['domain_warnings'])
    assert record['diagnosis']['category'] == mx.diagnose(step='mx', error=errors.DNS_IMPLICIT_MX)['category']
    assert sorted(entry[1] for entry in nameserver.asked()) == ['A', 'AAAA', 'MX']


def test_implicit_mx_off_gives_no_mail_without_address_queries():
    record, nameserver = lookup('implicit.test', opts(implicit_mx=False))
    assert record['status'] == 'no_mail'
    assert record['exchangers'] == []
    assert any('implicit_mx is false' in warning for warning in record['domain_warnings'])
    assert [entry[1] for entry in nameserver.asked()] == ['MX']


def test_implicit_mx_of_the_wrong_family_is_unusable():
    record = lookup('implicit6.test', opts(ip_version='4'))[0]
    assert record['status'] == 'implicit_mx'
    exchanger = record['exchangers'][0]
    assert exchanger['usable'] is False and exchanger['addresses'] == []
    assert any('no IPv4 address' in warning for warning in exchanger['warnings'])
    assert record['diagnosis']['category'] == mx.diagnose(step='mx', error=errors.DNS_NO_USABLE_EXCHANGER)['category']


def test_mx_target_cname_is_a_warning_with_the_resolved_address():
    record = lookup('cname-mx.test')[0]
    assert record['status'] == 'ok'
    exchanger = record['exchangers'][0]
    assert exchanger['host'] == 'mailalias.cname-mx.test'
    assert exchanger['canonical_name'] == 'mx1.fabrikam.test'
    assert ips(exchanger) == ['127.0.0.11', '::1']
    assert exchanger['usable'] is True
    assert len(exchanger['warnings']) == 1 and 'RFC 2181' in exchanger['warnings'][0]
    assert record['diagnosis']['category'] == mx.diagnose(step='mx', error=errors.DNS_MX_IS_CNAME)['category']


def test_cname_chain_is_followed_to_the_end():
    record = lookup('chain.test')[0]
    exchanger = record['exchangers'][0]
    assert exchanger['canonical_name'] == 'mx1.fabrikam.test'
    assert ips(exchanger) == ['127.0.0.11', '::1']
    assert 'a.chain.test -> b.chain.test -> mx1.fabrikam.test' in exchanger['warnings'][0]


def test_domain_that_is_an_alias_uses_the_target_mx():
    record = lookup('alias.test')[0]
    assert record['status'] == 'ok'
    assert record['canonical_name'] == 'fabrikam.test'
    assert hosts(record) == [(10, 'mx1.fabrikam.test'), (20, 'mx2.fabrikam.test')]
    assert any('alias.test -> fabrikam.test' in warning for warning in record['domain_warnings'])


def test_dangling_target_is_unusable_and_the_secondary_stays():
    record = lookup('dangling.test')[0]
    assert record['status'] == 'ok'
    dangling, secondary = record['exchangers']
    assert dangling['host'] == 'nohost.dangling.test'
    assert dangling['usable'] is False and dangling['addresses'] == []
    assert any('NXDOMAIN' in warning and 'unusable' in warning for warning in dangling['warnings'])
    assert secondary['usable'] is True
    assert record['diagnosis']['category'] == mx.diagnose(step='mx', error=errors.DNS_MX_NO_ADDRESS)['category']


def test_target_without_address_records_is_unusable():
    record = lookup('v6only.test', opts(ip_version='4'))[0]
    exchanger = record['exchangers'][0]
    assert exchanger['usable'] is False
    assert 'no IPv4 address (ip_version=4)' in exchanger['warnings'][0]
    assert record['diagnosis']['category'] == mx.diagnose(step='mx', error=errors.DNS_NO_USABLE_EXCHANGER)['category']


def test_only_dangling_exchangers_means_no_usable_exchanger():
    record = lookup('dangling-only.test')[0]
    assert record['status'] == 'ok'
    assert [exchanger['usable'] for exchanger in record['exchangers']] == [False]
    assert record['diagnosis']['category'] == mx.diagnose(step='mx', error=errors.DNS_NO_USABLE_EXCHANGER)['category']


def test_nodata_is_no_mail():
    record, nameserver = lookup('nodata.test')
    assert record['status'] == 'no_mail'
    assert record['exchangers'] == [] and record['ttl'] is None
    assert record['diagnosis']['category'] == mx.diagnose(step='mx', error=errors.DNS_NO_MAIL)['category']
    assert sorted(entry[1] for entry in nameserver.asked()) == ['A', 'AAAA', 'MX']


def test_nxdomain():
    record = lookup('nosuchdomain.test')[0]
    assert record['status'] == 'nxdomain'
    assert record['exchangers'] == []
    assert record['nameserver'] == NS
    assert 'NXDOMAIN' in record['error']
    assert record['diagnosis']['category'] == mx.diagnose(step='mx', error=errors.DNS_NXDOMAIN)['category']


def test_servfail():
    record = lookup('servfail.test', servfail=['servfail.test'])[0]
    assert record['status'] == 'servfail'
    assert 'SERVFAIL' in record['error'] and NS in record['error']
    assert record['nameserver'] == NS
    assert record['diagnosis']['category'] == mx.diagnose(step='mx', error=errors.DNS_SERVFAIL)['category']


def test_refused_is_an_error():
    record = lookup('fabrikam.test', refused=['fabrikam.test'])[0]
    assert record['status'] == 'error'
    assert 'REFUSED' in record['error']
    assert record['diagnosis']['category'] == mx.diagnose(step='mx', error=errors.DNS_ERROR)['category']


def test_timeout_respects_the_lifetime():
    options = opts(timeout=0.1, lifetime=0.3)
    started = time.monotonic()
    record = lookup('fabrikam.test', options, silent=['fabrikam.test'])[0]
    wall = time.monotonic() - started
    assert record['status'] == 'timeout'
    assert record['nameserver'] is None
    assert 'lifetime' in record['error']
    assert record['diagnosis']['category'] == mx.diagnose(step='mx', error=errors.DNS_TIMEOUT)['category']
    assert 250 <= record['elapsed_ms'] <= 1000
    assert wall < 1.5


def test_failed_address_lookup_makes_only_that_exchanger_unusable():
    record = lookup('lame.test', servfail=['lamehost.test'])[0]
    assert record['status'] == 'ok'
    lame, secondary = record['exchangers']
    assert lame['usable'] is False
    assert any('servfail' in warning for warning in lame['warnings'])
    assert secondary['usable'] is True


def test_ip_version_6_keeps_only_ipv6_and_asks_only_aaaa():
    record, nameserver = lookup('fabrikam.test', opts(ip_version='6'))
    first, second = record['exchangers']
    assert first['addresses'] == [{'ip': '::1', 'family': 'ipv6'}] and first['usable'] is True
    assert second['addresses'] == [] and second['usable'] is False
    assert 'no IPv6 address' in second['warnings'][0]
    assert nameserver.asked('A') == []


def test_ip_version_4_keeps_only_ipv4():
    record, nameserver = lookup('fabrikam.test', opts(ip_version=4))
    assert [ips(exchanger) for exchanger in record['exchangers']] == [['127.0.0.11'], ['127.0.0.12']]
    assert nameserver.asked('AAAA') == []


def test_resolve_addresses_off_asks_mx_only():
    record, nameserver = lookup('fabrikam.test', opts(resolve_addresses=False))
    assert hosts(record) == [(10, 'mx1.fabrikam.test'), (20, 'mx2.fabrikam.test')]
    assert all(exchanger['addresses'] == [] and exchanger['usable'] for exchanger in record['exchangers'])
    assert [entry[1] for entry in nameserver.asked()] == ['MX']


def test_truncated_udp_answer_is_retried_over_tcp():
    record, nameserver = lookup('bigmx.test')
    assert record['status'] == 'ok'
    assert len(record['exchangers']) == BIG_MX_COUNT
    assert [exchanger['preference'] for exchanger in record['exchangers']] == list(range(1, BIG_MX_COUNT + 1))
    assert nameserver.asked('MX') == [('bigmx.test.', 'MX', False), ('bigmx.test.', 'MX', True)]
    assert all(exchanger['usable'] for exchanger in record['exchangers'])


def test_tcp_option_asks_over_tcp_only():
    nameserver = lookup('fabrikam.test', opts(tcp=True))[1]
    assert nameserver.asked() and all(entry[2] for entry in nameserver.asked())


def test_ad_flag_is_reported_as_received():
    record = lookup('fabrikam.test', ad=True)[0]
    assert record['dnssec_ad'] is True


def test_queries_ask_for_ad():
    resolver = make_resolver(opts())
    assert resolver.flags & dns.flags.AD


def test_target_names_are_lower_cased():
    record = lookup('ipv6mx.test')[0]
    assert hosts(record) == [(10, 'mx1.fabrikam.test')]


def test_resolve_host_returns_addresses():
    options = opts()
    resolver = fake_resolver(options)[0]
    host = resolve_host('mailalias.cname-mx.test.', options, resolver=resolver)
    assert host['host'] == 'mailalias.cname-mx.test'
    assert ips(host) == ['127.0.0.11', '::1']
    assert host['canonical_name'] == 'mx1.fabrikam.test'


def test_resolve_many_keeps_order_across_statuses():
    options = opts()
    resolver = fake_resolver(options, servfail=['servfail.test'])[0]
    domains = ['nullmx.test', 'fabrikam.test.', 'nosuchdomain.test', 'implicit.test', 'servfail.test', 'nodata.test']
    records = resolve_many(domains, options, resolver=resolver)
    assert [record['domain'] for record in records] == [
        'nullmx.test', 'fabrikam.test', 'nosuchdomain.test', 'implicit.test', 'servfail.test', 'nodata.test']
    assert [record['status'] for record in records] == ['null_mx', 'ok', 'nxdomain', 'implicit_mx', 'servfail', 'no_mail']


def test_resolve_many_is_concurrent_and_leaves_no_thread():
    options = opts(timeout=0.2, lifetime=0.4)
    silent = ['slow%d.test' % index for index in range(8)]
    resolver = fake_resolver(options, silent=silent)[0]
    threads_before = threading.active_count()
    started = time.monotonic()
    records = resolve_many(silent, options, resolver=resolver)
    wall = time.monotonic() - started
    assert [record['status'] for record in records] == ['timeout'] * len(silent)
    # Sequential would take 8 lifetimes (3.2 s).
    assert wall < 1.5
    assert threading.active_count() == threads_before


def test_resolve_many_checks_every_domain_before_any_query():
    options = opts()
    resolver, nameserver = fake_resolver(options)
    with pytest.raises(OptionError) as caught:
        resolve_many(['fabrikam.test', 'contoso.test', 'bad\r\nname.test'], options, resolver=resolver)
    assert str(caught.value).startswith('domains[2]: ')
    assert 'CR' in str(caught.value)
    assert nameserver.asked() == []


class ExplodingResolver(object):
    """Fails one name with an unexpected exception, answers the rest through a real resolver."""

    def __init__(self, resolver, bad_name):
        self.resolver = resolver
        self.bad_name = dns.name.from_text(bad_name)
        self.nameservers = resolver.nameservers

    def resolve(self, qname, rdtype, **kwargs):
        if qname == self.bad_name:
            raise RuntimeError('injected failure')
        return self.resolver.resolve(qname, rdtype, **kwargs)


def test_one_broken_domain_does_not_sink_the_batch():
    options = opts()
    resolver = fake_resolver(options)[0]
    records = resolve_many(['fabrikam.test', 'contoso.test'], options, resolver=ExplodingResolver(resolver, 'contoso.test'))
    assert records[0]['status'] == 'ok'
    assert records[1]['status'] == 'error'
    assert 'RuntimeError: injected failure' in records[1]['error']


REQUEST = dns.message.make_query('fabrikam.test.', 'MX')


class RaisingResolver(object):
    """A fake resolver that raises the given exception for every question."""

    nameservers = [NS]

    def __init__(self, exc):
        self.exc = exc

    def resolve(self, qname, rdtype, **kwargs):
        raise self.exc


@pytest.mark.parametrize('exc, status', [
    (dns.resolver.YXDOMAIN(), 'error'),
    (OSError(101, 'Network is unreachable'), 'error'),
    (dns.exception.FormError('bad'), 'error'),
    (dns.resolver.LifetimeTimeout(timeout=1.0, errors=[]), 'timeout'),
    (dns.resolver.NoNameservers(request=REQUEST, errors=[(NS, False, 53, 'SERVFAIL', None)]), 'servfail'),
    (dns.resolver.NoNameservers(request=REQUEST, errors=[(NS, True, 53, ConnectionRefusedError(111, 'refused'), None)]), 'error'),
    (dns.resolver.NoAnswer(), 'no_mail'),
])
def test_dns_exceptions_map_to_statuses(exc, status):
    record = resolve_mx('fabrikam.test', opts(), resolver=RaisingResolver(exc))
    assert record['status'] == status
    assert record['diagnosis'] is not None


def test_make_resolver_uses_given_nameservers_only():
    resolver = make_resolver(opts(nameservers=['127.0.0.1', '::1'], port=5353, timeout=0.5, lifetime=1.5))
    assert [str(server) for server in resolver.nameservers] == ['127.0.0.1', '::1']
    assert resolver.port == 5353
    assert (resolver.timeout, resolver.lifetime) == (0.5, 1.5)
    assert resolver.search == []
    assert resolver.cache is None


def test_make_resolver_without_configuration(monkeypatch):
    def no_configuration(*args, **kwargs):
        raise dns.resolver.NoResolverConfiguration('no nameservers')
    monkeypatch.setattr(dns.resolver, 'Resolver', no_configuration)
    with pytest.raises(DnsConfigError) as caught:
        make_resolver(MxOptions())
    assert 'give nameservers' in str(caught.value)


@pytest.mark.parametrize('kwargs, prefix', [
    (dict(nameservers=['ns1.fabrikam.test']), 'nameservers[0]: '),
    (dict(nameservers=['127.0.0.1', '127.0.0.1\n']), 'nameservers[1]: '),
    (dict(nameservers=[]), 'nameservers: '),
    (dict(port=0), 'port: '),
    (dict(port=65536), 'port: '),
    (dict(timeout=0), 'timeout: '),
    (dict(lifetime=-1), 'lifetime: '),
    (dict(ip_version='5'), 'ip_version: '),
])
def test_options_are_checked_with_the_option_named(kwargs, prefix):
    with pytest.raises(OptionError) as caught:
        MxOptions(**kwargs)
    assert str(caught.value).startswith(prefix)
    assert caught.value.option == prefix.split('[')[0].rstrip(': ')


def test_bad_domain_is_rejected_before_any_query():
    options = opts()
    resolver, nameserver = fake_resolver(options)
    with pytest.raises(OptionError) as caught:
        resolve_mx('fabrikam.test\x00', options, resolver=resolver)
    assert str(caught.value).startswith('domain: ')
    assert nameserver.asked() == []


def test_missing_dnspython_is_reported_not_raised_on_import():
    collections_parent = os.path.abspath(os.path.join(os.path.dirname(mx.__file__), *(['..'] * 6)))
    script = '\n'.join([
        'import sys',
        'sys.modules["dns"] = None',
        'from ansible_collections.mailops.mailflow.plugins.module_utils._dns import mx',
        'assert mx.HAS_DNSPYTHON is False',
        'assert isinstance(mx.DNSPYTHON_IMPORT_ERROR, ImportError)',
        'try:',
        '    mx.resolve_mx("fabrikam.test")',
        'except mx.DnsUnavailable as exc:',
        '    print(exc)',
    ])
    env = dict(os.environ, PYTHONPATH=collections_parent + os.pathsep + os.environ.get('PYTHONPATH', ''))
    completed = subprocess.run([sys.executable, '-c', script], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == 'dnspython is required on the managed host: pip install dnspython (or apt install python3-dnspython)'


MESSAGE_TEMPLATE = """id 1
opcode QUERY
rcode NOERROR
flags QR AA RD AD
;QUESTION
%(name)s IN %(rdtype)s
;ANSWER
%(answer)s
;AUTHORITY
;ADDITIONAL
"""


class MessageResolver(object):
    """The plain injection: a resolver that answers with dnspython messages written as text."""

    nameservers = ['198.51.100.1']

    def __init__(self, answers):
        self.answers = answers
        self.asked = []

    def resolve(self, qname, rdtype, **kwargs):
        self.asked.append((qname.to_text(), rdtype, kwargs.get('search')))
        answer_lines = self.answers.get((qname.to_text(), rdtype), '')
        response = dns.message.from_text(MESSAGE_TEMPLATE % dict(name=qname.to_text(), rdtype=rdtype, answer=answer_lines))
        return dns.resolver.Answer(qname, dns.rdatatype.from_text(rdtype), dns.rdataclass.IN, response, '198.51.100.1', 53)


def test_engine_takes_any_resolver_with_the_dnspython_signature():
    resolver = MessageResolver({
        ('example.test.', 'MX'): 'example.test. 3600 IN MX 10 b.example.test.\nexample.test. 3600 IN MX 10 a.example.test.',
        ('a.example.test.', 'A'): 'a.example.test. 60 IN A 192.0.2.1',
        ('b.example.test.', 'A'): 'b.example.test. 60 IN A 192.0.2.2',
        ('b.example.test.', 'AAAA'): 'b.example.test. 60 IN AAAA 2001:db8::2',
    })
    record = resolve_mx('example.test', opts(), resolver=resolver)
    assert record['status'] == 'ok'
    assert hosts(record) == [(10, 'a.example.test'), (10, 'b.example.test')]
    assert [exchanger['equal_preference_group'] for exchanger in record['exchangers']] == [True, True]
    assert [ips(exchanger) for exchanger in record['exchangers']] == [['192.0.2.1'], ['192.0.2.2', '2001:db8::2']]
    assert record['ttl'] == 3600
    assert record['dnssec_ad'] is True
    assert record['nameserver'] == '198.51.100.1'
    assert all(search is False for name, rdtype, search in resolver.asked)
