# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""An in-memory SMTP server behind a socket-like object: deterministic tests of the dialogue
(pipelining attribution, what was written in which write) without any network."""

from __future__ import annotations

import socket


class FakeSocket(object):
    """Socket stand-in. ``server(line) -> bytes`` answers each complete command line (or None
    to stay silent, which looks like a hang: recv raises socket.timeout). ``banner`` is sent
    on connect. ``writes`` keeps every send() payload, so tests can see pipelined groups."""

    def __init__(self, server, banner=b'220 mx1.fabrikam.test ESMTP Postfix\r\n', chunk=None):
        self.server = server
        self.outgoing = bytearray(banner)
        self.incoming = bytearray()
        self.writes = []
        self.closed = False
        self.chunk = chunk
        self.eof = False
        self.in_data = False

    def settimeout(self, timeout):
        self.timeout = timeout

    def send(self, data):
        if self.closed:
            raise BrokenPipeError(32, 'Broken pipe')
        data = bytes(data)
        self.writes.append(data)
        self.incoming += data
        while b'\n' in self.incoming:
            index = self.incoming.index(b'\n')
            line = bytes(self.incoming[:index]).rstrip(b'\r')
            del self.incoming[:index + 1]
            if self.in_data:
                if line == b'.':
                    self.in_data = False
                    answer = self.server(b'<end of data>')
                else:
                    continue
            else:
                answer = self.server(line)
            if answer is None:
                continue
            if answer == b'<close>':
                self.eof = True
                continue
            if answer.startswith(b'354'):
                self.in_data = True
            self.outgoing += answer
        return len(data)

    def recv(self, size):
        if self.closed:
            raise OSError(9, 'Bad file descriptor')
        if not self.outgoing:
            if self.eof:
                return b''
            raise socket.timeout('timed out')
        size = min(size, self.chunk or size)
        data = bytes(self.outgoing[:size])
        del self.outgoing[:size]
        return data

    def getpeername(self):
        return ('192.0.2.25', 25)

    def getsockname(self):
        return ('192.0.2.1', 40000)

    def close(self):
        self.closed = True


def postfix_like(users=('kate@fabrikam.test',), ehlo=(b'250-mx1.fabrikam.test', b'250-PIPELINING', b'250-SIZE 10240000',
                                                      b'250-ENHANCEDSTATUSCODES', b'250-8BITMIME', b'250-DSN', b'250 SMTPUTF8'),
                 overrides=None):
    """A responder with Postfix's replies; ``overrides`` maps a verb to a reply (bytes)."""
    overrides = overrides or {}
    state = {'accepted': 0}

    def answer(line):
        verb = line if line == b'<end of data>' else line.split(b' ', 1)[0].split(b':', 1)[0].upper()
        if verb in overrides:
            return overrides[verb]
        if verb == b'EHLO':
            return b'\r\n'.join(ehlo) + b'\r\n'
        if verb == b'HELO':
            return b'250 mx1.fabrikam.test\r\n'
        if verb == b'MAIL':
            state['accepted'] = 0
            return b'250 2.1.0 Ok\r\n'
        if verb == b'RCPT':
            address = line.split(b'<', 1)[1].split(b'>', 1)[0].decode()
            if address in users:
                state['accepted'] += 1
                return b'250 2.1.5 Ok\r\n'
            return ('550 5.1.1 <%s>: Recipient address rejected: User unknown in local recipient table\r\n' % address).encode()
        if verb == b'DATA':
            if not state['accepted']:
                return b'554 5.5.1 Error: no valid recipients\r\n'
            return b'354 End data with <CR><LF>.<CR><LF>\r\n'
        if verb == b'<end of data>':
            return b'250 2.0.0 Ok: queued as D50CD160033\r\n'
        if verb == b'RSET':
            return b'250 2.0.0 Ok\r\n'
        if verb == b'QUIT':
            return b'221 2.0.0 Bye\r\n'
        return b'502 5.5.2 Error: command not recognized\r\n'

    return answer


def fake_transport(sock):
    """(opener, resolver) for SmtpProbe that connect to ``sock`` without any network."""

    def opener(family, sockaddr, source_address, timeout):
        return sock

    def resolver(host, port, ip_version='auto', addresses=None, source_address=None):
        return [(socket.AF_INET, ('192.0.2.25', port))]

    return opener, resolver
