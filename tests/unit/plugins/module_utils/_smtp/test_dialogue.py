# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The dialogue over an in-memory transport: step order, pipelining attribution, flow rules."""

from __future__ import annotations

import pytest

from ansible_collections.mailops.mailflow.plugins.module_utils._diagnosis import errors
from ansible_collections.mailops.mailflow.plugins.module_utils._diagnosis.catalog import EXCHANGE_2525
from ansible_collections.mailops.mailflow.plugins.module_utils._smtp.dialogue import run_probe, xtext
from ansible_collections.mailops.mailflow.tests.unit.plugins.module_utils._smtp.fakesmtp import (
    FakeSocket, fake_transport, postfix_like)

BASE = {'host': 'mx1.fabrikam.test', 'helo_name': 'contoso.test', 'mail_from': 'chris@contoso.test',
        'rcpt_to': ['kate@fabrikam.test'], 'tls': 'none'}
NO_PIPELINING = (b'250-mx1.fabrikam.test', b'250-SIZE 10240000', b'250-ENHANCEDSTATUSCODES', b'250 DSN')


def probe(sock, **changes):
    options = dict(BASE)
    options.update(changes)
    opener, resolver = fake_transport(sock)
    return run_probe(options, opener=opener, resolver=resolver)


def names(result):
    return [step['name'] for step in result['steps']]


def codes(result):
    return [(step['name'], step['reply']['code'] if step['reply'] else step['error']) for step in result['steps']]


def test_default_dialogue_stops_after_rcpt_without_data():
    sock = FakeSocket(postfix_like())
    result = probe(sock)
    assert names(result) == ['connect', 'banner', 'ehlo', 'mail', 'rcpt', 'rset', 'quit']
    assert result['passed'] is True
    assert not any(b'DATA' in write for write in sock.writes)
    assert result['message_accepted'] is False and result['queued_as'] is None
    assert result['diagnosis']['status'] == 'ok'
    assert result['target'] == {'host': 'mx1.fabrikam.test', 'port': 25, 'address': '192.0.2.25', 'ip_version': 4,
                                'source_address': '192.0.2.1'}


def test_pipelined_group_is_one_write_and_replies_go_to_their_steps():
    sock = FakeSocket(postfix_like(users=('kate@fabrikam.test', 'lee@fabrikam.test')))
    result = probe(sock, rcpt_to=['kate@fabrikam.test', 'nobody@fabrikam.test', 'lee@fabrikam.test'])
    group = sock.writes[1]
    assert group == (b'MAIL FROM:<chris@contoso.test>\r\nRCPT TO:<kate@fabrikam.test>\r\nRCPT TO:<nobody@fabrikam.test>\r\n'
                     b'RCPT TO:<lee@fabrikam.test>\r\nRSET\r\nQUIT\r\n')
    assert codes(result)[3:] == [('mail', 250), ('rcpt', 250), ('rcpt', 550), ('rcpt', 250), ('rset', 250), ('quit', 221)]
    assert result['recipients']['nobody@fabrikam.test'] == {
        'accepted': False, 'code': 550, 'enhanced': '5.1.1',
        'text': '<nobody@fabrikam.test>: Recipient address rejected: User unknown in local recipient table'}
    assert result['recipients']['lee@fabrikam.test']['accepted'] is True
    assert result['passed'] is False
    assert result['diagnosis']['step'] == 'rcpt' and result['diagnosis']['code'] == 550
    assert result['diagnosis']['category'] == 'user_unknown'


def test_pipelined_replies_arriving_one_byte_at_a_time_are_still_attributed():
    sock = FakeSocket(postfix_like(), chunk=1)
    result = probe(sock, rcpt_to=['kate@fabrikam.test', 'nobody@fabrikam.test'], expect={'rcpt': ['2', '5.1.1']})
    assert codes(result)[3:6] == [('mail', 250), ('rcpt', 250), ('rcpt', 550)]
    assert result['passed'] is True


