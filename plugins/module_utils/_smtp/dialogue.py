# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The SMTP dialogue runner: the Exchange telnet procedure, done by a program.

OPEN -> banner -> EHLO (HELO fallback) -> STARTTLS -> EHLO -> AUTH -> MAIL FROM -> RCPT TO ...
-> DATA -> message -> QUIT, each command a step with its reply, timing and verdict.
"""

from __future__ import annotations

import base64
import ssl
import time

from .._diagnosis import diagnose, diagnose_success, errors
from .capabilities import empty_capabilities, parse_ehlo
from .connection import Clock, ConnectFailed, Connection, TransportError, connect_any, open_socket, resolve
from .expect import is_explicit, step_ok
from .message import dot_stuff, is_ascii
from .options import validate_options
from .queue_id import extract_queue_id
from .reply import ReplyError, ReplyLimits, ReplyReader
from .tlsinfo import certificate_summary, classify_verify_error, client_context, session_details
from .transcript import MASK, Redactor, Transcript

CRLF = b'\r\n'
_CLOSED_QUIETLY = (errors.CONNECTION_CLOSED, errors.CONNECTION_RESET)
# Automatic slow threshold: this much, plus a few network round trips (the TCP connect time).
SLOW_BASE_SECONDS = 0.25
SLOW_RTT_FACTOR = 4
_TRANSACTION_STEPS = ('message', 'data', 'rcpt', 'mail', 'auth', 'ehlo_tls', 'starttls', 'helo', 'ehlo', 'banner', 'connect')


_TLS_UNUSED = {
    'mode': None, 'used': False, 'offered': None, 'version': None, 'cipher': None, 'bits': None,
    'server_name': None, 'verified': None, 'verify_error': None, 'verify_message': None, 'certificate': None,
}


class _Abort(Exception):
    """The session cannot go on: the failure is already recorded as a step."""


class _Command(object):
    __slots__ = ('name', 'wire', 'display', 'transcript')

    def __init__(self, name, wire, display, transcript=None):
        self.name = name
        self.wire = wire
        self.display = display
        self.transcript = transcript


def _command(name, text, display=None):
    return _Command(name, text.encode('utf-8') + CRLF, text if display is None else display)


_DEFAULT_LIMITS = ReplyLimits()
# Commands without arguments, built once.
_RSET = _command('rset', 'RSET')
_QUIT = _command('quit', 'QUIT')
_DATA = _command('data', 'DATA')


def xtext(value):
    """RFC 3461 4: xtext encoding for ENVID and ORCPT (non-ASCII goes byte by byte as UTF-8)."""
    return ''.join(chr(byte) if 33 <= byte <= 126 and byte not in (0x2b, 0x3d) else '+%02X' % byte
                   for byte in value.encode('utf-8'))


class SmtpProbe(object):
    """One SMTP conversation with one server. ``run()`` returns the result dict, never raises
    for anything the server or the network does.

    ``opener``/``resolver`` replace the socket layer in tests (a fake transport).
    """

    def __init__(self, options, opener=open_socket, resolver=resolve, limits=None):
        self.options = validate_options(options)
        self._opener = opener
        self._resolver = resolver
        self._limits = limits or _DEFAULT_LIMITS
        auth = self.options['auth']
        self._redact = Redactor()
        self._has_secrets = bool(auth)
        if auth:
            self._redact.add(auth['password'])
            self._redact.add(base64.b64encode(b'\x00' + auth['username'].encode('utf-8') + b'\x00' + auth['password'].encode('utf-8')).decode('ascii'))
        self.transcript = Transcript(self._redact)
        self.steps = []
        self._replies = []
        self.warnings = list(self.options.warnings)
        self.notes = []
        self.capabilities = empty_capabilities()
        self.tls = dict(_TLS_UNUSED, mode=self.options['tls'])
        self.recipients = {}
        self.queued_as = None
        self.message_accepted = False
        self.target = {'host': self.options['host'], 'port': self.options['port'], 'address': None,
                       'ip_version': None, 'source_address': None}
        self.clock = None
        self.conn = None
        self.reader = None
        self._quit_sent = False
        self._closed = False
        self._slow_limit = self.options['slow_threshold'] or SLOW_BASE_SECONDS
        # Queued bookkeeping (step records, notes), done in batches while the server works: see _exchange_one.
        self._backlog = []
        self._flushing = False
        self._speculation = None
        self._plan = None

    # --- public ------------------------------------------------------------------------

    def run(self):
        self.clock = Clock(self.options['deadline'])
        try:
            self._dialogue()
            self._quit()
        except _Abort:
            pass
        finally:
            if self.conn is not None:
                self.conn.close()
        return self._result()

    # --- recording -----------------------------------------------------------------------

    def _enhanced_offered(self):
        return self.capabilities['enhancedstatuscodes']

    def _later(self, function, *args):
        """Queue bookkeeping that nothing reads before the next flush."""
        self._backlog.append((function, args))

    def _flush(self):
        """Run queued bookkeeping in order. Called while a reply is awaited, and before anything reads
        steps, notes or recipients."""
        if self._flushing or not (self._backlog or self.transcript.unsettled):
            return
        self._flushing = True
        try:
            backlog = self._backlog
            index = 0
            while index < len(backlog):
                function, args = backlog[index]
                index += 1
                function(*args)
            del backlog[:]
            self.transcript.settle()
        finally:
            self._flushing = False

    def _record(self, name, command, reply=None, started=None, condition=None, message=None, ok=None, waited=None,
                ended=None, attempts=None):
        """Record a step now (after whatever is queued); returns the step."""
        self._flush()
        return self._store_step(name, command, reply, started, condition, message, ok, waited, ended, attempts)

    def _store_step(self, name, command, reply, started, condition=None, message=None, ok=None, waited=None, ended=None,
                    attempts=None, enhanced_offered=None):
        """``enhanced_offered``: whether ENHANCEDSTATUSCODES was offered when the reply came (a queued
        step is stored later, possibly after a new EHLO)."""
        if started is None:
            elapsed = 0.0
        else:
            elapsed = (time.monotonic() if ended is None else ended) - started
        if reply is None:
            enhanced = reply_dict = code = found = None
        else:
            code = reply.code
            found = reply.enhanced
            if enhanced_offered is None:
                enhanced_offered = self.capabilities['enhancedstatuscodes']
            enhanced = found if reply.enhanced_trusted(enhanced_offered) else None
            reply_dict = {'code': code, 'enhanced': enhanced, 'lines': reply.lines, 'text': reply.text}
        if ok is None:
            ok = step_ok(name, code, found, condition, self.options['expect'])
        step = {
            'name': name,
            'command': command,
            'reply': reply_dict,
            'elapsed_ms': round(elapsed * 1000.0, 3),
            'ok': bool(ok),
            'error': condition,
            'error_message': message,
        }
        if attempts is not None:
            step['attempts'] = attempts
        if reply is not None:
            if reply.bare_lf:
                self._note(errors.REPLY_BARE_LF, 'the %s reply ended lines with a bare LF instead of CRLF' % name)
            if waited is None:
                waited = elapsed
            if ok and waited > self._slow_limit:
                step['slow'] = True
                self._note(errors.TARPIT, 'the %s reply took %.2f s (slow but valid)' % (name, waited))
        self.steps.append(step)
        self._replies.append((reply, enhanced))
        return step

    def _note(self, condition, text):
        self._flush()
        for known, _text in self.notes:
            if known == condition:
                return
        self.notes.append((condition, text))

    # --- wire ----------------------------------------------------------------------------

    def _exchange(self, commands, record=True):
        """Send commands in one write (a pipelined group, or a single command) and read one reply each.

        Returns the list of (reply, started). A transport or protocol failure is recorded on the
        step it hit (later steps are recorded as unanswered) and raises _Abort.
        """
        if len(commands) == 1:
            return [self._exchange_one(commands[0], record)]
        self.transcript.sent_lines([line for command in commands for line in (command.transcript or (command.display,))])
        started = time.monotonic()
        conn = self.conn
        conn.begin()
        try:
            conn.send(b''.join([command.wire for command in commands]))
        except TransportError as exc:
            self._send_failed(commands, started, exc)
        if commands[-1].name == 'quit':
            self._quit_sent = True
        # The commands are on their way: do the bookkeeping of earlier steps while the server works.
        self._flush()
        results = []
        previous = started
        for index, command in enumerate(commands):
            if index:
                conn.begin()
            try:
                reply = self.reader.read_reply()
            except (ReplyError, TransportError) as exc:
                self._read_failed(commands, index, started, self._reset_as_close(exc))
            arrived = time.monotonic()
            self.transcript.received(reply.lines)
            if record:
                # In a pipelined group the server's own time for a reply is since the previous one.
                self._later(self._store_step, command.name, command.display, reply, started, None, None, None,
                            arrived - previous, arrived, None, self.capabilities['enhancedstatuscodes'])
            previous = arrived
            results.append((reply, started))
            if reply.code == 421 and command.name != 'quit':
                self._closing(commands, index, reply, started, record)
        if self.reader.pending:
            self._check_unrequested(commands[-1].name)
        return results

    def _exchange_one(self, command, record=True, meanwhile=None):
        """One command and its reply: (reply, started). The lock-step path, kept short because it runs
        between two network waits. ``meanwhile`` is work to do while the server answers.

        Bookkeeping is queued and done in batches while the banner, a pipelined group or QUIT is
        awaited: a few batches cost less than a little work in every short wait.
        """
        self.transcript.sent_lines(command.transcript or (command.display,))
        started = time.monotonic()
        conn = self.conn
        conn.begin()
        try:
            conn.send(command.wire)
        except TransportError as exc:
            self._send_failed((command,), started, exc)
        if command.name == 'quit':
            self._quit_sent = True
            self._flush()
            self._speculate()
        elif meanwhile is not None:
            meanwhile()
        try:
            reply = self.reader.read_reply()
        except (ReplyError, TransportError) as exc:
            self._read_failed((command,), 0, started, self._reset_as_close(exc))
        arrived = time.monotonic()
        self.transcript.received(reply.lines)
        if record:
            self._later(self._store_step, command.name, command.display, reply, started, None, None, None, None, arrived,
                        None, self.capabilities['enhancedstatuscodes'])
        if reply.code == 421 and command.name != 'quit':
            self._closing((command,), 0, reply, started, record)
        if self.reader.pending:
            self._check_unrequested(command.name)
        return reply, started

    def _send_failed(self, commands, started, exc):
        exc = self._reset_as_close(exc)
        self.transcript.event(exc.message)
        quiet = exc.condition in _CLOSED_QUIETLY and [command.name for command in commands] == ['quit']
        for command in commands:
            self._record(command.name, command.display, None, started, None if quiet else exc.condition, exc.message,
                         ok=True if quiet else None)
        self._closed = True
        raise _Abort()

    def _closing(self, commands, index, reply, started, recorded):
        """A 421 reply (RFC 5321 3.8): the server is closing the channel; nothing more will be answered."""
        command = commands[index]
        if not recorded:
            self._record(command.name, command.display, reply, started)
        self.transcript.event('the server is closing the connection (421)')
        for rest in commands[index + 1:]:
            self._record(rest.name, rest.display, None, started, errors.CONNECTION_CLOSED,
                         'not answered: the server closed the session with 421')
        self._closed = True
        raise _Abort()

    def _reset_as_close(self, exc):
        """A reset before any byte of the reply is our write meeting a socket the server already closed.

        Whether the kernel reports that as end of stream or as a reset is a race, so both mean
        "closed"; a reset in the middle of a reply stays a reset.
        """
        if isinstance(exc, TransportError) and exc.condition == errors.CONNECTION_RESET and not self.reader.pending:
            return TransportError(errors.CONNECTION_CLOSED, 'the server closed the connection (%s)' % exc.message)
        return exc

    def _check_unrequested(self, name):
        if self.reader.pending:
            extra = self.reader.discard_pending()
            self.transcript.received([extra.decode('utf-8', 'replace').rstrip('\r\n')])
            self._note(errors.UNEXPECTED_REPLY, 'the server sent data nobody asked for after the %s reply' % name)

    def _read_failed(self, commands, index, started, exc):
        if isinstance(exc, ReplyError) and exc.lines:
            self.transcript.received(exc.lines)
        self.transcript.event(exc.message)
        command = commands[index]
        if command.name == 'quit' and exc.condition in _CLOSED_QUIETLY:
            # Closing without 221 is common and harmless.
            self._record('quit', command.display, None, started, None, exc.message, ok=True)
            self._closed = True
            raise _Abort()
        self._record(command.name, command.display, None, started, exc.condition, exc.message)
        for rest in commands[index + 1:]:
            self._record(rest.name, rest.display, None, started, exc.condition, 'not answered: the session ended earlier')
        self._closed = True
        raise _Abort()

    def _read_alone(self, name):
        """Read a reply nobody asked for by a command (the banner)."""
        started = time.monotonic()
        self.conn.begin()
        self._flush()
        try:
            reply = self.reader.read_reply()
        except (ReplyError, TransportError) as exc:
            self._read_failed([_Command(name, b'', None)], 0, started, exc)
        self.transcript.received(reply.lines)
        self._later(self._store_step, name, None, reply, started, None, None, None, None, time.monotonic(), None,
                    self.capabilities['enhancedstatuscodes'])
        if reply.code == 421:
            self._closed = True
            raise _Abort()
        self._check_unrequested(name)
        return reply

    def _synthetic_failure(self, name, condition, message):
        """A step that failed before anything was sent (e.g. STARTTLS required but not offered)."""
        self.transcript.event(message)
        self._record(name, None, None, None, condition, message)

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
        if not self._greeting_and_hello():
            return
        if self._stop_after('ehlo'):
            return
        if options['tls'] in ('starttls', 'required') and not self.conn.tls:
            if not self._starttls():
                return
        if self._stop_after('starttls'):
            return
        if options['auth']:
            if not self._auth():
                return
        if self._stop_after('auth'):
            return
        self._transaction()

    def _greeting_and_hello(self):
        reply = self._read_alone('banner')
        if reply.code // 100 != 2 or self._stop_after('banner'):
            return False
        return self._hello('ehlo')

    def _connect(self, verify):
        self._flush()
        options = self.options
        started = time.monotonic()
        command = 'OPEN %s %d' % (options['host'], options['port'])
        try:
            candidates = self._resolver(options['host'], options['port'], options['ip_version'], options['addresses'],
                                        options['source_address'])
            sock, sockaddr, attempts = connect_any(candidates, self.clock, options['connect_timeout'],
                                                   options['source_address'], self._opener)
        except TransportError as exc:
            self.transcript.event(exc.message)
            self._record('connect', command, None, started, exc.condition, exc.message)
            raise _Abort()
        except ConnectFailed as exc:
            for attempt in exc.attempts:
                self.transcript.event('connecting to %s failed: %s' % (attempt['address'], attempt['message']))
            step = self._record('connect', command, None, started, exc.condition, exc.message)
            step['attempts'] = exc.attempts
            raise _Abort()
        if self.conn is not None:
            self.conn.close()
        self.conn = Connection(sock, self.clock, options['command_timeout'])
        self.reader = ReplyReader(self.conn.recv, self._limits)
        self._quit_sent = False
        self._closed = False
        self._later(self._connected, sockaddr, attempts)
        condition = message = None
        if options['tls'] == 'implicit':
            self._flush()
            outcome, condition, message = self._handshake(verify)
            if outcome == 'verify':
                self._verify_failed(condition, message)
                ok = None if options['tls_verify'] else step_ok('connect', None, None, None, options['expect'])
                step = self._record('connect', command + ' (implicit TLS)', None, started, condition, message, ok=ok)
                step['attempts'] = attempts
                self._after_verify_failure(implicit=True)
                return
            if outcome == 'failed':
                step = self._record('connect', command + ' (implicit TLS)', None, started, condition, message)
                step['attempts'] = attempts
                raise _Abort()
            command += ' (implicit TLS)'
            condition, message = self._min_days_condition()
        self._later(self._store_step, 'connect', command, None, started, condition, message, None, None, time.monotonic(),
                    attempts)

    def _connected(self, sockaddr, attempts):
        """Bookkeeping of a new connection, done while the banner is awaited."""
        local = self.conn.local()
        target = self.target
        target['address'] = sockaddr[0]
        target['ip_version'] = 6 if ':' in sockaddr[0] else 4
        target['source_address'] = local[0] if local else None
        self.transcript.event('connected to %s port %d from %s' % (sockaddr[0], sockaddr[1], target['source_address']))
        if not self.options['slow_threshold']:
            self._slow_limit = SLOW_BASE_SECONDS + SLOW_RTT_FACTOR * attempts[-1]['elapsed_ms'] / 1000.0

    def _hello(self, name):
        helo_name = self.options['helo_name']
        reply, _started = self._exchange_one(_command(name, 'EHLO %s' % helo_name),
                                             meanwhile=self._make_plan if self._plan is None else None)
        if reply.code // 100 == 2:
            self.capabilities = parse_ehlo(reply.texts)
            if name == 'ehlo' and self.options['tls'] != 'implicit':
                self.tls['offered'] = self.capabilities['starttls']
            return True
        self._flush()
        step = self.steps[-1]
        if name != 'ehlo' or reply.code // 100 != 5 or (is_explicit('ehlo', self.options['expect']) and step['ok']):
            return False
        # The guide's note: a server without ESMTP rejects EHLO; say HELO instead.
        helo_reply, _started = self._exchange_one(_command('helo', 'HELO %s' % helo_name))
        if helo_reply.code // 100 != 2:
            return False
        if not is_explicit('ehlo', self.options['expect']):
            step['ok'] = True
            step['fallback'] = 'helo'
        self.capabilities = empty_capabilities(esmtp=False, greeting=helo_reply.texts[0] if helo_reply.texts else None)
        self.tls['offered'] = False
        self.warnings.append('the server rejected EHLO and accepted HELO: no ESMTP extensions (no STARTTLS, SIZE, DSN, PIPELINING)')
        return True

    # --- TLS -----------------------------------------------------------------------------

    def _handshake(self, verify):
        """Run the TLS handshake; returns (outcome, condition, message) with outcome ok|verify|failed."""
        options = self.options
        server_name = options['server_name'] or options['host']
        self.tls['server_name'] = server_name
        context = client_context(verify, options['ca_path'])
        try:
            tls_sock = self.conn.start_tls(context, server_name, options['command_timeout'])
        except ssl.SSLCertVerificationError as exc:
            condition, message = classify_verify_error(exc)
            self.transcript.event('TLS certificate verification failed: %s' % message)
            return 'verify', condition, message
        except TransportError as exc:
            self.transcript.event(exc.message)
            self._closed = True
            return 'failed', exc.condition, exc.message
        self.reader = ReplyReader(self.conn.recv, self._limits)
        self.tls.update(session_details(tls_sock))
        self.tls['used'] = True
        try:
            der = tls_sock.getpeercert(binary_form=True)
        except (ValueError, OSError):
            der = None
        self.tls['certificate'] = certificate_summary(der)
        if verify:
            self.tls['verified'] = True
        self.transcript.event('TLS established: %s %s%s' % (
            self.tls['version'], self.tls['cipher'], ', certificate verified' if verify else ''))
        return 'ok', None, None

    def _verify_failed(self, condition, message):
        self.tls['verified'] = False
        self.tls['verify_error'] = condition
        self.tls['verify_message'] = message

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
        self.warnings.append('TLS certificate not verified (%s): %s; continuing because tls_verify is false'
                             % (self.tls['verify_error'], self.tls['verify_message']))
        self._reconnect_unverified(implicit)

    def _reconnect_unverified(self, implicit, read_only=False):
        self._connect(verify=False)
        if implicit:
            return
        reply = self._read_alone('banner')
        if reply.code // 100 != 2 or not self._hello('ehlo'):
            raise _Abort()
        if not self.capabilities.get('starttls'):
            self._synthetic_failure('starttls', errors.STARTTLS_NOT_OFFERED, 'STARTTLS was not offered on the second connection')
            raise _Abort()
        reply, started = self._exchange_one(_command('starttls', 'STARTTLS'), record=False)
        if reply.code // 100 != 2:
            self._record('starttls', 'STARTTLS', reply, started)
            raise _Abort()
        outcome, condition, message = self._handshake(False)
        if outcome == 'ok':
            condition, message = self._min_days_condition()
        self._record('starttls', 'STARTTLS', reply, started, condition, message)
        if outcome != 'ok':
            raise _Abort()
        if not read_only and not self._hello('ehlo_tls'):
            raise _Abort()

    def _starttls(self):
        options = self.options
        self.tls['offered'] = bool(self.capabilities.get('starttls'))
        if not self.tls['offered']:
            if options['tls'] == 'required':
                self._synthetic_failure('starttls', errors.STARTTLS_NOT_OFFERED, 'the server did not offer STARTTLS and tls is required')
                return False
            if options['auth']:
                # Credentials never cross the network in clear text unless tls: none says so.
                self._synthetic_failure('starttls', errors.STARTTLS_NOT_OFFERED, 'the server did not offer STARTTLS; credentials are not '
                                        'sent unencrypted (set tls: none to allow plain-text AUTH)')
                return False
            self.warnings.append('the server did not offer STARTTLS: the session continues unencrypted')
            return True
        reply, started = self._exchange_one(_command('starttls', 'STARTTLS'), record=False)
        if reply.code // 100 != 2:
            self._record('starttls', 'STARTTLS', reply, started)
            return False
        if self.reader.pending:
            # Bytes sent before the handshake would be read as if protected by TLS (CVE-2011-0411 style).
            self.reader.discard_pending()
            self._note(errors.UNEXPECTED_REPLY, 'the server sent data after its STARTTLS reply; it was discarded')
        outcome, condition, message = self._handshake(True)
        if outcome == 'verify':
            self._verify_failed(condition, message)
            self._record('starttls', 'STARTTLS', reply, started, condition, message,
                         ok=None if options['tls_verify'] else step_ok('starttls', reply.code, reply.enhanced, None, options['expect']))
            self._after_verify_failure(implicit=False)
            return True
        if outcome == 'ok':
            condition, message = self._min_days_condition()
        self._record('starttls', 'STARTTLS', reply, started, condition, message)
        if outcome != 'ok':
            raise _Abort()
        return self._hello('ehlo_tls')

    def _min_days_condition(self):
        """(condition, message) when the certificate expires sooner than tls_min_days; the session goes on."""
        wanted = self.options['tls_min_days']
        days_left = (self.tls['certificate'] or {}).get('days_left')
        if wanted is None or days_left is None or days_left >= wanted:
            return None, None
        message = 'the certificate expires in %d days (not after %s), fewer than tls_min_days (%d)' % (
            days_left, self.tls['certificate'].get('not_after'), wanted)
        self.transcript.event(message)
        return errors.TLS_CERT_EXPIRES_SOON, message

    # --- AUTH ----------------------------------------------------------------------------

    def _auth(self):
        auth = self.options['auth']
        offered = self.capabilities.get('auth') or []
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
            self._synthetic_failure('auth', errors.AUTH_MECHANISM_UNSUPPORTED, 'the server offers %s, not %s'
                                    % (', '.join(offered), 'PLAIN or LOGIN' if wanted == 'AUTO' else wanted))
            return False
        username = auth['username'].encode('utf-8')
        password = auth['password'].encode('utf-8')
        if mechanism == 'PLAIN':
            blob = base64.b64encode(b'\x00' + username + b'\x00' + password).decode('ascii')
            reply, _started = self._exchange_one(_command('auth', 'AUTH PLAIN %s' % blob, 'AUTH PLAIN %s' % MASK))
            if reply.code == 334:
                reply, _started = self._exchange_one(_command('auth', blob, MASK))
        else:
            reply, _started = self._exchange_one(_command('auth', 'AUTH LOGIN'))
            for secret in (username, password):
                if reply.code != 334:
                    break
                reply, _started = self._exchange_one(_command('auth', base64.b64encode(secret).decode('ascii'), MASK))
        return reply.code // 100 == 2

    # --- transaction ---------------------------------------------------------------------

    def _mail_parameters(self, message_size, eight_bit, utf8):
        caps = self.capabilities
        params = []
        limit = caps.get('size')
        if message_size is not None and limit is not None:
            params.append('SIZE=%s' % message_size)
            if limit and message_size > limit:
                self._note(errors.SIZE_EXCEEDED, 'the message (%s bytes) is larger than the server SIZE limit (%s)' % (message_size, limit))
        if eight_bit:
            params.append('BODY=8BITMIME')
        if utf8:
            params.append('SMTPUTF8')
        dsn = self.options['dsn']
        if dsn and caps.get('dsn'):
            if dsn['ret']:
                params.append('RET=%s' % dsn['ret'].upper())
            if dsn['envid']:
                params.append('ENVID=%s' % xtext(dsn['envid']))
        return ''.join(' ' + param for param in params)

    def _rcpt_parameters(self, recipient):
        dsn = self.options['dsn']
        if not dsn or not self.capabilities.get('dsn'):
            return ''
        params = []
        if dsn['notify']:
            params.append('NOTIFY=%s' % ','.join(word.upper() for word in dsn['notify']))
        if dsn['orcpt']:
            params.append('ORCPT=rfc822;%s' % xtext(recipient))
        return ''.join(' ' + param for param in params)

    def _make_plan(self):
        """What the transaction needs that does not depend on the server's capabilities, worked out while
        the first EHLO is answered."""
        options = self.options
        sending = options['send_message'] and options['quit_after'] not in ('mail', 'rcpt')
        needs_utf8 = not all(is_ascii(address) for address in [options['mail_from']] + options['rcpt_to'])
        body = options['content']['body'] if sending else None
        body_ascii = body is None or is_ascii(body)
        plain_message = plain_commands = None
        if sending and body_ascii and not needs_utf8:
            # Neither 8BITMIME nor SMTPUTF8 can change this message: render it now.
            raw = options.message_template.render()
            plain_message = (raw, dot_stuff(raw))
        if not sending and not needs_utf8 and not options['dsn']:
            # No SIZE, BODY, SMTPUTF8 or DSN parameter can apply: the commands are known now.
            plain_commands = self._transaction_commands('')
        self._plan = (sending, needs_utf8, body_ascii, plain_message, plain_commands)

    def _transaction_commands(self, mail_params):
        """(MAIL command, RCPT commands) for this probe."""
        options = self.options
        mail = _command('mail', 'MAIL FROM:<%s>%s' % (options['mail_from'], mail_params))
        if options['quit_after'] == 'mail':
            return mail, []
        return mail, [_command('rcpt', 'RCPT TO:<%s>%s' % (recipient, self._rcpt_parameters(recipient)))
                      for recipient in options['rcpt_to']]

    def _transaction(self):
        options = self.options
        caps = self.capabilities
        quit_after = options['quit_after']
        if self._plan is None:
            self._make_plan()
        sending, needs_utf8, body_ascii, plain_message, plain_commands = self._plan
        if needs_utf8 and not caps.get('smtputf8'):
            self.warnings.append('an address is not ASCII but the server did not offer SMTPUTF8: expect a rejection')
        utf8 = needs_utf8 and bool(caps.get('smtputf8'))
        if options['dsn'] and not caps.get('dsn'):
            self.warnings.append('the server did not offer DSN: NOTIFY/RET/ENVID/ORCPT were not sent')
            self._note(errors.DSN_NOT_OFFERED, 'DSN parameters were dropped because the server does not offer DSN')

        wire_message = None
        if plain_commands is not None:
            mail, rcpts = plain_commands
        elif sending:
            eight_bit = bool(caps.get('eightbitmime')) and not body_ascii
            if plain_message is not None:
                raw, wire_message = plain_message
            else:
                raw = options.message_template.render(eight_bit=eight_bit, utf8=utf8)
                wire_message = dot_stuff(raw)
            eight_bit = eight_bit and b'Content-Transfer-Encoding: 8bit' in raw
            mail, rcpts = self._transaction_commands(self._mail_parameters(len(raw), eight_bit, utf8))
        else:
            mail, rcpts = self._transaction_commands(self._mail_parameters(None, False, utf8))
        pipelined = options['pipelining'] == 'always' or (options['pipelining'] == 'auto' and caps.get('pipelining'))

        if pipelined:
            group = [mail] + rcpts
            group += [_DATA] if sending else [_RSET, _QUIT]
            replies = [reply for reply, _started in self._exchange(group)]
            self._later(self._note_recipients, replies[1:1 + len(rcpts)])
            if not sending:
                return
            data_reply = replies[-1]
        else:
            mail_reply, _started = self._exchange_one(mail)
            if mail_reply.code // 100 != 2:
                return
            rcpt_replies = []
            for rcpt in rcpts:
                reply, _started = self._exchange_one(rcpt)
                rcpt_replies.append(reply)
            self._later(self._note_recipients, rcpt_replies)
            if not sending or not any(reply.code // 100 == 2 for reply in rcpt_replies):
                self._rset_and_quit(False)
                return
            data_reply, _started = self._exchange_one(_DATA)
        if data_reply.code != 354:
            return
        if quit_after == 'data':
            self.transcript.event('quit_after data: closing without sending the message (no final dot, nothing is delivered)')
            self.conn.close()
            self._closed = True
            return
        self._flush()
        if not any(entry['accepted'] for entry in self.recipients.values()):
            # RFC 2920 3.1: DATA was accepted although no recipient was; end it with a lone dot.
            self.warnings.append('the server accepted DATA without any accepted recipient; sent an empty end of data')
            self._exchange_one(_Command('message', b'.' + CRLF, '.'))
            return
        self._send_message(wire_message, pipelined)

    def _send_message(self, wire_message, pipelined):
        lines = wire_message.decode('utf-8', 'replace').split('\r\n')[:-1]
        command = _Command('message', wire_message, '<message: %d bytes, %d lines>' % (len(wire_message), len(lines)), lines)
        group = [command, _QUIT] if pipelined else [command]
        replies = self._exchange(group)
        reply = replies[0][0]
        if reply.code // 100 == 2:
            self.message_accepted = True
            self.queued_as = extract_queue_id(reply.text)

    def _note_recipients(self, replies):
        offered = self._enhanced_offered()
        for recipient, reply in zip(self.options['rcpt_to'], replies):
            self.recipients[recipient] = {
                'accepted': reply.code // 100 == 2,
                'code': reply.code,
                'enhanced': reply.enhanced if reply.enhanced_trusted(offered) else None,
                'text': reply.text,
            }

    def _rset_and_quit(self, pipelined):
        if pipelined:
            self._exchange([_RSET, _QUIT])
            return
        self._exchange_one(_RSET)
        self._quit()

    def _quit(self):
        if self._quit_sent or self._closed or self.conn is None:
            return
        self._exchange_one(_QUIT)
        self._closed = True

    # --- result --------------------------------------------------------------------------

    def _recipients_result(self):
        # Recipients whose RCPT was never answered still get an entry.
        result = dict(self.recipients)
        for step in self.steps:
            if step['name'] != 'rcpt' or step['reply'] is not None:
                continue
            address = step['command'].split('<', 1)[-1].split('>', 1)[0]
            result.setdefault(address, {'accepted': False, 'code': None, 'enhanced': None, 'text': step['error_message']})
        return result

    def _diagnosis(self, passed):
        port = self.options['port']
        if port == 2525 and passed:
            self._note(errors.PORT_2525_NOTE, 'port 2525 is where Exchange runs its internal receive connector')
        subject, expected_negative = self._diagnosis_subject(passed)
        step = self.steps[subject]
        reply, enhanced = self._replies[subject]
        code = reply.code if reply is not None else None
        slow_steps = [each for each in self.steps if each.get('slow')]
        if passed and not expected_negative and slow_steps:
            # Slow but valid: the tarpit entry (status ok) explains it better than plain success.
            diagnosis = diagnose(step=slow_steps[0]['name'], error=errors.TARPIT, port=port)
        elif passed and not expected_negative:
            diagnosis = diagnose_success(step=step['name'], code=code, enhanced=enhanced)
        else:
            diagnosis = diagnose(
                step=step['name'], code=code, enhanced=enhanced, error=step['error'],
                text=reply.text if reply is not None else step['error_message'],
                port=port, enhanced_trusted=enhanced is not None)
        if passed and diagnosis.get('status') != 'ok':
            # A negative test that got its negative reply: the dialogue is fine, the reply is explained.
            diagnosis['reply_status'] = diagnosis.get('status')
            diagnosis['status'] = 'ok'
        diagnosis['expected'] = expected_negative
        diagnosis['notes'] = list(diagnosis.get('notes') or []) + ['%s: %s' % (condition, text) for condition, text in self.notes]
        diagnosis['conditions'] = [condition for condition, _text in self.notes]
        return diagnosis

    def _diagnosis_subject(self, passed):
        """(step index, expected negative) the diagnosis describes: the first failed step; on a pass,
        the first negative reply the user expected, else the last substantive step."""
        if not passed:
            for index, step in enumerate(self.steps):
                if not step['ok']:
                    return index, False
        for index, step in enumerate(self.steps):
            reply = step['reply']
            negative = step['error'] is not None or (reply is not None and reply['code'] // 100 in (4, 5))
            if negative and is_explicit(step['name'], self.options['expect']):
                return index, True
        names = [step['name'] for step in self.steps]
        for name in _TRANSACTION_STEPS:
            if name in names and (name != 'data' or 'message' in names):
                return len(names) - 1 - names[::-1].index(name), False
        return len(names) - 1, False

    def _speculate(self):
        """While QUIT's reply is awaited, build the result it will have if QUIT is answered with 2xx."""
        notes_before = len(self.notes)
        passed = bool(self.steps) and all(step['ok'] for step in self.steps)
        result = self._result_without_timing(passed, self._diagnosis(passed), self._recipients_result())
        self._speculation = (len(self.steps), notes_before, len(self.notes), result)

    def _speculated_result(self, passed):
        """The result built during QUIT, when what came after changes nothing it depends on; else None."""
        steps_before, notes_before, notes_after, result = self._speculation
        self._speculation = None
        unchanged = passed == result['passed'] and len(self.notes) == notes_after
        for step in self.steps[steps_before:]:
            reply = step['reply']
            if not (step['name'] == 'quit' and step['ok'] and step['error'] is None and not step.get('slow')
                    and (reply is None or reply['code'] // 100 == 2)):
                unchanged = False
        if unchanged:
            return result
        # Notes the speculation added (the port 2525 note) are decided again.
        del self.notes[notes_before:notes_after]
        return None

    def _result_without_timing(self, passed, diagnosis, recipients):
        return {
            'target': dict(self.target),
            'steps': self.steps,
            'capabilities': self.capabilities,
            'tls': self.tls,
            'recipients': recipients,
            'queued_as': self.queued_as,
            'message_accepted': self.message_accepted,
            'transcript': None,
            'diagnosis': diagnosis,
            'passed': passed,
            'elapsed_ms': None,
            'warnings': self.warnings,
        }

    def _result(self):
        self._flush()
        passed = bool(self.steps) and all(step['ok'] for step in self.steps)
        result = self._speculated_result(passed) if self._speculation is not None else None
        if result is None:
            result = self._result_without_timing(passed, self._diagnosis(passed), self._recipients_result())
        result['transcript'] = self.transcript.as_list()
        result['elapsed_ms'] = round(self.clock.elapsed_ms(), 3)
        if self._has_secrets:
            result = _scrub(result, self._redact)
        return result


def _scrub(value, redact):
    """Apply the redactor to every string of the result (the safety net for echoed secrets)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return dict((key, _scrub(item, redact)) for key, item in value.items())
    if isinstance(value, list):
        return [_scrub(item, redact) for item in value]
    return value


def run_probe(options, opener=open_socket, resolver=resolve, limits=None):
    """Validate ``options`` (a dict or ProbeOptions) and run one probe; returns the result dict.

    Raises ProbeOptionError (before any connection) for options that must not be used.
    """
    return SmtpProbe(options, opener=opener, resolver=resolver, limits=limits).run()
