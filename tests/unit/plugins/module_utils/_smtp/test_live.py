# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The engine over real sockets against scripted servers on 127.0.0.1: TLS, AUTH, hostile servers, timing."""

from __future__ import annotations

import socket
import ssl
import struct
import subprocess
import time
import tracemalloc

import pytest

from ansible_collections.mailops.mailflow.plugins.module_utils._diagnosis import errors
from ansible_collections.mailops.mailflow.plugins.module_utils._smtp.dialogue import run_probe
from ansible_collections.mailops.mailflow.tests.unit.plugins.module_utils._smtp.certs import have_openssl, make_pki, server_context
from ansible_collections.mailops.mailflow.tests.unit.plugins.module_utils._smtp.smtp_server import Mta, ScriptedServer

BASE = {'host': '127.0.0.1', 'helo_name': 'contoso.test', 'mail_from': 'chris@contoso.test', 'rcpt_to': ['kate@fabrikam.test']}
needs_openssl = pytest.mark.skipif(not have_openssl(), reason='needs the openssl command')


@pytest.fixture(scope='module')
def pki(tmp_path_factory):
    if not have_openssl():
        pytest.skip('needs the openssl command')
    return make_pki(tmp_path_factory.mktemp('pki'))


def probe(server, **changes):
    options = dict(BASE, port=server.port)
    options.update(changes)
    return run_probe(options)


def steps(result):
    return [(step['name'], step['error'] or (step['reply'] and step['reply']['code'])) for step in result['steps']]


def test_full_dialogue_over_a_socket():
    mta = Mta(tls=False)
    with ScriptedServer(mta) as server:
        result = probe(server, send_message=True, content={'subject': 'Test from Contoso', 'body': 'This is a test message'})
    assert result['passed'] is True
    assert result['queued_as'] == 'D50CD160033'
    assert b'Subject: Test from Contoso' in mta.messages[0]
    assert result['target']['address'] == '127.0.0.1' and result['target']['source_address'] == '127.0.0.1'


def test_every_resolved_address_is_tried_in_order():
    with ScriptedServer(Mta(tls=False)) as server:
        closed = socket.socket()
        closed.bind(('127.0.0.1', 0))
        refused_address = '127.0.0.1'
        closed_port = closed.getsockname()[1]
        closed.close()
        result = probe(server, addresses=['::1', '127.0.0.1'], ip_version='4')
        assert result['steps'][0]['attempts'][0]['address'] == '127.0.0.1'
        # Nothing listens on the closed port: refused fast, then diagnosed as such.
        refused = run_probe(dict(BASE, host=refused_address, port=closed_port))
    assert result['passed'] is True
    assert refused['steps'][0]['error'] == errors.CONNECTION_REFUSED
    assert refused['diagnosis']['status'] == 'connection'


def test_source_address_that_is_not_local():
    result = run_probe(dict(BASE, port=9, source_address='192.0.2.77'))
    assert result['steps'][0]['error'] == errors.ADDRESS_UNAVAILABLE


def test_unresolvable_host():
    result = run_probe(dict(BASE, host='no-such-host.invalid'))
    assert result['steps'][0]['error'] == errors.HOST_UNRESOLVED
    assert result['diagnosis']['status'] in ('dns', 'connection')


@needs_openssl
@pytest.mark.parametrize('leaf, condition', [
    ('good', None), ('expired', errors.TLS_CERT_EXPIRED), ('future', errors.TLS_CERT_NOT_YET_VALID),
    ('other_name', errors.TLS_CERT_NAME_MISMATCH), ('self_signed', errors.TLS_CERT_SELF_SIGNED),
])
@pytest.mark.parametrize('enforce', [True, False])
def test_starttls_certificate_outcomes(pki, leaf, condition, enforce):
    with ScriptedServer(Mta(), tls_context=server_context(pki[leaf])) as server:
        result = probe(server, server_name='mx1.fabrikam.test', ca_path=pki['ca'], tls_verify=enforce)
    tls = result['tls']
    assert tls['verify_error'] == condition
    assert tls['verified'] is (condition is None)
    assert tls['certificate']['sha256'] and tls['certificate']['subject']
    assert tls['version'].startswith('TLS')
    if condition is None:
        assert len(server.sessions) == 1 and result['passed'] is True
        assert [name for name, _code in steps(result)][3:5] == ['starttls', 'ehlo_tls']
    elif enforce:
        assert result['passed'] is False
        assert result['diagnosis']['step'] == 'starttls' and result['diagnosis']['status'] == 'tls'
        assert 'mail' not in [name for name, _code in steps(result)]
    else:
        # Opportunistic: read the certificate, then carry on over an unverified second session.
        assert result['passed'] is True and len(server.sessions) == 2
        assert any(condition in warning for warning in result['warnings'])