def test_lockstep_without_pipelining():
    sock = FakeSocket(postfix_like(ehlo=NO_PIPELINING))
    result = probe(sock, rcpt_to=['kate@fabrikam.test', 'nobody@fabrikam.test'])
    assert sock.writes[1:] == [b'MAIL FROM:<chris@contoso.test>\r\n', b'RCPT TO:<kate@fabrikam.test>\r\n',
                               b'RCPT TO:<nobody@fabrikam.test>\r\n', b'RSET\r\n', b'QUIT\r\n']
    assert codes(result)[3:] == [('mail', 250), ('rcpt', 250), ('rcpt', 550), ('rset', 250), ('quit', 221)]


def test_pipelining_never_forces_lockstep():
    sock = FakeSocket(postfix_like())
    probe(sock, pipelining='never')
    assert sock.writes[1] == b'MAIL FROM:<chris@contoso.test>\r\n'


def test_send_message_pipelines_data_then_message_and_quit():
    sock = FakeSocket(postfix_like())
    result = probe(sock, send_message=True, content={'subject': 'Test from Contoso', 'body': '.leading dot\nThis is a test message'})
    assert sock.writes[1].endswith(b'RCPT TO:<kate@fabrikam.test>\r\nDATA\r\n')
    assert sock.writes[1].startswith(b'MAIL FROM:<chris@contoso.test> SIZE=')
    assert sock.writes[2].endswith(b'\r\n..leading dot\r\nThis is a test message\r\n.\r\nQUIT\r\n')
    assert names(result)[-4:] == ['rcpt', 'data', 'message', 'quit']
    assert result['queued_as'] == 'D50CD160033'
    assert result['message_accepted'] is True and result['passed'] is True
    assert result['diagnosis']['category'] and result['diagnosis']['status'] == 'ok'
    assert '-> Subject: Test from Contoso' in result['transcript']
    assert result['steps'][-2]['command'].startswith('<message: ')


def test_no_message_when_every_recipient_is_rejected_pipelined():
    sock = FakeSocket(postfix_like())
    result = probe(sock, rcpt_to=['nobody@fabrikam.test'], send_message=True)
    assert codes(result)[3:] == [('mail', 250), ('rcpt', 550), ('data', 554), ('quit', 221)]
    assert not any(b'Subject:' in write for write in sock.writes)
    assert result['message_accepted'] is False


def test_rfc2920_lone_dot_when_data_is_accepted_without_recipients():
    sock = FakeSocket(postfix_like(overrides={b'DATA': b'354 go ahead\r\n'}))
    result = probe(sock, rcpt_to=['nobody@fabrikam.test'], send_message=True)
    assert sock.writes[2] == b'.\r\n'
    assert codes(result)[-3:] == [('data', 354), ('message', 250), ('quit', 221)]
    assert not any(b'Subject:' in write for write in sock.writes)
    assert any('without any accepted recipient' in warning for warning in result['warnings'])


def test_lockstep_send_skips_data_when_no_recipient_is_accepted():
    sock = FakeSocket(postfix_like(ehlo=NO_PIPELINING))
    result = probe(sock, rcpt_to=['nobody@fabrikam.test'], send_message=True)
    assert names(result)[3:] == ['mail', 'rcpt', 'rset', 'quit']


EXCHANGE_BANNER = b'220 EX1.contoso.test Microsoft ESMTP MAIL Service ready at Fri, 4 Dec 2026 17:00:00 +0000\r\n'


@pytest.mark.parametrize('banner, category', [
    (EXCHANGE_BANNER, 'internal_receive_connector'),   # the guide's port 2525 note, for Exchange only
    (b'220 mx1.fabrikam.test ESMTP Postfix\r\n', 'anonymous_submission_refused'),
])
def test_mail_from_rejected_ends_with_quit(banner, category):
    sock = FakeSocket(postfix_like(ehlo=NO_PIPELINING, overrides={b'MAIL': b'530 5.7.1 Client was not authenticated\r\n'}),
                      banner=banner)
    result = probe(sock, port=2525)
    assert codes(result)[3:] == [('mail', 530), ('quit', 221)]
    diagnosis = result['diagnosis']
    assert (diagnosis['step'], diagnosis['code'], diagnosis['enhanced']) == ('mail', 530, '5.7.1')
    assert diagnosis['status'] == 'auth'
    assert diagnosis['category'] == category


