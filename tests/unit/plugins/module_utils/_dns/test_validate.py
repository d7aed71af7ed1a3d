# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Input checks of the DNS engine (stdlib only, run before any query)."""

from __future__ import annotations

import pytest

from ansible_collections.mailops.mailflow.plugins.module_utils._dns.validate import (
    check_port,
    check_seconds,
    normalize_domain,
    normalize_domains,
    normalize_ip_version,
    normalize_nameservers,
)


@pytest.mark.parametrize('value, expected', [
    ('fabrikam.test', 'fabrikam.test'),
    ('fabrikam.test.', 'fabrikam.test'),
    ('Fabrikam.TEST.', 'fabrikam.test'),
    ('mx-1.cname-mx.test', 'mx-1.cname-mx.test'),
    ('_dmarc.fabrikam.test', '_dmarc.fabrikam.test'),
    ('localhost', 'localhost'),
    ('bücher.test', 'xn--bcher-kva.test'),
    ('a' * 63 + '.test', 'a' * 63 + '.test'),
])
def test_valid_domains_are_normalized(value, expected):
    assert normalize_domain(value) == expected


@pytest.mark.parametrize('value, fragment', [
    ('', 'empty'),
    ('.', 'root'),
    ('fabrikam.test\r\nRCPT TO:<x@y>', 'CR'),
    ('fabrikam.test\n', 'LF'),
    ('fabrikam\x00.test', 'NUL'),
    ('fabrikam .test', 'whitespace'),
    ('kate@fabrikam.test', 'e-mail address'),
    ('[127.0.0.1]', 'address literal'),
    ('127.0.0.1', 'IP address'),
    ('fabrikam..test', 'empty label'),
    ('.fabrikam.test', 'empty label'),
    ('-fabrikam.test', 'hyphen'),
    ('fabrikam-.test', 'hyphen'),
    ('fab/rikam.test', "'/'"),
    ('a' * 64 + '.test', '63'),
    ('.'.join(['abcdefghi'] * 26) + '.test', '253'),
])
def test_invalid_domains_say_why(value, fragment):
    with pytest.raises(ValueError) as caught:
        normalize_domain(value)
    assert fragment in str(caught.value)


def test_non_string_domain():
    with pytest.raises(ValueError) as caught:
        normalize_domain(42)
    assert 'string' in str(caught.value)


def test_domains_list_names_the_bad_index():
    assert normalize_domains(['fabrikam.test.', 'contoso.test']) == ['fabrikam.test', 'contoso.test']
    with pytest.raises(ValueError) as caught:
        normalize_domains(['fabrikam.test', 'bad domain'])
    assert str(caught.value).startswith('[1]: ')
    with pytest.raises(ValueError) as caught:
        normalize_domains([])
    assert 'empty' in str(caught.value)


def test_nameservers():
    assert normalize_nameservers(None) is None
    assert normalize_nameservers(['127.0.0.1', '::1', '0:0::1']) == ['127.0.0.1', '::1', '::1']
    for bad in (['ns1.fabrikam.test'], ['127.0.0.256'], ['127.0.0.1\r\n'], []):
        with pytest.raises(ValueError):
            normalize_nameservers(bad)


def test_port_and_seconds():
    assert check_port(5353) == 5353
    for bad in (0, 65536, -1, True, '53'):
        with pytest.raises(ValueError):
            check_port(bad)
    assert check_seconds(2) == 2.0
    for bad in (0, -0.5, 3601, None, False):
        with pytest.raises(ValueError):
            check_seconds(bad)


@pytest.mark.parametrize('value, expected', [
    ('auto', 'auto'), ('any', 'auto'), (4, '4'), ('6', '6'), ('IPv6', '6'),
])
def test_ip_version(value, expected):
    assert normalize_ip_version(value) == expected


def test_bad_ip_version():
    with pytest.raises(ValueError):
        normalize_ip_version('5')
