# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Option validation: everything is refused before a connection, with a message naming the option."""

from __future__ import annotations

import pytest

from ansible_collections.mailops.mailflow.plugins.module_utils._smtp import dialogue
from ansible_collections.mailops.mailflow.plugins.module_utils._smtp.options import (
    ProbeOptionError, check_mailbox, default_helo_name, validate_options)

BASE = {'host': 'mx1.fabrikam.test', 'helo_name': 'contoso.test', 'mail_from': 'chris@contoso.test', 'rcpt_to': ['kate@fabrikam.test']}


def options(**changes):
    values = dict(BASE)
    values.update(changes)
    return values


def refused(**changes):
    with pytest.raises(ProbeOptionError) as caught:
        validate_options(options(**changes))
    return caught.value


BREAKERS = [('\r\n', 'line break'), ('\n', 'line break'), ('\r', 'line break'), ('\x00', 'NUL')]


@pytest.mark.parametrize('breaker, words', BREAKERS)
@pytest.mark.parametrize('option, make', [
    ('host', lambda bad: {'host': 'mx1.fabrikam.test' + bad + 'QUIT'}),
    ('helo_name', lambda bad: {'helo_name': 'contoso.test' + bad + 'RSET'}),
    ('server_name', lambda bad: {'server_name': 'mx1' + bad}),
    ('mail_from', lambda bad: {'mail_from': 'chris@contoso.test>' + bad + 'RCPT TO:<x@y.test'}),
    ('rcpt_to[1]', lambda bad: {'rcpt_to': ['kate@fabrikam.test', 'x@y.test>' + bad + 'DATA']}),
    ('dsn.envid', lambda bad: {'dsn': {'envid': 'id' + bad}}),
    ('dsn.notify[0]', lambda bad: {'dsn': {'notify': ['success' + bad]}}),
    ('dsn.ret', lambda bad: {'dsn': {'ret': 'full' + bad}}),
    ('auth.username', lambda bad: {'auth': {'username': 'chris' + bad, 'password': 'x'}}),
    ('auth.password', lambda bad: {'auth': {'username': 'chris', 'password': 'x' + bad + 'y'}}),
    ('content.subject', lambda bad: {'content': {'subject': 'Hi' + bad + 'Bcc: victim@y.test'}}),
    ('content.from_header', lambda bad: {'content': {'from_header': 'a@b.test' + bad}}),
    ('content.to_header', lambda bad: {'content': {'to_header': 'a@b.test' + bad}}),
    ('content.headers.X-Test', lambda bad: {'content': {'headers': {'X-Test': 'v' + bad + 'Bcc: x'}}}),
    ('content.headers', lambda bad: {'content': {'headers': {'X-Te' + bad + 'st': 'v'}}}),
])
def test_wire_values_with_cr_lf_nul_are_refused(option, make, breaker, words):
    error = refused(**make(breaker))
    assert error.option == option
    assert str(error).startswith(option + ': ')
    assert words in str(error)
    assert '\n' not in str(error) and '\r' not in str(error)


def test_the_message_names_the_option_and_does_not_echo_a_password():
    error = refused(auth={'username': 'chris', 'password': 'TopSecret\r\n'})
    assert str(error) == 'auth.password: contains a line break (CR/LF), refusing to send it'


def test_body_may_hold_line_breaks_but_not_nul():
    assert validate_options(options(content={'body': 'one\r\ntwo\n'}))['content']['body'] == 'one\r\ntwo\n'
    assert refused(content={'body': 'a\x00b'}).option == 'content.body'


@pytest.mark.parametrize('address', [
    'kate@fabrikam.test', '<kate@fabrikam.test>', 'first.last+tag@sub.fabrikam.test', '"odd name"@fabrikam.test',
    'kate@[192.0.2.1]', 'kate@[IPv6:2001:db8::1]', 'kåte@fabrikam.test', 'kate@bücher.test',
])
def test_valid_mailboxes(address):
    assert check_mailbox(address, 'rcpt_to[0]') == address.strip('<>')


@pytest.mark.parametrize('address', [
    'kate', 'kate@', '@fabrikam.test', 'Kate <kate@fabrikam.test>', 'kate smith@fabrikam.test', 'kate..x@fabrikam.test',
    '.kate@fabrikam.test', 'kate@fabrikam..test', 'kate@-fabrikam.test', 'kate@[300.1.1.1]', 'kate@[IPv6:1.2.3.4]',
    'kate@fab rikam.test', 'a' * 65 + '@fabrikam.test', '"unclosed@fabrikam.test', 'kate@fabrikam.test>',
])
def test_invalid_mailboxes(address):
    with pytest.raises(ProbeOptionError) as caught:
        check_mailbox(address, 'rcpt_to[2]')
    assert caught.value.option == 'rcpt_to[2]'


def test_null_sender_is_allowed_only_for_mail_from():
    assert validate_options(options(mail_from=''))['mail_from'] == ''
    assert validate_options(options(mail_from='<>'))['mail_from'] == ''
    assert refused(rcpt_to=['<>']).option == 'rcpt_to[0]'