@needs_openssl
@pytest.mark.parametrize('min_days, passed', [(None, True), (0, True), (10, True), (30, False)])
def test_tls_min_days_fails_starttls_but_the_session_goes_on(pki, min_days, passed):
    # The good leaf is valid for 20 days.
    with ScriptedServer(Mta(), tls_context=server_context(pki['good'])) as server:
        result = probe(server, server_name='mx1.fabrikam.test', ca_path=pki['ca'], tls_verify=True, tls_min_days=min_days)
    assert result['passed'] is passed
    assert result['tls']['certificate']['days_left'] in (19, 20)
    starttls = [step for step in result['steps'] if step['name'] == 'starttls']
    assert len(starttls) == 1 and starttls[0]['reply']['code'] == 220
    assert [name for name, _code in steps(result)][3:7] == ['starttls', 'ehlo_tls', 'mail', 'rcpt']
    assert result['recipients']['kate@fabrikam.test']['accepted'] is True
    if passed:
        assert starttls[0]['ok'] is True and starttls[0]['error'] is None
    else:
        assert starttls[0]['ok'] is False and starttls[0]['error'] == errors.TLS_CERT_EXPIRES_SOON
        assert 'fewer than tls_min_days (30)' in starttls[0]['error_message']
        assert result['diagnosis']['step'] == 'starttls'
        assert result['diagnosis']['category'] == 'tls_cert_expires_soon' and result['diagnosis']['status'] == 'tls'
        assert any('tls_min_days' in line for line in result['transcript'])


@needs_openssl
def test_tls_min_days_can_be_the_expected_outcome(pki):
    with ScriptedServer(Mta(), tls_context=server_context(pki['good'])) as server:
        result = probe(server, server_name='mx1.fabrikam.test', ca_path=pki['ca'], tls_min_days=365,
                       expect={'starttls': ['tls_cert_expires_soon']}, quit_after='starttls')
    assert result['passed'] is True and result['diagnosis']['expected'] is True


@needs_openssl
def test_tls_min_days_applies_to_the_unverified_second_session(pki):
    # Opportunistic TLS with an expired certificate: carries on unverified, and the days check still fails it.
    with ScriptedServer(Mta(), tls_context=server_context(pki['expired'])) as server:
        result = probe(server, server_name='mx1.fabrikam.test', ca_path=pki['ca'], tls_min_days=1)
    assert result['passed'] is False
    failed = [step for step in result['steps'] if not step['ok']]
    assert [(step['name'], step['error']) for step in failed] == [('starttls', errors.TLS_CERT_EXPIRES_SOON)]
    assert len(server.sessions) == 2


@needs_openssl
def test_tls_min_days_with_implicit_tls_fails_the_connect_step(pki):
    with ScriptedServer(Mta(tls=False), tls_context=server_context(pki['good']), implicit_tls=True) as server:
        result = probe(server, tls='implicit', server_name='mx1.fabrikam.test', ca_path=pki['ca'], tls_min_days=60)
    assert result['passed'] is False
    assert result['steps'][0]['name'] == 'connect' and result['steps'][0]['error'] == errors.TLS_CERT_EXPIRES_SOON
    assert result['recipients']['kate@fabrikam.test']['accepted'] is True


@needs_openssl
def test_unknown_ca_without_the_lab_ca(pki):
    with ScriptedServer(Mta(), tls_context=server_context(pki['good'])) as server:
        result = probe(server, server_name='mx1.fabrikam.test', tls_verify=True, quit_after='starttls')
    assert result['tls']['verify_error'] == errors.TLS_CERT_UNKNOWN_CA
    assert result['tls']['certificate']['issuer'] == 'CN=Mailflow Lab CA, O=Mailflow Lab'


