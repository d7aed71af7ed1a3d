# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The test message: built by the stdlib ``email`` package, then dot-stuffed for DATA (RFC 5321 4.5.2)."""

from __future__ import annotations

import email.policy
import email.utils
import threading
from email.message import EmailMessage

DEFAULT_SUBJECT = 'mailflow test message'
DEFAULT_BODY = 'This is a test message sent by mailops.mailflow smtp_probe.\n'
# RFC 5322 2.1.1: lines longer than this cannot go as 8bit.
_MAX_8BIT_LINE = 998
_STAMPED = frozenset(('date', 'message-id'))


def is_ascii(text):
    return text.isascii()


def build_message(mail_from, rcpt_to, helo_name, subject=None, body=None, headers=None,
                  from_header=None, to_header=None, eight_bit=False, utf8=False, stamp=True):
    """Return the message as bytes with CRLF line ends (not yet dot-stuffed).

    ``eight_bit``: the server offered 8BITMIME, so a non-ASCII body may go as 8bit; otherwise
    the email package picks quoted-printable or base64. ``utf8``: SMTPUTF8 is in use, so
    headers may carry raw UTF-8. ``stamp``: add Date and Message-ID (a template leaves them out).
    """
    policy = email.policy.SMTPUTF8 if utf8 else email.policy.SMTP
    # Without 8BITMIME the body must be 7-bit: this makes the email package pick quoted-printable or base64.
    message = EmailMessage(policy=policy if eight_bit else policy.clone(cte_type='7bit'))
    message['From'] = from_header or mail_from or (f'MAILER-DAEMON@{helo_name}' if helo_name else 'MAILER-DAEMON')
    message['To'] = to_header or ', '.join(rcpt_to)
    message['Subject'] = DEFAULT_SUBJECT if subject is None else subject
    if stamp:
        message['Date'] = email.utils.formatdate(localtime=True)
        message['Message-ID'] = email.utils.make_msgid(domain=helo_name)
    for name, value in (headers or {}).items():
        if name in message:
            message.replace_header(name, value)
        else:
            message[name] = value
    text = DEFAULT_BODY if body is None else body
    if not text.endswith('\n'):
        text += '\n'
    if is_ascii(text):
        message.set_content(text, charset='us-ascii')
    elif eight_bit and max(len(line.encode('utf-8')) for line in text.splitlines()) <= _MAX_8BIT_LINE:
        message.set_content(text, charset='utf-8', cte='8bit')
    else:
        message.set_content(text, charset='utf-8')
    return message.as_bytes(policy=policy)


class MessageTemplate:
    """The message of one set of options, built once per (8bit, SMTPUTF8) variant and stamped
    with a fresh Date and Message-ID for each probe: building with the email package costs about
    a millisecond, and a fan-out sends the same message to many servers.

    ``helo_name`` is the default domain of the Message-ID (and of the null sender's From); ``render``
    takes the name the probe said in EHLO instead, when the default was not known in advance.
    """

    def __init__(self, mail_from, rcpt_to, helo_name, subject=None, body=None, headers=None, from_header=None, to_header=None):
        self._args = (mail_from, rcpt_to, subject, body, headers, from_header, to_header)
        self._helo_name = helo_name
        # Only a null sender without a From header puts the domain into the cached part.
        self._from_uses_domain = not from_header and not mail_from
        self._user_stamped = set(name.lower() for name in (headers or {})) & _STAMPED
        self._variants = {}
        self._lock = threading.Lock()

    def render(self, eight_bit=False, utf8=False, domain=None):
        """Message bytes (CRLF, not dot-stuffed) with its own Date and Message-ID."""
        domain = domain or self._helo_name
        key = (eight_bit, utf8, domain if self._from_uses_domain else None)
        with self._lock:
            body = self._variants.get(key)
            if body is None:
                mail_from, rcpt_to, subject, text, headers, from_header, to_header = self._args
                body = self._variants[key] = build_message(mail_from, rcpt_to, domain, subject, text, headers, from_header,
                                                           to_header, eight_bit=eight_bit, utf8=utf8, stamp=False)
        stamp = []
        if 'date' not in self._user_stamped:
            stamp.append(f'Date: {email.utils.formatdate(localtime=True)}\r\n')
        if 'message-id' not in self._user_stamped:
            stamp.append(f'Message-ID: {email.utils.make_msgid(domain=domain)}\r\n')
        return ''.join(stamp).encode('utf-8') + body


def dot_stuff(data):
    """Wire form for DATA: CRLF line ends, leading dots doubled, ending in CRLF.CRLF."""
    lines = data.replace(b'\r\n', b'\n').replace(b'\r', b'\n').split(b'\n')
    if lines and lines[-1] == b'':
        lines.pop()
    stuffed = [b'.' + line if line[:1] == b'.' else line for line in lines]
    stuffed.append(b'.')
    return b'\r\n'.join(stuffed) + b'\r\n'
