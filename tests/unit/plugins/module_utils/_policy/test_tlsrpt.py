# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""TLS-RPT (RFC 8460 3): the _smtp._tls record and its rua addresses."""

from __future__ import annotations

import pytest

from ansible_collections.mailops.mailflow.plugins.module_utils._policy import tlsrpt


def test_record_with_two_rua():
    record = tlsrpt.parse_record('v=TLSRPTv1; rua=mailto:tls@fabrikam.test,https://reports.fabrikam.test/tlsrpt')
    assert record['rua'] == ['mailto:tls@fabrikam.test', 'https://reports.fabrikam.test/tlsrpt']
    assert record['rua_problems'] == []


@pytest.mark.parametrize('uri, problem', [
    ('ftp://reports.fabrikam.test/x', 'scheme must be mailto: or https:'),
    ('http://reports.fabrikam.test/x', 'scheme must be mailto: or https:'),
    ('mailto:nobody', 'not a valid mailto: address'),
    ('mailto:a b@fabrikam.test', 'not a valid mailto: address'),
    ('https:///path', 'without a valid host name'),
])
def test_bad_rua_is_named(uri, problem):
    record = tlsrpt.parse_record('v=TLSRPTv1; rua=mailto:ok@fabrikam.test,%s' % uri)
    assert len(record['rua_problems']) == 1 and problem in record['rua_problems'][0]


def test_percent_encoded_mailto_is_valid():
    assert tlsrpt.check_rua('mailto:tls%2Breports@fabrikam.test') is None


@pytest.mark.parametrize('text, problem', [
    ('v=TLSRPTv1', 'no rua field'),
    ('v=TLSRPTv1; rua=', 'no rua field'),
    ('v=TLSRPTv2; rua=mailto:a@b.test', 'must start with v=TLSRPTv1'),
    ('v=TLSRPTv1; rua=mailto:a@b.test; rua=mailto:c@b.test', 'rua is given twice'),
    ('v=TLSRPTv1; rua mailto:a@b.test', 'not name=value'),
])
def test_record_refused(text, problem):
    with pytest.raises(ValueError, match=problem):
        tlsrpt.parse_record(text)


def test_two_records_mean_none():
    record, problem = tlsrpt.select_record(['v=TLSRPTv1; rua=mailto:a@b.test', 'v=TLSRPTv1; rua=mailto:c@b.test'])
    assert record is None and 'senders then use none' in problem
    assert tlsrpt.select_record(['v=spf1 -all']) == (None, None)