@needs_openssl
def test_certificate_checked_against_an_ip_host(pki):
    with ScriptedServer(Mta(), tls_context=server_context(pki['good'])) as server:
        result = probe(server, ca_path=pki['ca'], tls_verify=True, quit_after='starttls')
    assert result['tls']['verified'] is True and result['tls']['server_name'] == '127.0.0.1'


@needs_openssl
def test_implicit_tls(pki):
    with ScriptedServer(Mta(tls=False), tls_context=server_context(pki['good']), implicit_tls=True) as server:
        result = probe(server, tls='implicit', server_name='mx1.fabrikam.test', ca_path=pki['ca'], tls_verify=True)
    assert result['passed'] is True
    assert result['steps'][0]['command'].endswith('(implicit TLS)')
    assert result['tls']['used'] is True and result['tls']['verified'] is True


@needs_openssl
def test_implicit_tls_with_a_bad_certificate_reads_it_on_a_second_connection(pki):
    with ScriptedServer(Mta(tls=False), tls_context=server_context(pki['expired']), implicit_tls=True) as server:
        result = probe(server, tls='implicit', server_name='mx1.fabrikam.test', ca_path=pki['ca'], tls_verify=True)
    assert result['passed'] is False
    assert result['diagnosis']['step'] == 'connect' and result['tls']['verify_error'] == errors.TLS_CERT_EXPIRED
    assert result['tls']['certificate']['not_after'] == '2021-01-01T00:00:00Z'


@needs_openssl
def test_required_tls_then_auth(pki):
    mta = Mta(auth=('chris@contoso.test', 'Unique-Pa55-42'))
    with ScriptedServer(mta, tls_context=server_context(pki['good'])) as server:
        good = probe(server, tls='required', ca_path=pki['ca'], server_name='mx1.fabrikam.test',
                     auth={'username': 'chris@contoso.test', 'password': 'Unique-Pa55-42'})
        bad = probe(server, tls='required', ca_path=pki['ca'], server_name='mx1.fabrikam.test',
                    auth={'username': 'chris@contoso.test', 'password': 'Wrong-Pa55-42', 'mechanism': 'login'})
    assert good['passed'] is True
    assert ('auth', 235) in steps(good)
    assert bad['passed'] is False and bad['diagnosis']['status'] == 'auth' and bad['diagnosis']['code'] == 535
    assert 'Unique-Pa55-42' not in repr(good) and 'Wrong-Pa55-42' not in repr(bad)


@needs_openssl
def test_garbage_after_starttls(pki):
    def handler(session):
        session.reply('220 mx1 ESMTP')
        session.readline()
        session.reply('250-mx1', '250 STARTTLS')
        session.readline()
        session.reply('220 go ahead')
        session.send(b'this is not a TLS record\r\n' * 20)
        session.readline()

    with ScriptedServer(handler) as server:
        started = time.monotonic()
        result = probe(server, command_timeout=3)
    assert time.monotonic() - started < 3
    assert steps(result)[-1] == ('starttls', errors.TLS_HANDSHAKE_FAILED)
    assert result['diagnosis']['status'] == 'tls'


def slow_banner(delay):
    def handler(session):
        time.sleep(delay)
        Mta(tls=False)(session)
    return handler


@pytest.mark.parametrize('delay, changes, slow', [
    (0.4, {}, True),                         # automatic threshold: 0.25 s plus 4 loopback round trips
    (0.05, {}, False),
    (0.4, {'slow_threshold': 0.5}, False),
    (0.2, {'slow_threshold': 0.1}, True),
])
def test_tarpit_banner_passes_with_a_note(delay, changes, slow):
    with ScriptedServer(slow_banner(delay)) as server:
        result = probe(server, **changes)
    assert result['passed'] is True
    assert result['steps'][1].get('slow', False) is slow
    assert (errors.TARPIT in result['diagnosis']['conditions']) is slow


def drip(session):
    try:
        for byte in b'220 mx1.fabrikam.test ESMTP slow\r\n':
            session.send(bytes([byte]))
            time.sleep(0.1)
    except OSError:
        return


def never_ending_line(session):
    try:
        session.send(b'220 ')
        for _index in range(400):
            session.send(b'A' * 65536)
    except OSError:
        return


