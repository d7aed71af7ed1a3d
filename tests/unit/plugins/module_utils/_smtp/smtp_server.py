# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small scripted SMTP server on 127.0.0.1 for unit tests (threads, no asyncio, loopback only)."""

from __future__ import annotations

import base64
import socket
import ssl
import threading
import time


class Session(object):
    """One accepted connection as the server sees it."""

    def __init__(self, sock, server):
        self.sock = sock
        self.server = server
        self.buffer = b''
        self.commands = []
        self.writes = []

    def send(self, data):
        if isinstance(data, str):
            data = data.encode('utf-8')
        self.sock.sendall(data)

    def reply(self, *lines):
        """Send a (multi-line) reply: reply('250-a', '250 b') or reply('250 ok')."""
        self.send(''.join(line + '\r\n' for line in lines))

    def readline(self):
        while b'\n' not in self.buffer:
            try:
                chunk = self.sock.recv(65536)
            except (OSError, ssl.SSLError):
                return None
            if not chunk:
                return None
            self.writes.append(chunk)
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b'\n', 1)
        line = line.rstrip(b'\r')
        self.commands.append(line)
        return line

    def read_data(self):
        lines = []
        while True:
            line = self.readline()
            if line is None or line == b'.':
                return b'\r\n'.join(lines) + b'\r\n'
            lines.append(line)

    def starttls(self):
        self.sock = self.server.tls_context.wrap_socket(self.sock, server_side=True)
        self.buffer = b''


class ScriptedServer(object):
    """Accepts connections on 127.0.0.1 and runs ``handler(session)`` for each, in a thread."""

    def __init__(self, handler, tls_context=None, implicit_tls=False):
        self.handler = handler
        self.tls_context = tls_context
        self.implicit_tls = implicit_tls
        self.sessions = []
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(('127.0.0.1', 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.errors = []
        self._threads = []
        self._running = True
        self._accept_thread = threading.Thread(target=self._accept, daemon=True)
        self._accept_thread.start()

    def _accept(self):
        while self._running:
            try:
                sock, _address = self.listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, sock):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        session = Session(sock, self)
        self.sessions.append(session)
        try:
            if self.implicit_tls:
                session.starttls()
            self.handler(session)
        except (OSError, ssl.SSLError, ValueError) as exc:
            self.errors.append(exc)
        finally:
            try:
                session.sock.close()
            except OSError:
                pass

    def close(self):
        self._running = False
        self.listener.close()
        for thread in self._threads:
            thread.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


POSTFIX_EHLO = ('250-mx1.fabrikam.test', '250-PIPELINING', '250-SIZE 10240000', '250-VRFY', '250-ETRN', '250-STARTTLS',
                '250-ENHANCEDSTATUSCODES', '250-8BITMIME', '250-DSN', '250-SMTPUTF8', '250 CHUNKING')


class Mta(object):
    """A configurable, Postfix-like persona: answers each command line as it arrives (so pipelining works).

    ``users`` are the accepted recipients; ``overrides`` maps a verb (MAIL, RCPT, DATA, ...) or
    ``banner`` to a fixed reply tuple; ``delays`` maps a verb to seconds before answering.
    """

    def __init__(self, users=('kate@fabrikam.test',), ehlo=POSTFIX_EHLO, overrides=None, delays=None,
                 auth=None, queue_id='D50CD160033', tls=True, ehlo_after_tls=None, auth_before_tls=False,
                 auth_mechanisms='PLAIN LOGIN'):
        self.users = set(users)
        self.ehlo = tuple(line for line in ehlo if tls or 'STARTTLS' not in line)
        self.ehlo_after_tls = ehlo_after_tls
        self.overrides = overrides or {}
        self.delays = delays or {}
        self.auth = auth
        self.auth_before_tls = auth_before_tls
        self.auth_mechanisms = auth_mechanisms
        self.queue_id = queue_id
        self.messages = []

    def _answer(self, session, verb, default):
        delay = self.delays.get(verb)
        if delay:
            time.sleep(delay)
        session.reply(*self.overrides.get(verb, default))

    def __call__(self, session):
        self._answer(session, 'banner', ('220 mx1.fabrikam.test ESMTP Postfix (Debian/GNU)',))
        recipients = 0
        tls = False
        while True:
            line = session.readline()
            if line is None:
                return
            verb = line.split(b' ', 1)[0].split(b':', 1)[0].upper().decode('ascii', 'replace')
            if verb == 'EHLO':
                lines = self.ehlo_after_tls if tls and self.ehlo_after_tls else self.ehlo
                if tls:
                    lines = tuple(item for item in lines if 'STARTTLS' not in item)
                if self.auth and (tls or self.auth_before_tls):
                    lines = (lines[0], '250-AUTH %s' % self.auth_mechanisms) + lines[1:]
                self._answer(session, 'EHLO', lines)
            elif verb == 'HELO':
                self._answer(session, 'HELO', ('250 mx1.fabrikam.test',))
            elif verb == 'STARTTLS':
                self._answer(session, 'STARTTLS', ('220 2.0.0 Ready to start TLS',))
                if 'STARTTLS' in self.overrides:
                    continue
                session.starttls()
                tls = True
            elif verb == 'AUTH':
                self._auth(session, line)
            elif verb == 'MAIL':
                recipients = 0
                self._answer(session, 'MAIL', ('250 2.1.0 Ok',))
            elif verb == 'RCPT':
                address = line.split(b'<', 1)[1].split(b'>', 1)[0].decode('utf-8')
                if address in self.users:
                    recipients += 1
                    self._answer(session, 'RCPT', ('250 2.1.5 Ok',))
                else:
                    session.reply('550 5.1.1 <%s>: Recipient address rejected: User unknown in local recipient table' % address)
            elif verb == 'DATA':
                if not recipients and 'DATA' not in self.overrides:
                    session.reply('554 5.5.1 Error: no valid recipients')
                    continue
                self._answer(session, 'DATA', ('354 End data with <CR><LF>.<CR><LF>',))
                if self.overrides.get('DATA', ('354',))[0][:3] != '354':
                    continue
                self.messages.append(session.read_data())
                self._answer(session, 'END', ('250 2.0.0 Ok: queued as %s' % self.queue_id,))
            elif verb == 'RSET':
                self._answer(session, 'RSET', ('250 2.0.0 Ok',))
            elif verb == 'QUIT':
                self._answer(session, 'QUIT', ('221 2.0.0 Bye',))
                return
            else:
                session.reply('502 5.5.2 Error: command not recognized')

    def _auth(self, session, line):
        parts = line.decode('ascii', 'replace').split()
        mechanism = parts[1].upper() if len(parts) > 1 else ''
        username, password = self.auth or ('', '')
        if mechanism == 'PLAIN':
            blob = parts[2] if len(parts) > 2 else None
            if blob is None:
                session.reply('334 ')
                blob = session.readline().decode('ascii')
            fields = base64.b64decode(blob).split(b'\x00')
            good = fields[1:] == [username.encode(), password.encode()]
        elif mechanism == 'LOGIN':
            session.reply('334 VXNlcm5hbWU6')
            user = base64.b64decode(session.readline())
            session.reply('334 UGFzc3dvcmQ6')
            secret = base64.b64decode(session.readline())
            good = (user, secret) == (username.encode(), password.encode())
        else:
            session.reply('504 5.5.4 Unrecognized authentication type')
            return
        if good:
            session.reply('235 2.7.0 Authentication successful')
        else:
            session.reply('535 5.7.8 Error: authentication failed: %s' % (parts[2] if len(parts) > 2 else 'bad'))
