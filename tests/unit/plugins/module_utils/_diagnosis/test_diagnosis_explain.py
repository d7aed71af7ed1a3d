# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""explain(): parsing reply lines, multi-line replies, codes, dicts and garbage."""

from __future__ import annotations

import pytest

from ansible_collections.mailops.mailflow.plugins.module_utils._diagnosis import diagnose, explain
from ansible_collections.mailops.mailflow.plugins.module_utils._diagnosis import catalog

GMAIL_NO_SUCH_USER = [
    '550-5.1.1 The email account that you tried to reach does not exist. Please try',
    '550-5.1.1 double-checking the recipient\'s email address for typos or',
    '550-5.1.1 unnecessary spaces. For more information, go to',
    '550 5.1.1  https://support.google.com/mail/?p=NoSuchUser a1si123 - gsmtp',
]


def test_reply_line():
    result = explain('550 5.1.1 <kate@fabrikam.test>: Recipient address rejected: User unknown in local recipient table')
    assert (result['code'], result['enhanced']) == (550, '5.1.1')
    assert (result['category'], result['vendor']) == ('user_unknown', 'postfix')


def test_reply_line_equals_diagnose():
    line = '554 5.7.1 <kate@fabrikam.test>: Relay access denied'
    assert explain(line, step='rcpt') == diagnose(step='rcpt', code=554, enhanced='5.7.1',
                                                  text='<kate@fabrikam.test>: Relay access denied')


def test_multiline_list_with_enhanced_on_every_line():
    result = explain(GMAIL_NO_SUCH_USER)
    assert (result['code'], result['enhanced'], result['vendor']) == (550, '5.1.1', 'gmail')
    assert result['category'] == 'user_unknown'


def test_multiline_string_with_crlf():
    result = explain('\r\n'.join(GMAIL_NO_SUCH_USER) + '\r\n')
    assert (result['code'], result['vendor']) == (550, 'gmail')


def test_multiline_ehlo_reply():
    result = explain(['250-mail1.fabrikam.test Hello [172.16.0.5]', '250-SIZE 37748736', '250 XRDST'], step='ehlo')
    assert (result['code'], result['category'], result['status']) == (250, 'helo_accepted', 'ok')


def test_code_changing_mid_reply_is_noted():
    result = explain(['250-first', '550 last'])
    assert result['code'] == 550 and any('changes between lines' in note for note in result['notes'])


@pytest.mark.parametrize('value,code,enhanced', [
    (550, 550, None), ('550', 550, None), (' 421 ', 421, None), ('5.7.1', None, '5.7.1'), ('4.4.62', None, '4.4.62'),
    (b'530 5.7.1 Client was not authenticated', 530, '5.7.1'), ('250', 250, None), ('#5.1.1', None, '5.1.1'),
])
def test_codes_and_bytes(value, code, enhanced):
    result = explain(value)
    assert (result['code'], result['enhanced']) == (code, enhanced)
    assert result['category'] != 'unknown'


def test_enhanced_code_alone_reaches_vendor_and_registry():
    assert explain('5.7.64')['category'] == 'tenant_attribution_relay_denied'
    assert explain('5.1.1')['category'] == 'user_unknown'


def test_condition_name():
    result = explain('connection_refused')
    assert (result['error'], result['status']) == ('connection_refused', 'connection')


def test_ndr_text_is_searched_for_codes():
    result = explain("Remote server returned '550 5.1.1 RESOLVER.ADR.RecipNotFound; not found'")
    assert (result['code'], result['enhanced'], result['category']) == (550, '5.1.1', 'user_unknown')
    assert explain('Diagnostic-Code: smtp; 550 5.7.64 TenantAttribution; Relay Access Denied')['enhanced'] == '5.7.64'
    assert explain('Status: 4.4.7')['enhanced'] == '4.4.7'


def test_dsn_diagnostic_code_prefix():
    result = explain('smtp;550 5.7.1 Unable to relay')
    assert (result['code'], result['category']) == (550, 'relay_denied')


def test_step_dict_from_the_probe():
    step = {'name': 'mail', 'command': 'MAIL FROM:<chris@contoso.test>',
            'reply': {'code': 530, 'enhanced': '5.7.1', 'lines': ['530 5.7.1 Client was not authenticated'],
                      'text': 'Client was not authenticated'}, 'elapsed_ms': 1.2, 'ok': False}
    result = explain(step, port=2525)
    assert (result['step'], result['category']) == ('mail', 'internal_receive_connector')


def test_reply_dict_with_only_lines():
    result = explain({'lines': ['451 4.3.5 Server configuration error']})
    assert (result['code'], result['category'], result['status']) == (451, 'server_configuration_error', 'transient')


def test_recipient_result_dict():
    result = explain({'accepted': False, 'code': 550, 'enhanced': '5.1.1', 'text': 'User unknown'}, step='rcpt')
    assert result['category'] == 'user_unknown' and result['step'] == 'rcpt'


def test_error_dict():
    result = explain({'name': 'banner', 'error': 'connection_closed'})
    assert result['category'] == 'closed_before_greeting'


@pytest.mark.parametrize('garbage', [
    None, True, False, 3.5, 99, 999, 1000, -550, '', '   ', 'hello world', '9.9.9', '5.7', 'abc.def.ghi', object(),
    [], [1, 2, 3], ['', '  '], {}, {'foo': 'bar'}, {'reply': 'not a dict'}, {'code': 'x', 'enhanced': 7},
    '\x00\x01', 'NaN', '550x', set(),
])
def test_garbage_gives_unknown_and_never_raises(garbage):
    result = explain(garbage)
    assert result['category'] == 'unknown'
    assert result['status'] in catalog.STATUSES
    assert result['notes']


def test_invalid_parts_are_noted_not_fatal():
    result = explain({'code': 550, 'enhanced': '9.9.9'})
    assert result['code'] == 550 and result['enhanced'] is None
    assert any('9.9.9' in note for note in result['notes'])
    result = explain('999 5.1.1 nonsense')
    assert result['code'] is None and result['enhanced'] == '5.1.1'
    assert any('999' in note for note in result['notes'])
