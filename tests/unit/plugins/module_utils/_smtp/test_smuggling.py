# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The SMTP smuggling test: the decision from reply codes, the bytes written, and a run over the in-memory server
(which splits lines at a bare LF, as Postfix with smtpd_forbid_bare_newline = no does)."""

from __future__ import annotations

import socket

import pytest

from ansible_collections.mailops.mailflow.plugins.module_utils._outcome import failure_message
from ansible_collections.mailops.mailflow.plugins.module_utils._policy.sender_policy import smuggling_summary
from ansible_collections.mailops.mailflow.plugins.module_utils._smtp.smuggling import (
    SEQUENCE_NAMES,
    SEQUENCES,
    decide,
    message_bytes,
    run_smuggling,
)
from ansible_collections.mailops.mailflow.tests.unit.plugins.module_utils._smtp.fakesmtp import FakeSocket, postfix_like

OPTIONS = {'host': 'mx1.fabrikam.test', 'helo_name': 'contoso.test', 'mail_from': 'chris@contoso.test',
           'rcpt_to': ['kate@fabrikam.test'], 'tls': 'none', 'command_timeout': 2, 'deadline': 10}


@pytest.mark.parametrize('codes, verdict', [
    # One reply for the whole text, then QUIT.
    ([250, 221], ('safe', False, False)),
    # Refused the message (Postfix smtpd_forbid_bare_newline = yes in 3.9 rejects), then QUIT or a close.
    ([550, 221], ('safe', False, False)),
    ([550], ('safe', False, False)),
    ([250], ('safe', False, False)),
    # Ended at the sequence: the smuggled MAIL, RCPT and DATA were answered, and the smuggled message queued.
    ([250, 250, 250, 354, 250, 221], ('exposed', True, True)),
    # Ended at the sequence but refused the smuggled transaction: still exposed, nothing smuggled.
    ([250, 250, 550, 554, 221], ('exposed', True, False)),
    ([250, 503, 221], ('exposed', True, False)),
    # Ended at the sequence, then closed without answering QUIT.
    ([250, 250, 250, 354, 250], ('exposed', True, True)),
    ([], ('inconclusive', None, False)),
])
def test_decide(codes, verdict):
    assert decide(codes) == verdict


def test_message_bytes_put_the_sequence_between_the_message_and_the_smuggled_commands():
    for name, wire, _display in SEQUENCES:
        data = message_bytes(wire, 'chris@contoso.test', 'kate@fabrikam.test', 'M-%s' % name, 'contoso.test')
        _first, rest = data.split(b'Marker: M-%s' % name.encode(), 1)
        assert rest.startswith(wire + b'MAIL FROM:<chris@contoso.test>\r\nRCPT TO:<kate@fabrikam.test>\r\nDATA\r\n')
        # The only standard end of data is the last one, followed by QUIT.
        assert data.count(b'\r\n.\r\n') == 1
        assert data.endswith(b'Marker: M-%s\r\n.\r\nQUIT\r\n' % name.encode())
        assert b'Subject: mailflow smuggled message M-%s' % name.encode() in rest


def fresh_transport(sockets, server=postfix_like):
    """A new in-memory server per connection (every sequence has its own)."""

    def opener(family, sockaddr, source_address, timeout):
        sock = FakeSocket(server())
        sockets.append(sock)
        return sock

    def resolver(host, port, ip_version='auto', addresses=None, source_address=None):
        return [(socket.AF_INET, ('192.0.2.25', port))]
    return {'opener': opener, 'resolver': resolver}


def test_a_server_that_splits_at_bare_lf_is_exposed_to_the_lf_sequences_only():
    sockets = []
    result = run_smuggling(OPTIONS, marker='M', **fresh_transport(sockets))
    assert result['exposed'] == ['lf_dot_lf', 'lf_dot_crlf', 'crlf_dot_lf']
    assert result['safe'] == ['cr_dot_crlf', 'crlf_dot_cr', 'lf_dot_cr', 'cr_dot_cr', 'cr_dot_lf']
    assert result['verdict'] == 'exposed'
    assert len(sockets) == len(SEQUENCE_NAMES)
    lf = result['sequences'][0]
    assert [reply['code'] for reply in lf['replies']] == [250, 250, 250, 354, 250, 221]
    assert lf['smuggled_accepted'] and lf['ended_at_sequence']
    # The payload and QUIT went in one write, after the DATA command's 354.
    assert sockets[0].writes[-2] == b'DATA\r\n'
    assert sockets[0].writes[-1].startswith(b'From: <chris@contoso.test>') and sockets[0].writes[-1].endswith(b'QUIT\r\n')
    assert [reply['code'] for reply in result['sequences'][2]['replies']] == [250, 221]
    assert smuggling_summary(dict(result, host='mx1.fabrikam.test', port=25)) == (
        'mx1.fabrikam.test:25 is exposed to SMTP smuggling: it ended the data at <LF>.<LF>, <LF>.<CR><LF>, '
        '<CR><LF>.<LF>')


def test_a_refused_recipient_is_inconclusive_with_the_reason():
    result = run_smuggling(dict(OPTIONS, rcpt_to=['nobody@fabrikam.test']), sequences=['lf_dot_lf'], marker='M',
                           **fresh_transport([]))
    entry = result['sequences'][0]
    assert (result['verdict'], entry['verdict'], entry['ended_at_sequence']) == ('inconclusive', 'inconclusive', None)
    assert entry['reason'].startswith('rcpt: 550 5.1.1 <nobody@fabrikam.test>')
    summary = smuggling_summary(dict(result, host='mx1.fabrikam.test', port=25))
    assert summary.startswith('mx1.fabrikam.test:25: smuggling test inconclusive for 1 sequence(s): rcpt: 550 5.1.1')
    assert failure_message('smtp_smuggling', dict(result, passed=False, summary=summary)) == summary


def test_only_the_named_sequences_run():
    sockets = []
    result = run_smuggling(OPTIONS, sequences=['cr_dot_crlf'], **fresh_transport(sockets))
    assert [entry['name'] for entry in result['sequences']] == ['cr_dot_crlf']
    assert result['verdict'] == 'safe' and len(sockets) == 1
    assert result['marker'].startswith('mailflow-smuggling-')
