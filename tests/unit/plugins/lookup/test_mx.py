# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""mailops.mailflow.mx lookup: the module's engine on the controller, no network."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleLookupError
from ansible.plugins.loader import lookup_loader

from ansible_collections.mailops.mailflow.plugins.module_utils._dns import mx as engine
from ansible_collections.mailops.mailflow.tests.unit.plugins.module_utils._dns.fakedns import ZoneNameserver

NS = '192.0.2.53'


@pytest.fixture
def nameserver(monkeypatch):
    zone_nameserver = ZoneNameserver(servfail=['servfail.test'], silent=['silent.test'])
    real_make_resolver = engine.make_resolver

    def make_fake_resolver(options):
        resolver = real_make_resolver(options)
        zone_nameserver.port = options.port
        resolver.nameservers = [zone_nameserver]
        return resolver

    monkeypatch.setattr(engine, 'make_resolver', make_fake_resolver)
    return zone_nameserver


@pytest.fixture
def mx_lookup():
    plugin = lookup_loader.get('mailops.mailflow.mx')
    assert plugin is not None
    return plugin


def test_exchangers_sorted_one_element_each(mx_lookup, nameserver):
    exchangers = mx_lookup.run(['fabrikam.test'], variables={}, nameservers=[NS], port=5353)
    assert [(item['domain'], item['preference'], item['host']) for item in exchangers] == [
        ('fabrikam.test', 10, 'mx1.fabrikam.test'), ('fabrikam.test', 20, 'mx2.fabrikam.test')]
    assert exchangers[0]['addresses'][0] == {'ip': '127.0.0.11', 'family': 'ipv4'}
    assert nameserver.port == 5353


def test_several_terms_keep_their_order(mx_lookup, nameserver):
    exchangers = mx_lookup.run(['contoso.test', 'fabrikam.test.'], variables={}, nameservers=[NS])
    assert [item['host'] for item in exchangers] == ['smtp.contoso.test', 'mx1.fabrikam.test', 'mx2.fabrikam.test']


def test_same_records_as_the_module_engine(mx_lookup, nameserver):
    options = engine.MxOptions(nameservers=[NS])
    record = engine.resolve_mx('cname-mx.test', options)
    exchangers = mx_lookup.run(['cname-mx.test'], variables={}, nameservers=[NS])
    assert [dict(item, domain=None) for item in exchangers] == [dict(item, domain=None) for item in record['exchangers']]


@pytest.mark.parametrize('domain', ['nullmx.test', 'nodata.test', 'nosuchdomain.test'])
def test_no_mail_statuses_give_an_empty_list(mx_lookup, nameserver, domain):
    assert mx_lookup.run([domain], variables={}, nameservers=[NS]) == []


def test_implicit_mx_is_the_domain_itself(mx_lookup, nameserver):
    exchangers = mx_lookup.run(['implicit.test'], variables={}, nameservers=[NS])
    assert [(item['preference'], item['host'], item['implicit']) for item in exchangers] == [(0, 'implicit.test', True)]


def test_ip_version_filter(mx_lookup, nameserver):
    exchangers = mx_lookup.run(['fabrikam.test'], variables={}, nameservers=[NS], ip_version='6')
    assert [item['usable'] for item in exchangers] == [True, False]


@pytest.mark.parametrize('domain, fragment', [('servfail.test', 'servfail'), ('silent.test', 'timeout')])
def test_unknown_answers_fail_the_lookup(mx_lookup, nameserver, domain, fragment):
    with pytest.raises(AnsibleLookupError) as caught:
        mx_lookup.run([domain], variables={}, nameservers=[NS], timeout=0.1, lifetime=0.3)
    assert fragment in str(caught.value)


@pytest.mark.parametrize('terms, kwargs, fragment', [
    (['fabrikam.test\r\n'], {}, 'term[0]: '),
    (['fabrikam.test'], dict(nameservers=['ns.fabrikam.test']), 'nameservers[0]: '),
    (['fabrikam.test'], dict(port=0), 'port: '),
])
def test_bad_input_fails_before_any_query(mx_lookup, nameserver, terms, kwargs, fragment):
    kwargs.setdefault('nameservers', [NS])
    with pytest.raises(AnsibleLookupError) as caught:
        mx_lookup.run(terms, variables={}, **kwargs)
    assert fragment in str(caught.value)
    assert nameserver.asked() == []


def test_no_terms_no_query(mx_lookup, nameserver):
    assert mx_lookup.run([], variables={}, nameservers=[NS]) == []
    assert nameserver.asked() == []
