# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Option validation: everything is refused before a connection, with a message naming the option."""

from __future__ import annotations

import socket

import pytest

from ansible_collections.mailops.mailflow.plugins.module_utils._dns import validate
from ansible_collections.mailops.mailflow.plugins.module_utils._smtp import dialogue, options as options_module
from ansible_collections.mailops.mailflow.plugins.module_utils._smtp.options import (
    CHOICE_OPTIONS, ProbeOptionError, canonical_option_case, check_mailbox, ehlo_name, validate_options)
import idna

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
    'kate@[192.0.2.1]', 'kate@[IPv6:2001:db8::1]', 'kåte@fabrikam.test',
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


def test_helo_name_left_out_stays_unset_until_the_local_address_is_known():
    assert validate_options({'host': 'x.test', 'quit_after': 'banner'})['helo_name'] is None
    assert validate_options(options(helo_name='relay.contoso.test'))['helo_name'] == 'relay.contoso.test'


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


# --- issue 13: what goes on the wire ------------------------------------------------------------------------------

@pytest.fixture
def host_names(monkeypatch):
    """Sets what the host's name lookups answer (getfqdn, gethostname, getaddrinfo's canonical name), uncached."""

    def configure(fqdn, hostname=None, canonical=None):
        monkeypatch.setattr(options_module, '_FQDN', [])
        monkeypatch.setattr(socket, 'getfqdn', lambda name='': fqdn)
        monkeypatch.setattr(socket, 'gethostname', lambda: hostname or fqdn)

        def getaddrinfo(host, port, family=0, kind=0, proto=0, flags=0):
            if canonical is None:
                raise socket.gaierror(socket.EAI_NONAME, 'Name or service not known')
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, canonical, ('192.0.2.1', 0))]

        monkeypatch.setattr(socket, 'getaddrinfo', getaddrinfo)

    return configure


def test_ehlo_name_is_the_hosts_fqdn(host_names):
    host_names('relay.contoso.test')
    assert ehlo_name({'helo_name': None}, '192.0.2.1') == 'relay.contoso.test'
    assert ehlo_name({'helo_name': 'given.contoso.test'}, '192.0.2.1') == 'given.contoso.test'


@pytest.mark.parametrize('fqdn, hostname, canonical, expected', [
    ('relay', 'relay', 'relay.contoso.test', 'relay.contoso.test'),   # only getaddrinfo's canonical name is dotted
    ('localhost', 'relay.contoso.test', None, 'relay.contoso.test'),  # the host name itself is dotted
    ('localhost.localdomain', 'relay.localdomain', 'localhost', None),
    ('localhost', 'localhost', None, None),
    ('relay', 'relay', 'relay', None),
    ('ip6-localhost', 'relay', 'relay.localhost', None),
    ('localhost6.localdomain6', 'localhost4.localdomain4', None, None),
    ('127.0.1.1', 'relay', None, None),
])
def test_ehlo_name_takes_the_best_name_and_never_localhost(host_names, fqdn, hostname, canonical, expected):
    host_names(fqdn, hostname, canonical)
    name = ehlo_name({'helo_name': None}, '192.0.2.1')
    assert name == (expected or '[192.0.2.1]')
    assert 'localhost' not in name


@pytest.mark.parametrize('local_address, literal', [
    ('192.0.2.1', '[192.0.2.1]'),
    (('192.0.2.1', 40000), '[192.0.2.1]'),
    (('2001:db8::1', 40000, 0, 0), '[IPv6:2001:db8::1]'),
    ('2001:0db8:0:0::1', '[IPv6:2001:db8::1]'),
    ('fe80::1%eth0', '[IPv6:fe80::1]'),
    ('::ffff:192.0.2.7', '[192.0.2.7]'),   # an IPv4 connection on a dual-stack socket
])
def test_without_an_fqdn_the_ehlo_name_is_an_address_literal_of_the_local_address(host_names, local_address, literal):
    host_names('localhost')
    assert ehlo_name({'helo_name': None}, local_address) == literal


def test_the_fqdn_is_looked_up_once(host_names, monkeypatch):
    host_names('relay.contoso.test')
    calls = []
    monkeypatch.setattr(socket, 'getfqdn', lambda name='': calls.append(name) or 'relay.contoso.test')
    for _index in range(3):
        ehlo_name({'helo_name': None}, '192.0.2.1')
    assert len(calls) == 1


def test_a_null_sender_message_without_fqdn_takes_the_ehlo_name(host_names):
    host_names('localhost')
    validated = validate_options(options(helo_name=None, mail_from='', send_message=True))
    raw = validated.message_template.render(domain=ehlo_name(validated, '192.0.2.1'))
    assert b'From: MAILER-DAEMON@[192.0.2.1]\r\n' in raw
    assert b'localhost' not in raw


UPPER_CASE = {
    'tls': 'STARTTLS', 'quit_after': 'RCPT', 'pipelining': 'Never', 'ip_version': 'AUTO',
    'auth': {'username': 'chris', 'password': 'secret', 'mechanism': 'PLAIN'},
    'dsn': {'notify': ['SUCCESS', 'Failure'], 'ret': 'HDRS'},
}