def test_negative_expectation_passes_and_is_explained():
    sock = FakeSocket(postfix_like())
    result = probe(sock, rcpt_to=['nobody@fabrikam.test'], expect={'rcpt': ['5.1.1']})
    assert result['passed'] is True
    diagnosis = result['diagnosis']
    assert diagnosis['status'] == 'ok' and diagnosis['reply_status'] == 'permanent'
    assert diagnosis['expected'] is True and diagnosis['category'] == 'user_unknown'


def test_negative_expectation_fails_when_the_user_exists():
    sock = FakeSocket(postfix_like())
    result = probe(sock, expect={'rcpt': [550]})
    assert result['passed'] is False
    assert result['diagnosis']['step'] == 'rcpt'


def test_helo_fallback_when_ehlo_is_rejected():
    sock = FakeSocket(postfix_like(overrides={b'EHLO': b'502 5.5.2 Error: command not recognized\r\n'}))
    result = probe(sock, dsn={'notify': ['success']})
    assert codes(result)[2:4] == [('ehlo', 502), ('helo', 250)]
    ehlo = result['steps'][2]
    assert ehlo['ok'] is True and ehlo['fallback'] == 'helo'
    assert result['capabilities']['esmtp'] is False
    assert result['passed'] is True
    # No PIPELINING and no DSN after HELO: lockstep, and NOTIFY dropped with a note.
    assert sock.writes[2] == b'MAIL FROM:<chris@contoso.test>\r\n'
    assert sock.writes[3] == b'RCPT TO:<kate@fabrikam.test>\r\n'
    assert errors.DSN_NOT_OFFERED in result['diagnosis']['conditions']
    assert any('DSN' in warning for warning in result['warnings'])


def test_ehlo_501_with_failed_helo_is_diagnosed_at_ehlo():
    sock = FakeSocket(postfix_like(overrides={b'EHLO': b'501 5.5.4 Invalid domain name\r\n',
                                              b'HELO': b'501 5.5.4 Invalid domain name\r\n'}))
    result = probe(sock)
    assert codes(result)[2:] == [('ehlo', 501), ('helo', 501), ('quit', 221)]
    assert result['diagnosis']['step'] == 'ehlo' and result['diagnosis']['enhanced'] == '5.5.4'


def test_explicit_ehlo_expectation_does_not_fall_back():
    sock = FakeSocket(postfix_like(overrides={b'EHLO': b'501 5.5.4 Invalid domain name\r\n'}))
    result = probe(sock, expect={'ehlo': ['5.5.4']})
    assert names(result) == ['connect', 'banner', 'ehlo', 'quit']
    assert result['passed'] is True


def test_421_at_banner_closes_without_quit():
    sock = FakeSocket(postfix_like(), banner=b'421 4.3.2 Service shutting down\r\n')
    result = probe(sock)
    assert names(result) == ['connect', 'banner']
    assert sock.writes == []
    assert result['diagnosis']['code'] == 421


def test_554_at_banner_quits_politely():
    sock = FakeSocket(postfix_like(), banner=b'554 5.7.1 Your address is blocked\r\n')
    result = probe(sock)
    assert names(result) == ['connect', 'banner', 'quit']
    assert result['passed'] is False and result['diagnosis']['step'] == 'banner'


def test_421_mid_pipelined_group_marks_the_rest_unanswered():
    sock = FakeSocket(postfix_like(overrides={b'RCPT': b'421 4.7.0 Too many errors\r\n<close>'}))
    sock.server = _closing(sock.server)
    result = probe(sock, rcpt_to=['kate@fabrikam.test', 'lee@fabrikam.test'])
    assert codes(result)[3:] == [('mail', 250), ('rcpt', 421), ('rcpt', errors.CONNECTION_CLOSED),
                                 ('rset', errors.CONNECTION_CLOSED), ('quit', errors.CONNECTION_CLOSED)]
    assert result['diagnosis']['code'] == 421
    assert result['recipients']['lee@fabrikam.test']['accepted'] is False


