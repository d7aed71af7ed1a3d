# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""SMTP smuggling test (SEC Consult 2023; CVE-2023-51764 Postfix, CVE-2023-51765 Sendmail, CVE-2023-51766 Exim).

One connection per end-of-data sequence. After MAIL, RCPT and DATA (the SmtpProbe dialogue: connection, TLS,
EHLO and reply parsing are the engine's), the client writes in one go: a test message whose last line is
followed by the non-standard sequence, a smuggled ``MAIL FROM``/``RCPT TO``/``DATA`` with a second message
carrying the same marker, the real ``<CR><LF>.<CR><LF>``, and ``QUIT``.

A server that ends the data only at ``<CR><LF>.<CR><LF>`` reads everything as one message: one reply to the data,
then 221 to QUIT. A server that ends it at the sequence answers the smuggled commands too (250, 250, 354, 250)
before the 221: it is exposed. ``decide`` makes that call from the reply codes alone.
"""

from __future__ import annotations

import secrets
import time

from .connection import TransportError
from .dialogue import CRLF, _DATA, SmtpProbe, _command
from .reply import ReplyError

# name, bytes, display. The first five are SEC Consult's; the others complete the CR/LF combinations.
SEQUENCES = (
    ('lf_dot_lf', b'\n.\n', '<LF>.<LF>'),
    ('lf_dot_crlf', b'\n.\r\n', '<LF>.<CR><LF>'),
    ('cr_dot_crlf', b'\r.\r\n', '<CR>.<CR><LF>'),
    ('crlf_dot_cr', b'\r\n.\r', '<CR><LF>.<CR>'),
    ('crlf_dot_lf', b'\r\n.\n', '<CR><LF>.<LF>'),
    ('lf_dot_cr', b'\n.\r', '<LF>.<CR>'),
    ('cr_dot_cr', b'\r.\r', '<CR>.<CR>'),
    ('cr_dot_lf', b'\r.\n', '<CR>.<LF>'),
)
SEQUENCE_NAMES = tuple(name for name, _wire, _display in SEQUENCES)
VERDICTS = ('safe', 'exposed', 'inconclusive')
# More replies than an exposed server gives (data, MAIL, RCPT, DATA, data, QUIT) end the reading.
MAX_REPLIES = 8


def decide(codes):
    """Verdict from the reply codes read after the message, the smuggled commands and QUIT were written.

    Returns (verdict, ended_at_sequence, smuggled_accepted). Any reply between the first one and the 221 of QUIT
    answers a smuggled command, so the data ended at the sequence: exposed. One reply (accepting or refusing the
    whole message) then 221 or a close: safe. No reply at all: inconclusive.
    """
    if not codes:
        return 'inconclusive', None, False
    rest = codes[1:-1] if codes[-1] == 221 and len(codes) > 1 else codes[1:]
    if rest:
        smuggled_data = 354 in rest
        accepted = smuggled_data and any(code // 100 == 2 for code in rest[rest.index(354) + 1:])
        return 'exposed', True, accepted
    return 'safe', False, False


def message_bytes(sequence, mail_from, rcpt_to, marker, helo):
    """The bytes written after the 354: first message, sequence, smuggled commands and message, real end, QUIT."""
    date = time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime())
    first = CRLF.join(line.encode('utf-8') for line in (
        f'From: <{mail_from}>', f'To: <{rcpt_to}>', f'Date: {date}',
        f'Subject: mailflow smuggling test {marker}',
        'Message-ID: <{}@{}>'.format(marker, helo.strip('[]') or 'mailflow.invalid'), '',
        'A test of end-of-data handling (SMTP smuggling). What follows the non-standard sequence must stay',
        f'part of this message. Marker: {marker}'))
    smuggled = CRLF.join(line.encode('utf-8') for line in (
        f'MAIL FROM:<{mail_from}>', f'RCPT TO:<{rcpt_to}>', 'DATA',
        f'From: <{mail_from}>', f'To: <{rcpt_to}>', f'Date: {date}',
        f'Subject: mailflow smuggled message {marker}', '',
        'This message was smuggled: the server ended the first message at a non-standard sequence.',
        f'Marker: {marker}'))
    return first + sequence + smuggled + CRLF + b'.' + CRLF + b'QUIT' + CRLF


class SmugglingProbe(SmtpProbe):
    """SmtpProbe whose transaction sends one smuggling test instead of a message."""

    def __init__(self, options, sequence, marker, **kwargs):
        super().__init__(options, **kwargs)
        self.sequence = sequence
        self.marker = marker
        self.codes = None
        self.reached_data = False
        self.replies = []

    def _transaction(self):
        options = self.options
        if self._exchange([_command('mail', 'MAIL FROM:<{}>'.format(options['mail_from']))])[0].code // 100 != 2:
            return
        if self._exchange([_command('rcpt', 'RCPT TO:<{}>'.format(options['rcpt_to'][0]))])[0].code // 100 != 2:
            return
        if self._exchange([_DATA])[0].code != 354:
            return
        self.reached_data = True
        name, wire, display = self.sequence
        payload = message_bytes(wire, options['mail_from'], options['rcpt_to'][0], self.marker, self.ehlo_name)
        self.transcript.sent_lines(['<message ending in {}, smuggled MAIL/RCPT/DATA and message, <CR><LF>.<CR><LF>: '
                                    '{} bytes>'.format(display, len(payload) - len(b'QUIT' + CRLF)), 'QUIT'])
        started = time.monotonic()
        self._quit_sent = True
        self.conn.begin()
        try:
            self.conn.send(payload)
        except TransportError as exc:
            self._step('message', display, None, started, exc.condition, exc.message)
            self.codes = []
            return
        codes = []
        while len(codes) < MAX_REPLIES:
            self.conn.begin()
            try:
                reply = self.reader.read_reply()
            except (ReplyError, TransportError) as exc:
                self.transcript.event(exc.message)
                if not codes:
                    self._step('message', display, None, started, exc.condition, exc.message)
                break
            self.transcript.received(reply.lines)
            self._step('message' if not codes else 'after_message', display if not codes else None, reply, started)
            self.replies.append({'code': reply.code, 'text': ' '.join(reply.lines)})
            codes.append(reply.code)
            if reply.code == 221:
                break
        self.codes = codes


def _step_summary(step):
    return {'name': step['name'], 'command': step['command'], 'reply': step['lines'], 'error': step['error'],
            'error_message': step['error_message'], 'elapsed_ms': step['elapsed_ms']}


def probe_sequence(options, sequence, marker, **kwargs):
    """Run one sequence on its own connection; a dict: name, sequence (display), verdict, ended_at_sequence,
    smuggled_accepted, replies (code and text after the message was written), steps, transcript, elapsed_ms."""
    probe = SmugglingProbe(options, sequence, marker, **kwargs)
    raw = probe.run_raw()
    name, _wire, display = sequence
    if probe.reached_data and probe.codes is not None:
        verdict, ended, accepted = decide(probe.codes)
    else:
        verdict, ended, accepted = 'inconclusive', None, False
    failed = [step for step in raw['steps'] if step['error'] or (
        step['lines'] and step['name'] in ('mail', 'rcpt', 'data') and not probe.reached_data)]
    return {'name': name, 'sequence': display, 'verdict': verdict, 'ended_at_sequence': ended,
            'smuggled_accepted': accepted, 'replies': probe.replies,
            'reason': None if verdict != 'inconclusive' else (
                '{}: {}'.format(failed[-1]['name'], failed[-1]['error_message'] or ' '.join(failed[-1]['lines'] or []))
                if failed else 'no reply after the message'),
            'source_address': raw['target']['source_address'], 'address': raw['target']['address'],
            'steps': [_step_summary(step) for step in raw['steps']], 'transcript': raw['transcript'],
            'elapsed_ms': raw['elapsed_ms']}


def new_marker():
    return f'mailflow-smuggling-{secrets.token_hex(6)}'


def run_smuggling(options, sequences=SEQUENCE_NAMES, marker=None, **kwargs):
    """Every named sequence against one server (SmtpProbe options with mail_from and one rcpt_to). A dict:
    marker, sequences (probe_sequence results), exposed (names), safe (names), inconclusive (names), verdict
    (exposed when any sequence is, else inconclusive when any is, else safe)."""
    marker = marker or new_marker()
    chosen = [entry for entry in SEQUENCES if entry[0] in sequences]
    results = [probe_sequence(options, entry, f'{marker}-{entry[0]}', **kwargs) for entry in chosen]
    by_verdict = dict((verdict, [result['name'] for result in results if result['verdict'] == verdict])
                      for verdict in VERDICTS)
    verdict = 'exposed' if by_verdict['exposed'] else ('inconclusive' if by_verdict['inconclusive'] else 'safe')
    return {'marker': marker, 'sequences': results, 'exposed': by_verdict['exposed'], 'safe': by_verdict['safe'],
            'inconclusive': by_verdict['inconclusive'], 'verdict': verdict}