@pytest.mark.parametrize('changes, option', [
    ({'port': 0}, 'port'),
    ({'port': 65536}, 'port'),
    ({'port': 'smtp'}, 'port'),
    ({'port': True}, 'port'),
    ({'quit_after': 'dataa'}, 'quit_after'),
    ({'quit_after': 'data'}, 'quit_after'),
    ({'tls': 'ssl'}, 'tls'),
    ({'tls': 'none', 'tls_verify': True}, 'tls_verify'),
    ({'tls': 'none', 'ca_path': '/'}, 'ca_path'),
    ({'tls': 'none', 'server_name': 'mx1.fabrikam.test'}, 'server_name'),
    ({'ca_path': '/nonexistent/ca.pem'}, 'ca_path'),
    ({'connect_timeout': 0}, 'connect_timeout'),
    ({'command_timeout': -1}, 'command_timeout'),
    ({'deadline': 'soon'}, 'deadline'),
    ({'deadline': float('nan')}, 'deadline'),
    ({'deadline': 5, 'connect_timeout': 10}, 'deadline'),
    ({'ip_version': '5'}, 'ip_version'),
    ({'source_address': 'not-an-ip'}, 'source_address'),
    ({'source_address': '127.0.0.1', 'ip_version': '6'}, 'source_address'),
    ({'addresses': ['192.0.2.1', 'mx2.fabrikam.test']}, 'addresses[1]'),
    ({'rcpt_to': []}, 'rcpt_to'),
    ({'mail_from': None}, 'mail_from'),
    ({'pipelining': 'yes'}, 'pipelining'),
    ({'dsn': {'notify': ['never', 'success']}}, 'dsn.notify'),
    ({'dsn': {'notify': ['sometimes']}}, 'dsn.notify[0]'),
    ({'dsn': {'ret': 'all'}}, 'dsn.ret'),
    ({'dsn': {'envid': 'has space'}}, 'dsn.envid'),
    ({'dsn': {'orcpt': 'yes'}}, 'dsn.orcpt'),
    ({'auth': {'username': 'chris'}}, 'auth.password'),
    ({'auth': {'password': 'x'}}, 'auth.username'),
    ({'auth': {'username': 'chris', 'password': 'x', 'mechanism': 'cram-md5'}}, 'auth.mechanism'),
    ({'helo_name': 'two words'}, 'helo_name'),
    ({'host': ''}, 'host'),
    ({'host': 'mx1 fabrikam'}, 'host'),
    ({'expect': {'rcpt': ['55']}}, 'expect.rcpt[0]'),
    ({'expect': {'rcpt': ['5\u00b2\u00b2']}}, 'expect.rcpt[0]'),  # superscript digits pass str.isdigit() but not int()
    ({'expect': {'rcpt': []}}, 'expect.rcpt'),
    ({'expect': {'helo_tls': [250]}}, 'expect'),
    ({'expect': {'rcpt': [True]}}, 'expect.rcpt[0]'),
    ({'content': {'headers': {'Bad Name': 'x'}}}, 'content.headers'),
    ({'content': {'colour': 'red'}}, 'content'),
    ({'bogus': 1}, 'bogus'),
])
def test_bad_options(changes, option):
    assert refused(**changes).option == option


def test_stopping_early_needs_no_envelope():
    validated = validate_options({'host': 'mx1.fabrikam.test', 'quit_after': 'ehlo', 'helo_name': 'contoso.test'})
    assert validated['mail_from'] is None and validated['rcpt_to'] == []
    validate_options({'host': 'mx1.fabrikam.test', 'quit_after': 'mail', 'helo_name': 'contoso.test', 'mail_from': 'a@b.test'})


def test_defaults_and_normalisation():
    validated = validate_options(options(port='587', ip_version=4, dsn={'notify': 'SUCCESS, failure', 'ret': 'HDRS'},
                                         expect={'rcpt': 550, 'mail': ['5xx', '5.7.1', 'connection_closed']}))
    assert validated['port'] == 587
    assert validated['ip_version'] == '4'
    assert validated['tls'] == 'starttls' and validated['tls_verify'] is False
    assert validated['dsn'] == {'notify': ['success', 'failure'], 'ret': 'hdrs', 'envid': None, 'orcpt': False}
    assert validated['expect'] == {'rcpt': [('code', 550)], 'mail': [('class', 5), ('enhanced', '5.7.1'), ('condition', 'connection_closed')]}
    assert validated['connect_timeout'] == 10.0 and validated['deadline'] == 60.0


def test_default_helo_name_is_the_fqdn():
    assert validate_options({'host': 'x.test', 'quit_after': 'banner'})['helo_name'] == default_helo_name()


def test_warnings_for_risky_but_valid_combinations():
    assert any('implicit' in warning for warning in validate_options(options(tls='implicit')).warnings)
    assert any('465' in warning for warning in validate_options(options(port=465)).warnings)
    unencrypted = validate_options(options(tls='none', auth={'username': 'chris', 'password': 'x'}))
    assert any('unencrypted' in warning for warning in unencrypted.warnings)


def test_for_target_revalidates_what_changes():
    validated = validate_options(options())
    moved = validated.for_target(host='mx2.fabrikam.test', port=2525, addresses=['192.0.2.2', '2001:db8::2'])
    assert (moved['host'], moved['port'], moved['addresses']) == ('mx2.fabrikam.test', 2525, ['192.0.2.2', '2001:db8::2'])
    assert validated['host'] == 'mx1.fabrikam.test'
    with pytest.raises(ProbeOptionError):
        validated.for_target(host='mx2\r\nQUIT')


def test_the_engine_validates_before_connecting():
    attempts = []

    def opener(*args):
        attempts.append(args)
        raise AssertionError('must not connect')

    with pytest.raises(ProbeOptionError):
        dialogue.run_probe(options(rcpt_to=['kate@fabrikam.test\r\nDATA']), opener=opener)
    assert attempts == []