def _closing(answer):
    state = {'closed': False}

    def server(line):
        if state['closed']:
            return None
        reply = answer(line)
        if reply and reply.endswith(b'<close>'):
            state['closed'] = True
            return reply[:-len(b'<close>')]
        return reply
    return server


def test_silence_is_a_command_timeout_on_the_right_step():
    sock = FakeSocket(postfix_like(overrides={b'MAIL': None}), banner=b'220 hi\r\n')
    sock.server = _silent_after(sock.server, b'MAIL')
    result = probe(sock, pipelining='never')
    assert codes(result)[-1] == ('mail', errors.COMMAND_TIMEOUT)
    assert result['diagnosis']['status'] == 'timeout'


def _silent_after(answer, verb):
    def server(line):
        if line.upper().startswith(verb):
            return None
        return answer(line)
    return server


def test_banner_never_sent():
    sock = FakeSocket(postfix_like(), banner=b'')
    result = probe(sock)
    assert codes(result) == [('connect', None), ('banner', errors.COMMAND_TIMEOUT)]
    assert result['diagnosis']['step'] == 'banner'


def test_server_closes_before_quit_reply_is_fine():
    sock = FakeSocket(postfix_like(overrides={b'QUIT': b'<close>'}, ehlo=NO_PIPELINING))
    result = probe(sock)
    assert result['steps'][-1]['name'] == 'quit' and result['steps'][-1]['ok'] is True
    assert result['passed'] is True


def test_unrequested_data_is_noted_and_dropped():
    sock = FakeSocket(postfix_like(ehlo=NO_PIPELINING, overrides={b'RSET': b'250 2.0.0 Ok\r\n250 surprise\r\n'}))
    result = probe(sock)
    assert errors.UNEXPECTED_REPLY in result['diagnosis']['conditions']
    assert codes(result)[-1] == ('quit', 221)


def test_bare_lf_is_noted():
    sock = FakeSocket(postfix_like(), banner=b'220 mx1 ESMTP\n')
    result = probe(sock)
    assert result['passed'] is True
    assert errors.REPLY_BARE_LF in result['diagnosis']['conditions']


@pytest.mark.parametrize('quit_after, expected', [
    ('connect', ['connect']),
    ('banner', ['connect', 'banner', 'quit']),
    ('ehlo', ['connect', 'banner', 'ehlo', 'quit']),
    ('starttls', ['connect', 'banner', 'ehlo', 'quit']),
    ('auth', ['connect', 'banner', 'ehlo', 'quit']),
    ('mail', ['connect', 'banner', 'ehlo', 'mail', 'rset', 'quit']),
    ('rcpt', ['connect', 'banner', 'ehlo', 'mail', 'rcpt', 'rset', 'quit']),
])
def test_quit_after(quit_after, expected):
    sock = FakeSocket(postfix_like())
    result = probe(sock, quit_after=quit_after, send_message=True)
    assert names(result) == expected
    assert result['passed'] is True
    assert not any(b'DATA' in write for write in sock.writes)


def test_quit_after_data_never_sends_the_message():
    sock = FakeSocket(postfix_like())
    result = probe(sock, quit_after='data', send_message=True)
    assert names(result)[-2:] == ['rcpt', 'data']
    assert sock.closed
    assert not any(b'Subject:' in write for write in sock.writes)
    assert result['message_accepted'] is False


def test_dsn_parameters_and_xtext():
    sock = FakeSocket(postfix_like())
    probe(sock, send_message=True, dsn={'notify': ['success', 'failure'], 'ret': 'hdrs', 'envid': 'run+7=x', 'orcpt': True})
    group = sock.writes[1]
    assert b' RET=HDRS ENVID=run+2B7+3Dx\r\n' in group
    assert b'RCPT TO:<kate@fabrikam.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;kate@fabrikam.test\r\n' in group
    assert xtext('kåte') == 'k+C3+A5te'