def test_protocol_words_are_case_insensitive_in_validation():
    validated = validate_options(options(expect={'RCPT': [550], 'Mail': ['5XX']}, **UPPER_CASE))
    assert (validated['tls'], validated['quit_after'], validated['pipelining'], validated['ip_version']) == ('starttls', 'rcpt', 'never', 'auto')
    assert validated['auth']['mechanism'] == 'plain'
    assert validated['dsn']['notify'] == ['success', 'failure'] and validated['dsn']['ret'] == 'hdrs'
    assert validated['expect'] == {'rcpt': [('code', 550)], 'mail': [('class', 5)]}


def smtp_probe_argspec():
    from ansible_collections.mailops.mailflow.plugins.module_utils._smtp.argspec import SMTP_PROBE_ARGSPEC
    return SMTP_PROBE_ARGSPEC


def module_argspecs():
    from ansible_collections.mailops.mailflow.plugins.modules import mx_lookup, mx_probe
    return {'smtp_probe': smtp_probe_argspec(), 'mx_probe': mx_probe.argument_spec(), 'mx_lookup': mx_lookup.ARGUMENT_SPEC}


def argspec_errors(argspec, args):
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
    return ArgumentSpecValidator(argspec).validate(args).error_messages


def test_canonical_option_case_passes_ansibles_choices_check():
    args = dict(BASE, **UPPER_CASE)
    assert any('STARTTLS' in message for message in argspec_errors(smtp_probe_argspec(), args))
    canonical = canonical_option_case(args)
    assert argspec_errors(smtp_probe_argspec(), canonical) == []
    assert canonical['tls'] == 'starttls' and canonical['auth']['mechanism'] == 'plain'
    assert canonical['dsn'] == {'notify': ['success', 'failure'], 'ret': 'hdrs'}
    # A copy: the task's own arguments are left as they were.
    assert args['tls'] == 'STARTTLS' and args['auth']['mechanism'] == 'PLAIN' and args['dsn']['notify'][0] == 'SUCCESS'
    assert canonical['auth']['password'] == 'secret' and canonical['host'] == BASE['host']


def test_canonical_option_case_for_mx_probe_and_mx_lookup():
    specs = module_argspecs()
    route = canonical_option_case({'domain': 'fabrikam.test', 'probe': 'First_Success', 'ip_version': 'Auto', 'tls': 'NONE',
                                   'dsn': {'notify': 'SUCCESS,DELAY'}})
    assert (route['probe'], route['ip_version'], route['tls'], route['dsn']['notify']) == ('first_success', 'auto', 'none', 'success,delay')
    assert argspec_errors(specs['mx_probe'], route) == []
    assert argspec_errors(specs['mx_lookup'], canonical_option_case({'domain': 'fabrikam.test', 'ip_version': 'AUTO'})) == []


def test_canonical_option_case_leaves_wrong_words_for_ansibles_own_error():
    args = {'host': 'Mx1.Fabrikam.TEST', 'tls': 'SSL', 'quit_after': '{{ step }}', 'ip_version': 4, 'dsn': 'odd',
            'helo_name': 'STARTTLS', 'content': {'subject': 'NEVER'}}
    assert canonical_option_case(args) == args
    assert canonical_option_case(None) is None


def test_every_choice_option_of_every_module_is_canonicalised():
    """The table in options.py against the modules' argspecs: a new choice option must be added there."""
    for module, spec in module_argspecs().items():
        for name, definition in spec.items():
            paths = [(name, definition)] + [('%s.%s' % (name, key), sub) for key, sub in (definition.get('options') or {}).items()]
            for path, entry in paths:
                if entry.get('choices'):
                    assert path in CHOICE_OPTIONS, '%s: %s has choices' % (module, path)
                    assert set(entry['choices']) == set(CHOICE_OPTIONS[path]), '%s: %s' % (module, path)


def test_connect_timeout_left_out_is_shortened_to_fit_the_deadline():
    assert validate_options(options(deadline=5))['connect_timeout'] == 5.0
    assert validate_options(options(deadline=0.5))['connect_timeout'] == 0.5
    assert validate_options(options())['connect_timeout'] == 10.0
    assert validate_options(options(deadline=30, connect_timeout=None))['connect_timeout'] == 10.0
    assert smtp_probe_argspec()['connect_timeout'].get('default') is None


def test_connect_timeout_set_longer_than_the_deadline_is_refused():
    error = refused(deadline=5, connect_timeout=10)
    assert error.option == 'deadline'
    assert '5.0 s' in str(error) and 'connect_timeout (10.0 s)' in str(error)
    assert validate_options(options(deadline=5, connect_timeout=5))['connect_timeout'] == 5.0


@pytest.mark.parametrize('host, bare, port', [
    ('127.0.0.1:2525', '127.0.0.1', '2525'),
    ('[::1]:25', '::1', '25'),
    ('[IPv6:2001:db8::1]:587', '2001:db8::1', '587'),
    ('mx.example.com:587', 'mx.example.com', '587'),
])
def test_a_port_in_host_points_at_the_port_option(host, bare, port):
    error = refused(host=host)
    assert error.option == 'host'
    assert 'host: %s and port: %s' % (bare, port) in str(error)


