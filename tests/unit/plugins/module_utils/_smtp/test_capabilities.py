# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""EHLO capabilities: typed values, the greeting, the client address the server saw."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.mailops.mailflow.plugins.module_utils._smtp.capabilities import (
    empty_capabilities, parse_ehlo, seen_client_address)

GUIDE_EHLO = ['mail1.fabrikam.com Hello [172.16.0.5]', 'SIZE 37748736', 'PIPELINING', 'DSN', 'ENHANCEDSTATUSCODES',
              'STARTTLS', 'X-ANONYMOUSTLS', 'AUTH NTLM', 'X-EXPS GSSAPI NTLM', '8BITMIME', 'BINARYMIME', 'CHUNKING', 'XRDST']


def test_the_guides_exchange_ehlo():
    caps = parse_ehlo(GUIDE_EHLO)
    assert caps['esmtp'] is True
    assert caps['greeting'] == 'mail1.fabrikam.com Hello [172.16.0.5]'
    assert caps['seen_client_address'] == '172.16.0.5'
    assert caps['size'] == 37748736
    assert caps['pipelining'] and caps['dsn'] and caps['enhancedstatuscodes'] and caps['starttls']
    assert caps['eightbitmime'] and caps['chunking']
    assert caps['smtputf8'] is False
    assert caps['auth'] == ['NTLM']
    assert caps['other'] == ['X-ANONYMOUSTLS', 'X-EXPS GSSAPI NTLM', 'BINARYMIME', 'XRDST']


def test_postfix_ehlo():
    caps = parse_ehlo(['mx1.fabrikam.test', 'PIPELINING', 'SIZE 10240000', 'VRFY', 'ETRN', 'STARTTLS', 'ENHANCEDSTATUSCODES',
                       '8BITMIME', 'DSN', 'SMTPUTF8', 'CHUNKING'])
    assert caps['seen_client_address'] is None
    assert caps['smtputf8'] is True
    assert caps['other'] == ['VRFY', 'ETRN']


@pytest.mark.parametrize('lines, expected', [
    (['x', 'AUTH PLAIN LOGIN'], ['PLAIN', 'LOGIN']),
    (['x', 'AUTH=LOGIN PLAIN', 'AUTH PLAIN CRAM-MD5'], ['LOGIN', 'PLAIN', 'CRAM-MD5']),
    (['x', 'auth plain'], ['PLAIN']),
    (['x', 'AUTH'], []),
])
def test_auth_mechanisms(lines, expected):
    assert parse_ehlo(lines)['auth'] == expected


@pytest.mark.parametrize('line, size', [
    ('SIZE', 0),
    ('SIZE 0', 0),
    ('SIZE 52428800', 52428800),
    ('SIZE lots', 0),
    ('SIZE \u00b2', 0),
    ('SIZE ' + '9' * 5000, 0),
])
def test_size_values(line, size):
    assert parse_ehlo(['x', line])['size'] == size


def test_size_absent_is_none():
    assert parse_ehlo(['x', 'PIPELINING'])['size'] is None


@pytest.mark.parametrize('greeting, address', [
    ('mail1.fabrikam.com Hello [172.16.0.5]', '172.16.0.5'),
    ('mx.example Hello client.test [192.0.2.7]', '192.0.2.7'),
    ('mx.google.com at your service, [2001:db8::1]', '2001:db8::1'),
    ('mx Hello [IPv6:2001:db8::2]', '2001:db8::2'),
    ('mx Hello [999.1.1.1]', None),
    ('mx1.fabrikam.test', None),
    ('', None),
])
def test_seen_client_address(greeting, address):
    assert seen_client_address(greeting) == address


def test_empty_capabilities_after_helo():
    caps = empty_capabilities(esmtp=False, greeting='mx1')
    assert caps['esmtp'] is False and caps['greeting'] == 'mx1'
    assert caps['size'] is None and caps['auth'] == [] and caps['pipelining'] is False


def test_other_keywords_are_bounded():
    caps = parse_ehlo(['x'] + ['X-KEY%d' % index for index in range(1000)])
    assert len(caps['other']) == 100


@settings(max_examples=500, deadline=None)
@given(st.lists(st.text(max_size=60), max_size=30))
def test_fuzz_parse_ehlo_never_raises(lines):
    caps = parse_ehlo(lines)
    assert isinstance(caps['auth'], list)
    assert caps['size'] is None or isinstance(caps['size'], int)