def test_smtputf8_and_8bitmime_parameters():
    sock = FakeSocket(postfix_like(users=('kåte@fabrikam.test',)))
    result = probe(sock, rcpt_to=['kåte@fabrikam.test'], send_message=True, content={'body': 'Grüße'})
    mail = sock.writes[1].split(b'\r\n')[0]
    assert b' BODY=8BITMIME' in mail and mail.endswith(b' SMTPUTF8')
    assert result['queued_as'] == 'D50CD160033'


def test_size_is_announced_and_an_oversized_message_noted():
    sock = FakeSocket(postfix_like(ehlo=(b'250-mx1', b'250-PIPELINING', b'250 SIZE 100')))
    result = probe(sock, send_message=True)
    assert b' SIZE=' in sock.writes[1]
    assert errors.SIZE_EXCEEDED in result['diagnosis']['conditions']


def test_port_2525_note_only_for_exchange_and_once():
    # Issue 13 item 9: a server that is plainly not Exchange gets no Exchange note on 2525.
    postfix = probe(FakeSocket(postfix_like()), port=2525)
    assert postfix['server'] == {'software': 'postfix'}
    assert errors.PORT_2525_NOTE not in postfix['diagnosis']['conditions']
    assert not any('2525' in note for note in postfix['diagnosis']['notes'])
    exchange = probe(FakeSocket(postfix_like(), banner=EXCHANGE_BANNER), port=2525)
    assert exchange['server'] == {'software': 'exchange'} and exchange['passed'] is True
    assert [note for note in exchange['diagnosis']['notes'] if '2525' in note] == [EXCHANGE_2525]


def test_required_tls_not_offered():
    sock = FakeSocket(postfix_like())
    result = probe(sock, tls='required')
    assert codes(result)[3:] == [('starttls', errors.STARTTLS_NOT_OFFERED), ('quit', 221)]
    assert result['diagnosis']['status'] == 'tls'


def test_opportunistic_tls_not_offered_goes_on_with_a_warning():
    result = probe(FakeSocket(postfix_like()), tls='starttls')
    assert result['passed'] is True and result['tls']['offered'] is False and result['tls']['used'] is False
    assert any('STARTTLS' in warning for warning in result['warnings'])


def test_credentials_are_not_sent_without_tls_unless_tls_none():
    ehlo = (b'250-mx1', b'250 AUTH PLAIN LOGIN')
    sock = FakeSocket(postfix_like(ehlo=ehlo))
    result = probe(sock, tls='starttls', auth={'username': 'chris', 'password': 'Secret-1'})
    assert codes(result)[3:] == [('starttls', errors.STARTTLS_NOT_OFFERED), ('quit', 221)]
    assert 'unencrypted' in result['steps'][3]['error_message']
    assert not any(write.startswith(b'AUTH') for write in sock.writes)


def test_auth_not_offered():
    sock = FakeSocket(postfix_like())
    result = probe(sock, auth={'username': 'chris', 'password': 'Secret-1'})
    assert codes(result)[3:] == [('auth', errors.AUTH_NOT_OFFERED), ('quit', 221)]


def test_auth_plain_and_login_are_redacted():
    for mechanism in ('plain', 'login'):
        ehlo = (b'250-mx1', b'250-AUTH LOGIN PLAIN', b'250 PIPELINING')
        sock = FakeSocket(postfix_like(ehlo=ehlo, overrides={
            b'AUTH': b'334 VXNlcm5hbWU6\r\n' if mechanism == 'login' else b'535 5.7.8 bad credentials Q2hyaXM=\r\n'}))
        if mechanism == 'login':
            sock.server = _login_server(sock.server)
        result = probe(sock, auth={'username': 'chris', 'password': 'Pa55-Unique-9', 'mechanism': mechanism})
        text = repr(result)
        assert 'Pa55-Unique-9' not in text
        assert 'UGE1NS1VbmlxdWUtOQ==' not in text   # base64 of the password
        assert 'AGNocmlzAFBhNTUtVW5pcXVlLTk=' not in text   # the PLAIN blob
        assert 'Y2hyaXM=' not in repr(result['transcript'])  # LOGIN user name line
        auth_steps = [step for step in result['steps'] if step['name'] == 'auth']
        if mechanism == 'plain':
            assert auth_steps[0]['command'] == 'AUTH PLAIN ********'
            assert result['diagnosis']['status'] == 'auth'
        else:
            assert [step['command'] for step in auth_steps] == ['AUTH LOGIN', '********', '********']
            assert result['passed'] is True