def huge_reply(session):
    session.reply('220 mx1 ESMTP')
    session.readline()
    chunk = (b'250-' + b'x' * 1020 + b'\r\n') * 64
    try:
        for _index in range(160):   # 10 MiB, without holding it in this (the test's) process
            session.send(chunk)
    except OSError:
        return


def many_lines(session):
    session.reply('220 mx1 ESMTP')
    session.readline()
    session.send(b''.join(b'250-line %d\r\n' % index for index in range(2000)) + b'250 end\r\n')


def bad_code(code):
    def handler(session):
        session.send(code + b'\r\n')
        session.readline()
    return handler


def code_change(session):
    session.reply('220 mx1 ESMTP')
    session.readline()
    session.reply('250-mx1', '550-oops', '250 SIZE 1')
    session.readline()


def reset_mid_reply(session):
    session.reply('220 mx1 ESMTP')
    session.readline()
    session.send(b'250-mx1\r\n250-PIPE')
    time.sleep(0.05)
    session.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    session.sock.close()


def silent(session):
    session.readline()


def never_ends_data(session):
    session.reply('220 mx1 ESMTP')
    for answer in (('250-mx1', '250 SIZE 1000000'), ('250 2.1.0 Ok',), ('250 2.1.5 Ok',), ('354 go ahead',)):
        session.readline()
        session.reply(*answer)
    session.read_data()
    while session.readline() is not None:
        continue


@pytest.mark.parametrize('handler, changes, step, condition', [
    (silent, {'command_timeout': 0.5}, 'banner', errors.COMMAND_TIMEOUT),
    (drip, {'command_timeout': 0.6}, 'banner', errors.COMMAND_TIMEOUT),
    (drip, {'command_timeout': 5, 'deadline': 0.7, 'connect_timeout': 0.5}, 'banner', errors.DEADLINE_EXCEEDED),
    (never_ending_line, {}, 'banner', errors.REPLY_LINE_TOO_LONG),
    (huge_reply, {}, 'ehlo', errors.REPLY_TOO_LARGE),
    (many_lines, {}, 'ehlo', errors.REPLY_TOO_MANY_LINES),
    (bad_code(b'2x0 hello'), {}, 'banner', errors.REPLY_MALFORMED),
    (bad_code(b'99 hello'), {}, 'banner', errors.REPLY_MALFORMED),
    (bad_code(b''), {}, 'banner', errors.REPLY_MALFORMED),
    (code_change, {}, 'ehlo', errors.REPLY_MALFORMED),
    (reset_mid_reply, {}, 'ehlo', errors.CONNECTION_RESET),
    (never_ends_data, {'send_message': True, 'command_timeout': 0.5, 'tls': 'none'}, 'message', errors.COMMAND_TIMEOUT),
])
def test_hostile_servers_get_a_named_diagnosis_within_the_deadline(handler, changes, step, condition):
    options = {'deadline': 5, 'command_timeout': 2, 'connect_timeout': 1}
    options.update(changes)
    tracemalloc.start()
    with ScriptedServer(handler) as server:
        started = time.monotonic()
        result = probe(server, **options)
        elapsed = time.monotonic() - started
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    failed = [item for item in result['steps'] if not item['ok']][0]
    assert (failed['name'], failed['error']) == (step, condition)
    assert result['passed'] is False
    assert result['diagnosis']['error'] == condition
    assert elapsed <= options['deadline'] + 0.5
    assert elapsed <= options['command_timeout'] + 1.5
    assert peak < 4 * 1024 * 1024


@pytest.mark.parametrize('banner, status', [('421 4.3.2 Service not available', 'transient'), ('554 5.7.1 No SMTP service here', 'permanent')])
def test_refusing_banners(banner, status):
    with ScriptedServer(Mta(tls=False, overrides={'banner': (banner,)})) as server:
        result = probe(server)
    assert result['steps'][1]['reply']['code'] == int(banner[:3])
    assert result['diagnosis']['step'] == 'banner' and result['diagnosis']['status'] == status


def test_bare_lf_server_passes_with_a_note():
    def handler(session):
        session.send(b'220 mx1 ESMTP\n')
        Mta(tls=False, overrides={'banner': ()})(session)

    with ScriptedServer(handler) as server:
        result = probe(server)
    assert result['passed'] is True
    assert errors.REPLY_BARE_LF in result['diagnosis']['conditions']