@pytest.mark.parametrize('host, expected', [
    ('::1', '::1'), ('[::1]', '::1'), ('[IPv6:2001:db8::1]', '2001:db8::1'), ('[192.0.2.1]', '192.0.2.1'),
    ('2001:db8::25', '2001:db8::25'), ('mx1.fabrikam.test.', 'mx1.fabrikam.test.'), ('localhost', 'localhost'),
])
def test_hosts_that_are_not_a_host_and_port(host, expected):
    assert validate_options(options(host=host))['host'] == expected


@pytest.mark.parametrize('host', ['mx1.fabrikam.test:smtp', '[::1', '[mx1.fabrikam.test]', 'mx1/fabrikam.test', 'mx1..fabrikam.test'])
def test_hosts_that_are_not_host_names(host):
    assert refused(host=host).option == 'host'


@pytest.fixture
def with_idna(monkeypatch):
    monkeypatch.setattr(validate, 'idna', idna)


@pytest.fixture
def no_idna_package(monkeypatch):
    monkeypatch.setattr(validate, 'idna', None)


@pytest.mark.parametrize('option, value, expected', [
    ('host', 'straße.de', 'xn--strae-oqa.de'),
    ('host', 'Bücher.Test', 'xn--bcher-kva.test'),
    ('server_name', 'mx.straße.de', 'mx.xn--strae-oqa.de'),
    ('helo_name', 'relay.straße.de', 'relay.xn--strae-oqa.de'),
    ('mail_from', 'chris@straße.de', 'chris@xn--strae-oqa.de'),
    ('mail_from', 'jürgen@bücher.test', 'jürgen@xn--bcher-kva.test'),
])
def test_non_ascii_domains_are_idna_2008(with_idna, option, value, expected):
    assert validate_options(options(**{option: value}))[option] == expected


def test_non_ascii_recipients_and_route_targets_are_idna_2008(with_idna):
    validated = validate_options(options(rcpt_to=['kate@straße.de', 'kåte@fabrikam.test']))
    assert validated['rcpt_to'] == ['kate@xn--strae-oqa.de', 'kåte@fabrikam.test']
    assert validated.for_target(host='mx.straße.de')['host'] == 'mx.xn--strae-oqa.de'
    assert check_mailbox('kate@例え.テスト', 'rcpt_to[0]') == 'kate@xn--r8jz45g.xn--zckzah'


@pytest.mark.parametrize('option, value', [
    ('host', '☃.test'), ('helo_name', 'bü_cher.test'), ('mail_from', 'chris@-straße.de'), ('rcpt_to', ['kate@straße..de']),
])
def test_invalid_internationalized_names_are_refused(with_idna, option, value):
    error = refused(**{option: value})
    assert error.option == (option if option != 'rcpt_to' else 'rcpt_to[0]')


@pytest.mark.parametrize('option, value, named', [
    ('host', 'straße.de', 'host'),
    ('helo_name', 'relay.straße.de', 'helo_name'),
    ('mail_from', 'chris@straße.de', 'mail_from'),
    ('rcpt_to', ['kate@fabrikam.test', 'kate@straße.de'], 'rcpt_to[1]'),
    ('server_name', 'mx.straße.de', 'server_name'),
])
def test_without_the_idna_package_a_non_ascii_domain_is_a_clear_error(no_idna_package, option, value, named):
    error = refused(**{option: value})
    assert error.option == named
    assert str(error).startswith(named + ': ') and 'idna' in str(error) and 'pip install idna' in str(error)


def test_without_the_idna_package_ascii_names_and_local_parts_still_work(no_idna_package):
    validated = validate_options(options(mail_from='jürgen@contoso.test', host='xn--strae-oqa.de'))
    assert (validated['mail_from'], validated['host']) == ('jürgen@contoso.test', 'xn--strae-oqa.de')


@pytest.mark.parametrize('helo_name, accepted', [
    ('[192.0.2.1]', True), ('[IPv6:2001:db8::1]', True), ('localhost', True), ('bogus', True),
    ('[bogus]', False), ('[192.0.2.1', False), ('[IPv6:192.0.2.1]', False), ('[ü]', False),
])
def test_helo_name_address_literals_are_checked_names_are_sent_as_written(helo_name, accepted):
    if accepted:
        assert validate_options(options(helo_name=helo_name))['helo_name'] == helo_name
    else:
        assert refused(helo_name=helo_name).option == 'helo_name'


def test_quit_after_mail_without_mail_from_is_refused():
    error = refused(quit_after='mail', mail_from=None)
    assert error.option == 'mail_from'
    assert validate_options(options(quit_after='ehlo', mail_from=None, rcpt_to=[]))['mail_from'] is None
    assert validate_options(options(quit_after='mail', rcpt_to=[]))['rcpt_to'] == []
    assert refused(quit_after='rcpt', rcpt_to=[]).option == 'rcpt_to'