def _login_server(answer):
    state = {'stage': 0}

    def server(line):
        if line.startswith(b'AUTH LOGIN'):
            state['stage'] = 1
            return b'334 VXNlcm5hbWU6\r\n'
        if state['stage'] == 1:
            state['stage'] = 2
            return b'334 UGFzc3dvcmQ6\r\n'
        if state['stage'] == 2:
            state['stage'] = 0
            return b'235 2.7.0 Authentication successful\r\n'
        return answer(line)
    return server


def test_an_echoed_password_is_masked_everywhere():
    ehlo = (b'250-mx1', b'250 AUTH PLAIN')
    sock = FakeSocket(postfix_like(ehlo=ehlo, overrides={b'AUTH': b'535 5.7.8 no user chris with password Pa55-Unique-9\r\n'}))
    result = probe(sock, auth={'username': 'chris', 'password': 'Pa55-Unique-9'})
    assert 'Pa55-Unique-9' not in repr(result)
    assert '********' in result['steps'][3]['reply']['text']


def test_slow_reply_is_a_tarpit_note_not_a_failure(monkeypatch):
    import time as real_time
    from ansible_collections.mailops.mailflow.plugins.module_utils._smtp import dialogue
    clock = {'now': 1000.0}

    def fake_monotonic():
        clock['now'] += 0.4
        return clock['now']

    monkeypatch.setattr(dialogue.time, 'monotonic', fake_monotonic)
    result = probe(FakeSocket(postfix_like()), slow_threshold=0.5, deadline=1000)
    monkeypatch.setattr(dialogue.time, 'monotonic', real_time.monotonic)
    assert result['passed'] is True
    assert any(step.get('slow') for step in result['steps'])
    assert errors.TARPIT in result['diagnosis']['conditions']


def test_connect_failure_lists_every_attempt():
    from ansible_collections.mailops.mailflow.plugins.module_utils._smtp.connection import TransportError
    tried = []

    def opener(family, sockaddr, source_address, timeout):
        tried.append(sockaddr[0])
        if sockaddr[0] == '192.0.2.1':
            raise TransportError(errors.CONNECT_TIMEOUT, 'no answer')
        raise TransportError(errors.CONNECTION_REFUSED, 'refused')

    def resolver(host, port, ip_version='auto', addresses=None, source_address=None):
        import socket
        return [(socket.AF_INET, ('192.0.2.1', port)), (socket.AF_INET, ('192.0.2.2', port))]

    result = run_probe(dict(BASE), opener=opener, resolver=resolver)
    connect = result['steps'][0]
    assert tried == ['192.0.2.1', '192.0.2.2']
    assert [attempt['error'] for attempt in connect['attempts']] == [errors.CONNECT_TIMEOUT, errors.CONNECTION_REFUSED]
    assert connect['error'] == errors.CONNECTION_REFUSED
    assert result['diagnosis']['status'] == 'connection'
    assert result['target']['address'] is None


def test_expected_connect_failure_passes():
    from ansible_collections.mailops.mailflow.plugins.module_utils._smtp.connection import TransportError

    def opener(family, sockaddr, source_address, timeout):
        raise TransportError(errors.CONNECTION_REFUSED, 'refused')

    _unused, resolver = fake_transport(None)
    result = run_probe(dict(BASE, quit_after='connect', expect={'connect': ['connection_refused']}), opener=opener, resolver=resolver)
    assert result['passed'] is True and result['diagnosis']['expected'] is True


# --- wire order and the end of the session ---------------------------------------------------------------------------