def test_no_descriptor_leaks_over_many_probes():
    import os
    before = len(os.listdir('/proc/self/fd')) if os.path.isdir('/proc/self/fd') else None
    with ScriptedServer(Mta(tls=False)) as server:
        for _index in range(30):
            assert probe(server)['passed'] is True
        run_probe(dict(BASE, port=server.port, command_timeout=0.2, quit_after='banner', expect={'banner': ['2']}))
    if before is not None:
        time.sleep(0.1)
        assert len(os.listdir('/proc/self/fd')) <= before + 1


def silent_after_starttls(session):
    session.reply('220 mx1 ESMTP')
    session.readline()
    session.reply('250-mx1', '250 STARTTLS')
    session.readline()
    session.reply('220 2.0.0 Ready to start TLS')
    while session.readline() is not None:
        continue


@pytest.mark.parametrize('changes, condition', [
    ({'command_timeout': 0.5}, errors.TLS_HANDSHAKE_FAILED),
    ({'command_timeout': 5, 'deadline': 0.8, 'connect_timeout': 0.5}, errors.DEADLINE_EXCEEDED),
])
def test_a_stalled_tls_handshake_is_bounded(changes, condition):
    with ScriptedServer(silent_after_starttls) as server:
        started = time.monotonic()
        result = probe(server, **changes)
        elapsed = time.monotonic() - started
    assert steps(result)[-1] == ('starttls', condition)
    assert elapsed < min(changes['command_timeout'], changes.get('deadline', 60)) + 0.5


@pytest.mark.parametrize('quit_after', ['ehlo', 'starttls', 'auth'])
def test_mx_probe_route_with_quit_after_before_mail_and_no_mail_from(quit_after):
    # Issue 13 item 1 through mx_probe's engine: the probe crashed before the fix.
    from ansible_collections.mailops.mailflow.plugins.module_utils._dns.mx import MxOptions
    from ansible_collections.mailops.mailflow.plugins.module_utils._route.engine import probe_routes
    from ansible_collections.mailops.mailflow.tests.unit.plugins.module_utils._route.fakemta import FakeMta
    from ansible_collections.mailops.mailflow.tests.unit.plugins.module_utils._route.test_engine import MX1, zone_resolver
    options = {'helo_name': 'contoso.test', 'tls': 'none', 'quit_after': quit_after, 'mail_from': None, 'rcpt_to': [],
               'connect_timeout': 2.0, 'command_timeout': 5.0, 'deadline': 10.0}
    with FakeMta({MX1: {}}) as mta:
        [result] = probe_routes(['rejecting.test'], options, MxOptions(nameservers=['192.0.2.53']), mode='first_success',
                                port=mta.port, resolver=zone_resolver())
    probe = result['probes'][0]
    assert [step['name'] for step in probe['steps']] == ['connect', 'banner', 'ehlo', 'quit']
    assert probe['passed'] is True and result['verdict']['deliverable'] is True


# --- issue 13 ------------------------------------------------------------------------------------------------------

@needs_openssl
def test_capabilities_before_and_after_starttls_are_both_reported(pki):
    # Item 13: the post-TLS EHLO does not offer STARTTLS again; the pre-TLS one did, and says so.
    with ScriptedServer(Mta(), tls_context=server_context(pki['good'])) as server:
        result = probe(server, server_name='mx1.fabrikam.test', ca_path=pki['ca'])
    assert result['passed'] is True and result['tls']['used'] is True
    assert result['capabilities']['starttls'] is False
    assert result['capabilities_before_tls']['starttls'] is True and result['tls']['offered'] is True
    assert result['capabilities_before_tls']['pipelining'] is True


def test_capabilities_before_tls_is_null_without_starttls():
    with ScriptedServer(Mta(tls=False)) as server:
        result = probe(server, tls='none')
    assert result['capabilities_before_tls'] is None and result['capabilities']['pipelining'] is True


@pytest.fixture(scope='module')
def weak_dh(tmp_path_factory):
    if not have_openssl():
        pytest.skip('needs the openssl command')
    path = tmp_path_factory.mktemp('dh') / 'dh1024.pem'
    subprocess.run(['openssl', 'dhparam', '-dsaparam', '-out', str(path), '1024'], check=True, capture_output=True)
    return str(path)


