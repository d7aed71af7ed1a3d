# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The SMTP dialogue runner: the Exchange telnet procedure, done by a program.

OPEN -> banner -> EHLO (HELO fallback) -> STARTTLS -> EHLO -> AUTH -> MAIL FROM -> RCPT TO ...
-> DATA -> message -> QUIT. The runner only talks and records what went over the wire (the raw record);
``result.build_result`` turns the record into the result, the same way for every engine.
"""

from __future__ import annotations

import base64
import ssl
import time

from .._diagnosis import errors
from .capabilities import empty_capabilities, parse_ehlo
from .connection import Clock, ConnectFailed, Connection, TransportError, connect_any, open_socket, resolve
from .expect import is_explicit, step_ok
from .message import dot_stuff, is_ascii
from .options import ehlo_name, validate_options
from .reply import ReplyError, ReplyLimits, ReplyReader
from .result import build_result, min_days_condition
from .tlsinfo import certificate_summary, classify_verify_error, client_context, permissive_context, session_details
from .transcript import MASK, Redactor, Transcript

CRLF = b'\r\n'
_CLOSED_QUIETLY = (errors.CONNECTION_CLOSED, errors.CONNECTION_RESET)


class _Abort(Exception):
    """The session cannot go on: the failure is already recorded as a step."""


class _Command:
    __slots__ = ('name', 'wire', 'display', 'transcript')

    def __init__(self, name, wire, display, transcript=None):
        self.name = name
        self.wire = wire
        self.display = display
        self.transcript = transcript


def _command(name, text, display=None):
    return _Command(name, text.encode('utf-8') + CRLF, text if display is None else display)


_RSET = _command('rset', 'RSET')
_QUIT = _command('quit', 'QUIT')
_DATA = _command('data', 'DATA')


def xtext(value):
    """RFC 3461 4: xtext encoding for ENVID and ORCPT (non-ASCII goes byte by byte as UTF-8)."""
    return ''.join(chr(byte) if 33 <= byte <= 126 and byte not in (0x2b, 0x3d) else f'+{byte:02X}'
                   for byte in value.encode('utf-8'))


def _ms(seconds):
    return round(seconds * 1000.0, 3)


class SmtpProbe:
    """One SMTP conversation with one server. ``run()`` returns the result dict and ``run_raw()`` the raw
    record; neither raises for anything the server or the network does.

    ``opener``/``resolver`` replace the socket layer in tests (a fake transport).
    """

    def __init__(self, options, opener=open_socket, resolver=resolve, limits=None):
        self.options = validate_options(options)
        self._opener = opener
        self._resolver = resolver
        self._limits = limits or ReplyLimits()
        auth = self.options['auth']
        redact = Redactor()
        if auth:
            redact.add(auth['password'])
            redact.add(base64.b64encode(b'\x00' + auth['username'].encode('utf-8') + b'\x00'
                                        + auth['password'].encode('utf-8')).decode('ascii'))
        self.transcript = Transcript(redact)
        self.steps = []
        self.capabilities = empty_capabilities()
        self.tls = {'used': False, 'version': None, 'cipher': None, 'bits': None, 'server_name': None,
                    'verify_error': None, 'verify_message': None, 'certificate_der': None}
        self.target = {'host': self.options['host'], 'port': self.options['port'], 'address': None,
                       'ip_version': None, 'source_address': None}
        self.clock = None
        self.conn = None
        self.reader = None
        self.ehlo_name = None
        self._certificate_readable = False
        self._quit_sent = False
        self._closed = False

    # --- public ------------------------------------------------------------------------

    def run(self):
        return build_result(self.options, self.run_raw())

    def run_raw(self):
        self.clock = Clock(self.options['deadline'])
        try:
            self._dialogue()
            self._quit()
        except _Abort:
            pass
        finally:
            if self.conn is not None:
                self.conn.close()
        return {'target': self.target, 'steps': self.steps, 'tls': self.tls, 'transcript': self.transcript.as_list(),
                'elapsed_ms': round(self.clock.elapsed_ms(), 3), 'ehlo_name': self.ehlo_name}

    # --- recording -----------------------------------------------------------------------

    def _step(self, name, command, reply=None, started=None, error=None, message=None, waited=None):
        """Record one step of the raw record; ``waited``: the server's own time for the reply (seconds)."""
        elapsed = 0.0 if started is None else time.monotonic() - started
        step = {'name': name, 'command': command, 'lines': None if reply is None else reply.lines,
                'elapsed_ms': _ms(elapsed), 'waited_ms': _ms(elapsed if waited is None else waited),
                'error': error, 'error_message': message, 'bare_lf': reply is not None and reply.bare_lf,
                'unrequested': False}
        self.steps.append(step)
        return step

    # --- wire ----------------------------------------------------------------------------

    def _exchange(self, commands):
        """Send commands in one write (a pipelined group, or a single command), read one reply each and
        record each as a step; returns the replies. A transport or protocol failure is recorded on the step
        it hit (later steps as unanswered) and raises _Abort.
        """
        for command in commands:
            self.transcript.sent_lines(command.transcript or (command.display,))
        started = time.monotonic()
        conn = self.conn
        conn.begin()
        try:
            conn.send(commands[0].wire if len(commands) == 1 else b''.join([command.wire for command in commands]))
        except TransportError as exc:
            self._send_failed(commands, started, exc)
        if commands[-1].name == 'quit':
            self._quit_sent = True
        replies = []
        previous = started
        last = len(commands) - 1
        for index, command in enumerate(commands):
            if index:
                conn.begin()
            try:
                reply = self.reader.read_reply()
            except (ReplyError, TransportError) as exc:
                self._read_failed(commands, index, started, self._reset_as_close(exc))
            arrived = time.monotonic()
            self.transcript.received(reply.lines)
            # In a group the server's own time for a reply is since the previous reply arrived.
            step = self._step(command.name, command.display, reply, started, waited=arrived - previous)
            if index < last and self.reader.pending:
                # It came in one read with the next reply: the server held it, so its wait is the next one's.
                step['held'] = True
                step['waited_ms'] = 0.0
            else:
                previous = arrived
            replies.append(reply)
            if reply.code == 421 and command.name != 'quit':
                self._closing(commands, index, started)
        if self.reader.pending:
            self._unrequested()
        return replies

    def _send_failed(self, commands, started, exc):
        exc = self._reset_as_close(exc)
        self.transcript.event(exc.message)
        quiet = exc.condition in _CLOSED_QUIETLY and [command.name for command in commands] == ['quit']
        for command in commands:
            # QUIT written to a closed connection is as good as answered.
            self._step(command.name, command.display, None, started, None if quiet else exc.condition, exc.message)
        self._closed = True
        raise _Abort()

    def _closing(self, commands, index, started):
        """A 421 reply (RFC 5321 3.8): the server is closing the channel; nothing more will be answered."""
        self.transcript.event('the server is closing the connection (421)')
        for rest in commands[index + 1:]:
            self._step(rest.name, rest.display, None, started, errors.CONNECTION_CLOSED,
                       'not answered: the server closed the session with 421')
        self._closed = True
        raise _Abort()

    def _reset_as_close(self, exc):
        """A reset before any byte of the reply is our write meeting a socket the server already closed.

        Whether the kernel reports that as end of stream or as a reset is a race, so both mean
        "closed"; a reset in the middle of a reply stays a reset.
        """
        if isinstance(exc, TransportError) and exc.condition == errors.CONNECTION_RESET and not self.reader.pending:
            return TransportError(errors.CONNECTION_CLOSED, f'the server closed the connection ({exc.message})')
        return exc

    def _unrequested(self):
        """Bytes after the last reply that nobody asked for: kept in the transcript, marked on the step."""
        extra = self.reader.discard_pending()
        self.transcript.received([extra.decode('utf-8', 'replace').rstrip('\r\n')])
        self.steps[-1]['unrequested'] = True

    def _read_failed(self, commands, index, started, exc):
        if isinstance(exc, ReplyError) and exc.lines:
            self.transcript.received(exc.lines)
        self.transcript.event(exc.message)
        command = commands[index]
        self._closed = True
        if command.name == 'quit' and exc.condition in _CLOSED_QUIETLY:
            # Closing without 221 is common and harmless.
            self._step('quit', command.display, None, started, None, exc.message)
            raise _Abort()
        self._step(command.name, command.display, None, started, exc.condition, exc.message)
        for rest in commands[index + 1:]:
            self._step(rest.name, rest.display, None, started, exc.condition, 'not answered: the session ended earlier')
        raise _Abort()

    def _read_banner(self):
        started = time.monotonic()
        self.conn.begin()
        try:
            reply = self.reader.read_reply()
        except (ReplyError, TransportError) as exc:
            self._read_failed([_Command('banner', b'', None)], 0, started, exc)
        self.transcript.received(reply.lines)
        self._step('banner', None, reply, started)
        if reply.code == 421:
            self._closed = True
            raise _Abort()
        if self.reader.pending:
            self._unrequested()
        return reply

    def _synthetic_failure(self, name, condition, message):
        """A step that failed before anything was sent (e.g. STARTTLS required but not offered)."""
        self.transcript.event(message)
        self._step(name, None, None, None, condition, message)

    # --- dialogue ------------------------------------------------------------------------

    def _stop_after(self, step):
        return self.options['quit_after'] == step

    def _dialogue(self):
        options = self.options
        self._connect(verify=True)
        if self._stop_after('connect'):
            self.transcript.event('quit_after connect: closing without waiting for the banner')
            self._quit_sent = True
            return
        reply = self._read_banner()
        if reply.code // 100 != 2 or self._stop_after('banner') or not self._hello('ehlo') or self._stop_after('ehlo'):
            return
        if options['tls'] in ('starttls', 'required') and not self.conn.tls:
            if not self._starttls():
                return
        if self._stop_after('starttls'):
            return
        if options['auth'] and not self._auth():
            return
        if self._stop_after('auth'):
            return
        self._transaction()

    def _connect(self, verify, context=None):
        """Open the connection (and the implicit TLS session). ``context``: a TLS context that replaces the
        usual one (the permissive one that only reads the certificate)."""
        options = self.options
        started = time.monotonic()
        command = 'OPEN {} {}'.format(options['host'], options['port'])
        try:
            candidates = self._resolver(options['host'], options['port'], options['ip_version'], options['addresses'],
                                        options['source_address'])
            sock, sockaddr, attempts = connect_any(candidates, self.clock, options['connect_timeout'],
                                                   options['source_address'], self._opener)
        except TransportError as exc:
            self.transcript.event(exc.message)
            self._step('connect', command, None, started, exc.condition, exc.message)
            raise _Abort() from exc
        except ConnectFailed as exc:
            for attempt in exc.attempts:
                self.transcript.event('connecting to {} failed: {}'.format(attempt['address'], attempt['message']))
            self._step('connect', command, None, started, exc.condition, exc.message)['attempts'] = exc.attempts
            raise _Abort() from exc
        if self.conn is not None:
            self.conn.close()
        self.conn = Connection(sock, self.clock, options['command_timeout'])
        self.reader = ReplyReader(self.conn.recv, self._limits)
        self._quit_sent = False
        self._closed = False
        local = self.conn.local()
        target = self.target
        target['address'] = sockaddr[0]
        target['ip_version'] = 6 if ':' in sockaddr[0] else 4
        target['source_address'] = local[0] if local else None
        self.ehlo_name = ehlo_name(options, local)
        self.transcript.event('connected to {} port {} from {}'.format(sockaddr[0], sockaddr[1], target['source_address']))
        condition = message = None
        if options['tls'] == 'implicit':
            command += ' (implicit TLS)'
            outcome, condition, message = self._handshake(verify, context)
            if outcome != 'ok':
                self._step('connect', command, None, started, condition, message)['attempts'] = attempts
                if outcome == 'verify':
                    self._after_verify_failure(implicit=True)
                    return
                self._after_handshake_failure(implicit=True, context=context)
                raise _Abort()
        self._step('connect', command, None, started, condition, message)['attempts'] = attempts

    def _hello(self, name):
        reply = self._exchange([_command(name, f'EHLO {self.ehlo_name}')])[0]
        if reply.code // 100 == 2:
            self.capabilities = parse_ehlo(reply.texts)
            return True
        expect = self.options['expect']
        met = is_explicit('ehlo', expect) and step_ok('ehlo', reply.code, reply.enhanced, None, expect)
        if name != 'ehlo' or reply.code // 100 != 5 or met:
            return False
        # The guide's note: a server without ESMTP rejects EHLO; say HELO instead.
        helo_reply = self._exchange([_command('helo', f'HELO {self.ehlo_name}')])[0]
        if helo_reply.code // 100 != 2:
            return False
        self.capabilities = empty_capabilities()
        return True

    # --- TLS -----------------------------------------------------------------------------

    def _handshake(self, verify, context=None):
        """Run the TLS handshake; returns (outcome, condition, message) with outcome ok|verify|failed."""
        options = self.options
        server_name = options['server_name'] or options['host']
        self.tls['server_name'] = server_name
        try:
            tls_sock = self.conn.start_tls(context or client_context(verify, options['ca_path']), server_name,
                                           options['command_timeout'])
        except ssl.SSLCertVerificationError as exc:
            condition, message = classify_verify_error(exc)
            self.transcript.event(f'TLS certificate verification failed: {message}')
            self.tls['verify_error'] = condition
            self.tls['verify_message'] = message
            return 'verify', condition, message
        except TransportError as exc:
            self.transcript.event(exc.message)
            self._closed = True
            self._certificate_readable = exc.answered
            return 'failed', exc.condition, exc.message
        try:
            der = tls_sock.getpeercert(binary_form=True)
        except (ValueError, OSError):
            der = None
        self.tls['certificate_der'] = base64.b64encode(der).decode('ascii') if der else None
        if context is not None:
            # The permissive handshake only reads the certificate: this session is not used.
            self.transcript.event('TLS handshake without checks done: certificate read')
            return 'ok', None, None
        self.reader = ReplyReader(self.conn.recv, self._limits)
        self.tls.update(session_details(tls_sock))
        self.tls['used'] = True
        self.transcript.event('TLS established: {} {}{}'.format(
            self.tls['version'], self.tls['cipher'], ', certificate verified' if verify else ''))
        if der and self.options['tls_min_days'] is not None:
            short = min_days_condition(self.options, certificate_summary(der))
            if short:
                self.transcript.event(short[1])
        return 'ok', None, None

    def _after_verify_failure(self, implicit):
        """Reconnect without verification: to read the certificate (tls_verify: true, then stop),
        or to go on like an opportunistic MTA (tls_verify: false)."""
        enforce = self.options['tls_verify']
        self.conn.close()
        self.transcript.event('reconnecting without certificate verification to %s'
                              % ('read the certificate' if enforce else 'continue the dialogue (tls_verify: false)'))
        if enforce:
            try:
                self._reconnect_unverified(implicit, read_only=True)
                if not implicit:
                    self._quit()
            except _Abort:
                pass
            self._closed = True
            raise _Abort()
        self._reconnect_unverified(implicit)

    def _after_handshake_failure(self, implicit, context):
        """The handshake failed (not the verification): read the certificate the server sent on a second
        connection with a handshake that checks nothing, so the result can show it. Nothing else is kept."""
        if context is not None or not self._certificate_readable or self.tls['certificate_der']:
            return
        self.conn.close()
        self.transcript.event('reconnecting to read the certificate with a handshake that checks nothing')
        try:
            self._reconnect_unverified(implicit, read_only=True, context=permissive_context())
            if not implicit:
                self._quit()
        except _Abort:
            pass
        self._closed = True

    def _reconnect_unverified(self, implicit, read_only=False, context=None):
        self._connect(verify=False, context=context)
        if implicit:
            return
        reply = self._read_banner()
        if reply.code // 100 != 2 or not self._hello('ehlo'):
            raise _Abort()
        if not self.capabilities['starttls']:
            self._synthetic_failure('starttls', errors.STARTTLS_NOT_OFFERED, 'STARTTLS was not offered on the second connection')
            raise _Abort()
        started = time.monotonic()
        reply = self._exchange([_command('starttls', 'STARTTLS')])[0]
        if reply.code // 100 != 2:
            raise _Abort()
        outcome, condition, message = self._handshake(False, context)
        self._handshake_done(started)
        if outcome != 'ok':
            self._fail_last(condition, message)
            raise _Abort()
        if context is not None:
            # Nothing more can be said over a session that was not checked: close it.
            self.conn.close()
            self._closed = True
            raise _Abort()
        if not read_only and not self._hello('ehlo_tls'):
            raise _Abort()

    def _handshake_done(self, started):
        """The STARTTLS step's time includes the handshake."""
        step = self.steps[-1]
        step['elapsed_ms'] = step['waited_ms'] = _ms(time.monotonic() - started)

    def _fail_last(self, condition, message):
        step = self.steps[-1]
        step['error'] = condition
        step['error_message'] = message

    def _starttls(self):
        options = self.options
        if not self.capabilities['starttls']:
            if options['tls'] == 'required':
                self._synthetic_failure('starttls', errors.STARTTLS_NOT_OFFERED, 'the server did not offer STARTTLS and tls is required')
                return False
            if options['auth']:
                # Credentials never cross the network in clear text unless tls: none says so.
                self._synthetic_failure('starttls', errors.STARTTLS_NOT_OFFERED, 'the server did not offer STARTTLS; credentials are not '
                                        'sent unencrypted (set tls: none to allow plain-text AUTH)')
                return False
            return True
        started = time.monotonic()
        # Bytes after the reply are discarded by _exchange: read after the handshake, they would pass as
        # protected by TLS (CVE-2011-0411 style).
        reply = self._exchange([_command('starttls', 'STARTTLS')])[0]
        if reply.code // 100 != 2:
            return False
        outcome, condition, message = self._handshake(True)
        self._handshake_done(started)
        if outcome != 'ok':
            self._fail_last(condition, message)
        if outcome == 'verify':
            self._after_verify_failure(implicit=False)
            return True
        if outcome == 'failed':
            self._after_handshake_failure(implicit=False, context=None)
            raise _Abort()
        return self._hello('ehlo_tls')

    # --- AUTH ----------------------------------------------------------------------------

    def _auth(self):
        auth = self.options['auth']
        offered = self.capabilities['auth']
        if not offered:
            self._synthetic_failure('auth', errors.AUTH_NOT_OFFERED, 'the server offered no AUTH mechanism%s'
                                    % ('' if self.conn.tls else ' (many servers offer AUTH only after STARTTLS)'))
            return False
        wanted = auth['mechanism'].upper()
        if wanted == 'AUTO':
            mechanism = 'PLAIN' if 'PLAIN' in offered else ('LOGIN' if 'LOGIN' in offered else None)
        else:
            mechanism = wanted if wanted in offered else None
        if mechanism is None:
            self._synthetic_failure('auth', errors.AUTH_MECHANISM_UNSUPPORTED, 'the server offers {}, not {}'.format(
                ', '.join(offered), 'PLAIN or LOGIN' if wanted == 'AUTO' else wanted))
            return False
        username = auth['username'].encode('utf-8')
        password = auth['password'].encode('utf-8')
        if mechanism == 'PLAIN':
            blob = base64.b64encode(b'\x00' + username + b'\x00' + password).decode('ascii')
            reply = self._exchange([_command('auth', f'AUTH PLAIN {blob}', f'AUTH PLAIN {MASK}')])[0]
            if reply.code == 334:
                reply = self._exchange([_command('auth', blob, MASK)])[0]
        else:
            reply = self._exchange([_command('auth', 'AUTH LOGIN')])[0]
            for secret in (username, password):
                if reply.code != 334:
                    break
                reply = self._exchange([_command('auth', base64.b64encode(secret).decode('ascii'), MASK)])[0]
        return reply.code // 100 == 2

    # --- transaction ---------------------------------------------------------------------

    def _mail_parameters(self, message_size, eight_bit, utf8):
        caps = self.capabilities
        params = []
        if message_size is not None and caps['size'] is not None:
            # RFC 1870: SIZE= only to a server that announced SIZE.
            params.append(f'SIZE={message_size}')
        if eight_bit:
            params.append('BODY=8BITMIME')
        if utf8:
            params.append('SMTPUTF8')
        dsn = self.options['dsn']
        if dsn and caps['dsn']:
            if dsn['ret']:
                params.append('RET={}'.format(dsn['ret'].upper()))
            if dsn['envid']:
                params.append('ENVID={}'.format(xtext(dsn['envid'])))
        return ''.join(' ' + param for param in params)

    def _rcpt_parameters(self, recipient):
        dsn = self.options['dsn']
        if not dsn or not self.capabilities['dsn']:
            return ''
        params = []
        if dsn['notify']:
            params.append('NOTIFY={}'.format(','.join(word.upper() for word in dsn['notify'])))
        if dsn['orcpt']:
            params.append(f'ORCPT=rfc822;{xtext(recipient)}')
        return ''.join(' ' + param for param in params)

    def _transaction(self):
        options = self.options
        caps = self.capabilities
        quit_after = options['quit_after']
        sending = options['send_message'] and quit_after not in ('mail', 'rcpt')
        utf8 = bool(caps['smtputf8']) and not all(is_ascii(address) for address in [options['mail_from']] + options['rcpt_to'])
        wire_message = None
        if sending:
            body = options['content']['body']
            eight_bit = bool(caps['eightbitmime']) and body is not None and not is_ascii(body)
            raw = options.message_template.render(eight_bit=eight_bit, utf8=utf8, domain=self.ehlo_name)
            wire_message = dot_stuff(raw)
            eight_bit = eight_bit and b'Content-Transfer-Encoding: 8bit' in raw
            mail_params = self._mail_parameters(len(raw), eight_bit, utf8)
        else:
            mail_params = self._mail_parameters(None, False, utf8)
        mail = _command('mail', 'MAIL FROM:<{}>{}'.format(options['mail_from'], mail_params))
        rcpts = [] if quit_after == 'mail' else [
            _command('rcpt', f'RCPT TO:<{recipient}>{self._rcpt_parameters(recipient)}') for recipient in options['rcpt_to']]
        pipelined = options['pipelining'] == 'always' or (options['pipelining'] == 'auto' and caps['pipelining'])

        if pipelined:
            replies = self._exchange([mail] + rcpts + ([_DATA] if sending else [_RSET, _QUIT]))
            if not sending:
                return
            accepted = any(reply.code // 100 == 2 for reply in replies[1:-1])
            data_reply = replies[-1]
        else:
            if self._exchange([mail])[0].code // 100 != 2:
                return
            accepted = False
            for rcpt in rcpts:
                if self._exchange([rcpt])[0].code // 100 == 2:
                    accepted = True
            if not sending or not accepted:
                self._exchange([_RSET])
                return
            data_reply = self._exchange([_DATA])[0]
        if data_reply.code != 354:
            return
        if quit_after == 'data':
            self.transcript.event('quit_after data: closing without sending the message (no final dot, nothing is delivered)')
            self.conn.close()
            self._closed = True
            return
        if not accepted:
            # RFC 2920 3.1: DATA was accepted although no recipient was; end it with a lone dot.
            self._exchange([_Command('message', b'.' + CRLF, '.')])
            return
        lines = wire_message.decode('utf-8', 'replace').split('\r\n')[:-1]
        message = _Command('message', wire_message, f'<message: {len(wire_message)} bytes, {len(lines)} lines>', lines)
        self._exchange([message, _QUIT] if pipelined else [message])

    def _quit(self):
        if self._quit_sent or self._closed or self.conn is None:
            return
        self._exchange([_QUIT])
        self._closed = True


def run_probe(options, opener=open_socket, resolver=resolve, limits=None):
    """Validate ``options`` (a dict or ProbeOptions) and run one probe; returns the result dict.

    Raises ProbeOptionError (before any connection) for options that must not be used.
    """
    return SmtpProbe(options, opener=opener, resolver=resolver, limits=limits).run()