def test_lockstep_transcript_and_steps_keep_the_wire_order():
    sock = FakeSocket(postfix_like(ehlo=NO_PIPELINING))
    result = probe(sock)
    assert names(result) == ['connect', 'banner', 'ehlo', 'mail', 'rcpt', 'rset', 'quit']
    assert result['transcript'] == [
        '-- connected to 192.0.2.25 port 25 from 192.0.2.1', '<- 220 mx1.fabrikam.test ESMTP Postfix',
        '-> EHLO contoso.test', '<- 250-mx1.fabrikam.test', '<- 250-SIZE 10240000', '<- 250-ENHANCEDSTATUSCODES', '<- 250 DSN',
        '-> MAIL FROM:<chris@contoso.test>', '<- 250 2.1.0 Ok', '-> RCPT TO:<kate@fabrikam.test>', '<- 250 2.1.5 Ok',
        '-> RSET', '<- 250 2.0.0 Ok', '-> QUIT', '<- 221 2.0.0 Bye']
    assert result['recipients'] == {'kate@fabrikam.test': {'accepted': True, 'code': 250, 'enhanced': '2.1.5', 'text': 'Ok'}}
    assert result['diagnosis']['step'] == 'rcpt' and result['passed'] is True


def test_a_rejected_quit_fails_the_dialogue():
    sock = FakeSocket(postfix_like(ehlo=NO_PIPELINING, overrides={b'QUIT': b'500 5.5.2 Error: no thanks\r\n'}))
    result = probe(sock, port=2525)
    assert codes(result)[-1] == ('quit', 500)
    assert result['passed'] is False
    assert result['diagnosis']['step'] == 'quit' and result['diagnosis']['code'] == 500


def test_data_after_the_quit_reply_is_noted_although_the_result_was_built_before():
    sock = FakeSocket(postfix_like(ehlo=NO_PIPELINING, overrides={b'QUIT': b'221 2.0.0 Bye\r\n250 surprise\r\n'}))
    result = probe(sock)
    assert result['passed'] is True
    assert errors.UNEXPECTED_REPLY in result['diagnosis']['conditions']
    assert result['transcript'][-1] == '<- 250 surprise'


# --- issue 13 ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('quit_after', ['ehlo', 'starttls', 'auth'])
@pytest.mark.parametrize('send_message', [False, True])
def test_quit_after_before_mail_needs_no_envelope(quit_after, send_message):
    # Item 1: these crashed with 'NoneType' object has no attribute 'isascii' while EHLO was answered.
    sock = FakeSocket(postfix_like())
    result = probe(sock, quit_after=quit_after, mail_from=None, rcpt_to=[], send_message=send_message)
    assert names(result) == ['connect', 'banner', 'ehlo', 'quit']
    assert result['passed'] is True and result['recipients'] == {}


def test_ehlo_never_says_localhost_without_helo_name(monkeypatch):
    # Item 4: no FQDN on the host: an address literal of the local socket address (RFC 5321 4.1.3).
    from ansible_collections.mailops.mailflow.plugins.module_utils._smtp import options as options_module
    monkeypatch.setattr(options_module, 'local_fqdn', lambda: None)
    sock = FakeSocket(postfix_like())
    result = probe(sock, helo_name=None, send_message=True)
    assert sock.writes[0] == b'EHLO [192.0.2.1]\r\n'
    assert result['steps'][2]['command'] == 'EHLO [192.0.2.1]'
    assert b'@[192.0.2.1]>' in sock.writes[2] or b'@192.0.2.1' not in sock.writes[2]


AUTH_EHLO = (b'250-mx1.fabrikam.test', b'250-PIPELINING', b'250-ENHANCEDSTATUSCODES', b'250 AUTH PLAIN LOGIN')
RELAY_5754 = b'550 5.7.54 SMTP; Unable to relay recipient in non-accepted domain\r\n'