def _weak_dh_context(pki, weak_dh):
    # Old appliances: a valid certificate, then a 1024-bit DH key exchange the client's security level refuses.
    context = server_context(pki['good_rsa'])
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers('DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:@SECLEVEL=0')
    context.load_dh_params(weak_dh)
    return context


@needs_openssl
@pytest.mark.parametrize('implicit', [False, True])
def test_certificate_of_a_failed_handshake_is_reported(pki, weak_dh, implicit):
    # Item 13: the handshake fails after the server sent its certificate; the certificate is read on a second
    # connection whose handshake checks nothing, and TLS still counts as not used.
    changes = {'tls': 'implicit'} if implicit else {}
    with ScriptedServer(Mta(tls=not implicit), tls_context=_weak_dh_context(pki, weak_dh), implicit_tls=implicit) as server:
        result = probe(server, server_name='mx1.fabrikam.test', ca_path=pki['ca'], **changes)
    assert result['passed'] is False
    failed = [(step['name'], step['error']) for step in result['steps'] if not step['ok']]
    assert failed[0] == ('connect' if implicit else 'starttls', errors.TLS_HANDSHAKE_FAILED)
    assert result['tls']['certificate']['subject'] and result['tls']['certificate']['sha256']
    assert result['tls']['used'] is False and result['tls']['verified'] is None
    assert len(server.sessions) == 2
    assert any('checks nothing' in line for line in result['transcript'])
    assert result['diagnosis']['error'] == errors.TLS_HANDSHAKE_FAILED


def test_slow_banner_tarpit_diagnosis_carries_the_reply_code():
    # Item 13: the tarpit diagnosis names the slow step's reply code.
    with ScriptedServer(Mta(tls=False, delays={'banner': 0.4})) as server:
        result = probe(server, tls='none', slow_threshold=0.2)
    assert result['passed'] is True
    assert result['diagnosis']['step'] == 'banner' and result['diagnosis']['code'] == 220
    assert errors.TARPIT in result['diagnosis']['conditions']


def _holding_server(hold):
    """Exim-like: answers a pipelined group only when the last command (QUIT) is in, ``hold`` seconds late."""
    def handler(session):
        session.reply('220 mx1.fabrikam.test ESMTP Exim 4.96')
        session.readline()
        session.reply('250-mx1.fabrikam.test Hello contoso.test', '250-PIPELINING', '250 SIZE 52428800')
        answers = []
        while True:
            line = session.readline()
            if line is None:
                return
            verb = line[:4].upper()
            answers.append({b'MAIL': '250 OK', b'RCPT': '250 Accepted', b'RSET': '250 Reset OK'}.get(verb, '221 closing'))
            if verb == b'QUIT':
                time.sleep(hold)
                session.send(''.join(answer + '\r\n' for answer in answers))
                return
    return handler


def test_held_pipelined_replies_charge_the_wait_to_the_group():
    # Item 10: before, the wait went to MAIL ("the mail reply took 1.00 s"), a command answered at once.
    # The margins are wide so that a loaded test machine does not make the banner slow too.
    with ScriptedServer(_holding_server(1.0)) as server:
        result = probe(server, tls='none', slow_threshold=0.5)
    by_name = dict((step['name'], step) for step in result['steps'])
    assert result['passed'] is True
    assert not by_name['mail'].get('slow') and not by_name['rcpt'].get('slow') and not by_name['rset'].get('slow')
    assert by_name['quit'].get('slow') is True
    [note] = [note for note in result['diagnosis']['notes'] if note.startswith(errors.TARPIT)]
    assert 'mail, rcpt, rset, quit replies arrived together' in note
    assert result['diagnosis']['step'] == 'quit'


def test_a_slow_reply_in_lock_step_is_still_charged_to_its_command():
    with ScriptedServer(Mta(tls=False, delays={'RCPT': 1.0})) as server:
        result = probe(server, tls='none', slow_threshold=0.5, pipelining='never')
    slow = [step['name'] for step in result['steps'] if step.get('slow')]
    assert slow == ['rcpt'] and result['diagnosis']['step'] == 'rcpt' and result['diagnosis']['code'] == 250
