# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Input checks of the DNS engine (stdlib only, run before any query)."""

from __future__ import annotations

import pytest

from ansible_collections.mailops.mailflow.plugins.module_utils._dns import validate
from ansible_collections.mailops.mailflow.plugins.module_utils._dns.validate import (
    check_port,
    check_seconds,
    normalize_domain,
    normalize_domains,
    normalize_ip_version,
    normalize_nameservers,
    to_ascii_name,
)
import idna


@pytest.fixture
def with_idna(monkeypatch):
    monkeypatch.setattr(validate, 'idna', idna)


@pytest.mark.parametrize('value, expected', [
    ('fabrikam.test', 'fabrikam.test'),
    ('fabrikam.test.', 'fabrikam.test'),
    ('Fabrikam.TEST.', 'fabrikam.test'),
    ('mx-1.cname-mx.test', 'mx-1.cname-mx.test'),
    ('_dmarc.fabrikam.test', '_dmarc.fabrikam.test'),
    ('localhost', 'localhost'),
    ('a' * 63 + '.test', 'a' * 63 + '.test'),
    ('xn--strae-oqa.de', 'xn--strae-oqa.de'),
])
def test_valid_domains_are_normalized(value, expected):
    assert normalize_domain(value) == expected


@pytest.mark.parametrize('value, expected', [
    ('straße.de', 'xn--strae-oqa.de'),              # IDNA 2003 made this strasse.de, another domain
    ('bücher.test', 'xn--bcher-kva.test'),
    ('Bücher.TEST.', 'xn--bcher-kva.test'),
    ('_dmarc.bücher.test', '_dmarc.xn--bcher-kva.test'),
    ('ＢＵＣＨＥＲ．test', 'bucher.test'),          # UTS 46 maps full-width forms and the full-width dot
    ('例え.テスト', 'xn--r8jz45g.xn--zckzah'),
    ('ς.test', 'xn--3xa.test'),                     # final sigma kept (IDNA 2003 mapped it to σ)
])
def test_internationalized_domains_are_idna_2008(with_idna, value, expected):
    assert normalize_domain(value) == expected


@pytest.mark.parametrize('value, fragment', [
    ('☃.test', 'IDNA 2008'),                        # valid in IDNA 2003, not in 2008
    ('bü_cher.test', 'IDNA 2008'),
    ('-bücher.test', 'IDNA 2008'),
    ('bücher..test', 'empty label'),
    ('ü' * 70 + '.test', 'IDNA 2008'),
])
def test_invalid_internationalized_domains_say_why(with_idna, value, fragment):
    with pytest.raises(ValueError) as caught:
        normalize_domain(value)
    assert fragment in str(caught.value)


def test_without_the_idna_package_a_non_ascii_domain_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(validate, 'idna', None)
    with pytest.raises(ValueError) as caught:
        normalize_domains(['fabrikam.test', 'straße.de'])
    assert str(caught.value).startswith("[1]: 'straße.de' is an internationalized name")
    assert 'pip install idna' in str(caught.value)
    assert normalize_domain('xn--strae-oqa.de') == 'xn--strae-oqa.de'
    assert to_ascii_name('mx1.fabrikam.test') == 'mx1.fabrikam.test'


@pytest.mark.parametrize('value', ['fabrikam.test:25', 'mx.example.com:587', '[127.0.0.1]:2525', '[::1]:25'])
def test_a_domain_with_a_port_points_at_the_port_option(value):
    with pytest.raises(ValueError) as caught:
        normalize_domain(value)
    assert 'port' in str(caught.value) and 'port option' in str(caught.value)


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
