# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""MTA-STS (RFC 8461): the TXT record, the policy file and the MX pattern match, without network."""

from __future__ import annotations

import pytest

from ansible_collections.mailops.mailflow.plugins.module_utils._policy import mta_sts

GOOD_POLICY = 'version: STSv1\r\nmode: enforce\r\nmx: mx1.fabrikam.test\r\nmx: *.contoso.test\r\nmax_age: 604800\r\n'


@pytest.mark.parametrize('text, record_id', [
    ('v=STSv1; id=20261204T000000', '20261204T000000'),
    ('v=STSv1;id=abc', 'abc'),
    ('v=STSv1; id=abc;', 'abc'),
    ('v=STSv1; id=A1; ext=value', 'A1'),
])
def test_record_parses(text, record_id):
    assert mta_sts.parse_record(text)['id'] == record_id


@pytest.mark.parametrize('text, problem', [
    ('v=STSv2; id=abc', 'must start with v=STSv1'),
    ('id=abc; v=STSv1', 'must start with v=STSv1'),
    ('v=STSv1', 'no id'),
    ('v=STSv1; id=not-alnum!', 'letters or digits'),
    ('v=STSv1; id=' + 'a' * 33, 'letters or digits'),
    ('v=STSv1; id', 'not name=value'),
])
def test_record_refused(text, problem):
    with pytest.raises(ValueError, match=problem):
        mta_sts.parse_record(text)


def test_select_record_ignores_other_txt_and_refuses_two():
    assert mta_sts.select_record(['google-site-verification=x', 'v=STSv1; id=1']) == ('v=STSv1; id=1', None)
    assert mta_sts.select_record(['v=spf1 -all']) == (None, None)
    record, problem = mta_sts.select_record(['v=STSv1; id=1', 'v=STSv1; id=2'])
    assert record is None and 'assume no policy' in problem


def test_policy_parses_every_field():
    policy, errors = mta_sts.parse_policy(GOOD_POLICY)
    assert errors == []
    assert policy['version'] == 'STSv1'
    assert policy['mode'] == 'enforce'
    assert policy['max_age'] == 604800
    assert policy['mx'] == ['mx1.fabrikam.test', '*.contoso.test']


def test_policy_accepts_lf_only_and_keeps_the_first_repeated_key():
    policy, errors = mta_sts.parse_policy('version: STSv1\nmode: testing\nmode: enforce\nmx: a.test\nmax_age: 0\n')
    assert errors == []
    assert policy['mode'] == 'testing'
    assert policy['max_age'] == 0


@pytest.mark.parametrize('text, problem', [
    ('version: STSv2\nmode: enforce\nmx: a.test\nmax_age: 1\n', 'version must be STSv1'),
    ('version: STSv1\nmode: strict\nmx: a.test\nmax_age: 1\n', "mode must be one of enforce, testing, none"),
    ('version: STSv1\nmode: enforce\nmx: a.test\n', 'max_age is missing'),
    ('version: STSv1\nmode: enforce\nmx: a.test\nmax_age: -1\n', 'max_age must be a number'),
    ('version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 31557601\n', 'max_age must be a number'),
    ('version: STSv1\nmode: enforce\nmax_age: 1\n', 'needs at least one mx line'),
    ('version: STSv1\nmode: enforce\nmx: *.test\nmax_age: 1\n', 'wildcard needs at least two labels'),
    ('version: STSv1\nmode: enforce\nmx: a..test\nmax_age: 1\n', 'not a host name'),
    ('version: STSv1\nmode enforce\nmx: a.test\nmax_age: 1\n', 'is not "key: value"'),
])
def test_policy_errors_are_named(text, problem):
    _policy, errors = mta_sts.parse_policy(text)
    assert any(problem in error for error in errors), errors


def test_mode_none_needs_no_mx():
    policy, errors = mta_sts.parse_policy('version: STSv1\nmode: none\nmax_age: 86400\n')
    assert errors == [] and policy['mode'] == 'none'


@pytest.mark.parametrize('pattern, host, covered', [
    ('mx1.fabrikam.test', 'mx1.fabrikam.test', True),
    ('mx1.fabrikam.test', 'MX1.Fabrikam.Test.', True),
    ('mx1.fabrikam.test', 'mx2.fabrikam.test', False),
    ('*.fabrikam.test', 'mx2.fabrikam.test', True),
    # RFC 8461 4.1: the wildcard stands for exactly one label.
    ('*.fabrikam.test', 'a.b.fabrikam.test', False),
    ('*.fabrikam.test', 'fabrikam.test', False),
    ('*.fabrikam.test', 'mx1.fabrikam.testx', False),
])
def test_pattern_match(pattern, host, covered):
    assert mta_sts.pattern_matches(pattern, host) is covered


def test_matching_pattern_names_the_first_that_covers():
    assert mta_sts.matching_pattern(['mail.fabrikam.test', '*.fabrikam.test'], 'mx1.fabrikam.test') == '*.fabrikam.test'
    assert mta_sts.matching_pattern(['*.fabrikam.test'], 'mx.exim.test') is None


@pytest.mark.parametrize('value, ok', [
    ('text/plain', True),
    ('Text/Plain; charset=utf-8', True),
    ('text/html', False),
    (None, False),
])
def test_content_type(value, ok):
    assert mta_sts.content_type_ok(value) is ok


def test_fetch_without_addresses_is_a_dns_failure_before_any_connection():
    def opener(*_args):
        raise AssertionError('no connection may be opened')
    fetch = mta_sts.fetch_policy('fabrikam.test', [], opener=opener)
    assert fetch['reason'] == 'dns' and not fetch['ok']
    assert fetch['url'] == 'https://mta-sts.fabrikam.test/.well-known/mta-sts.txt'


def test_fetch_names_a_refused_connection():
    def opener(address, _timeout):
        raise ConnectionRefusedError(111, 'Connection refused')
    fetch = mta_sts.fetch_policy('fabrikam.test', ['192.0.2.1', '192.0.2.2'], opener=opener)
    assert fetch['reason'] == 'connect'
    assert '192.0.2.1' in fetch['message'] and '192.0.2.2' in fetch['message']