def test_relay_refusal_after_auth_is_not_explained_as_anonymous():
    # Item 8: after 235, the anonymous-client causes do not apply.
    overrides = {b'AUTH': b'235 2.7.0 Authentication successful\r\n', b'RCPT': RELAY_5754}
    sock = FakeSocket(postfix_like(ehlo=AUTH_EHLO, overrides=overrides), banner=EXCHANGE_BANNER)
    result = probe(sock, tls='none', auth={'username': 'chris', 'password': 'Secret-1'}, port=587)
    diagnosis = result['diagnosis']
    assert (diagnosis['step'], diagnosis['enhanced']) == ('rcpt', '5.7.54')
    assert not any('anonymous' in cause.lower() for cause in diagnosis['causes'])
    anonymous = probe(FakeSocket(postfix_like(ehlo=AUTH_EHLO, overrides={b'RCPT': RELAY_5754}), banner=EXCHANGE_BANNER))
    assert any('anonymous' in cause.lower() for cause in anonymous['diagnosis']['causes'])


def test_251_will_forward_counts_as_accepted_and_data_follows():
    # Item 17: 251 (user not local; will forward) is an accepted recipient.
    sock = FakeSocket(postfix_like(ehlo=NO_PIPELINING, overrides={b'RCPT': b'251 2.1.5 User not local; will forward\r\n',
                                                                  b'DATA': b'354 End data with <CR><LF>.<CR><LF>\r\n'}))
    result = probe(sock, send_message=True)
    assert result['recipients']['kate@fabrikam.test']['accepted'] is True
    assert names(result)[3:] == ['mail', 'rcpt', 'data', 'message', 'quit']
    assert result['message_accepted'] is True


def test_lockstep_refused_recipient_does_not_stop_data_for_the_accepted_one():
    # Item 17: the same as the pipelined path.
    sock = FakeSocket(postfix_like(ehlo=NO_PIPELINING))
    result = probe(sock, rcpt_to=['nobody@fabrikam.test', 'kate@fabrikam.test'], send_message=True)
    assert codes(result)[3:] == [('mail', 250), ('rcpt', 550), ('rcpt', 250), ('data', 354), ('message', 250), ('quit', 221)]
    assert result['message_accepted'] is True and result['queued_as'] == 'D50CD160033'
    assert result['recipients']['nobody@fabrikam.test'] == {
        'accepted': False, 'code': 550, 'enhanced': '5.1.1',
        'text': '<nobody@fabrikam.test>: Recipient address rejected: User unknown in local recipient table'}
    assert result['recipients']['kate@fabrikam.test']['accepted'] is True


@pytest.mark.parametrize('pipelining', [b'250-PIPELINING', b'250-X-NOTHING'])
def test_size_parameter_only_when_the_server_announced_size(pipelining):
    # Item 17, RFC 1870: no SIZE= to a server that did not announce SIZE.
    sock = FakeSocket(postfix_like(ehlo=(b'250-mx1', pipelining, b'250 8BITMIME')))
    result = probe(sock, send_message=True)
    mail = [write for write in sock.writes if write.startswith(b'MAIL FROM:')][0].split(b'\r\n')[0]
    assert mail == b'MAIL FROM:<chris@contoso.test>'
    assert result['message_accepted'] is True


def test_no_dsn_parameter_on_mail_or_rcpt_when_dsn_is_not_offered():
    sock = FakeSocket(postfix_like(ehlo=(b'250-mx1', b'250-PIPELINING', b'250 SIZE 10240000')))
    result = probe(sock, dsn={'notify': ['success'], 'ret': 'hdrs', 'envid': 'run-7', 'orcpt': True})
    assert sock.writes[1].split(b'\r\n')[:2] == [b'MAIL FROM:<chris@contoso.test>', b'RCPT TO:<kate@fabrikam.test>']
    assert errors.DSN_NOT_OFFERED in result['diagnosis']['conditions']


def test_a_refused_message_is_not_accepted_and_has_no_queue_id():
    sock = FakeSocket(postfix_like(overrides={b'<end of data>': b'554 5.7.1 Message rejected as spam: queued as nothing\r\n'}))
    result = probe(sock, send_message=True)
    assert codes(result)[-2:] == [('message', 554), ('quit', 221)]
    assert result['message_accepted'] is False and result['queued_as'] is None
    assert result['passed'] is False and result['diagnosis']['step'] == 'message'
