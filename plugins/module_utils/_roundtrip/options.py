# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""mail_roundtrip's options: defaults and checks, before any connection. Errors name the option and never echo a
secret. The SMTP side is checked again, fully, by the SMTP engine's own validate_options."""

from __future__ import annotations

import math
import os

from .._smtp.options import ProbeOptionError, check_mailbox, check_wire_text
from .mailbox import TOKEN_HEADER

VIA = ('submission', 'relay', 'mx')
MAILBOX_TYPES = ('imap', 'maildir')
IMAP_TLS = ('implicit', 'starttls')
DEFAULT_PORTS = {'submission': 587, 'relay': 25, 'mx': 25}
IMAP_PORTS = {'implicit': 993, 'starttls': 143}
DEFAULT_SUBJECT = 'mailflow round trip'
DEFAULT_FOLDERS = ('INBOX', 'Junk')
DEFAULT_JUNK_FOLDERS = ('Junk',)
# Longest wait the module accepts: a round trip is a check, not a queue monitor.
MAX_TIMEOUT = 3600.0


class RoundtripOptionError(ValueError):
    def __init__(self, option, problem):
        super().__init__(f'{option}: {problem}')
        self.option = option
        self.problem = problem


def _number(values, key, low, high=None):
    value = values.get(key)
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise RoundtripOptionError(key, f'must be a number of seconds, got {value!r}') from None
    if math.isnan(number) or number <= low or (high is not None and number > high):
        raise RoundtripOptionError(key, 'must be more than {}{} seconds, got {}'.format(low, f' and at most {high}' if high is not None else '', value))
    return number


def _choice(value, words, option):
    word = str(value).lower()
    if word not in words:
        raise RoundtripOptionError(option, 'must be one of {}, got {!r}'.format(', '.join(words), value))
    return word


def _folders(value, option):
    folders = list(value or [])
    for index, folder in enumerate(folders):
        if not isinstance(folder, str) or not folder.strip():
            raise RoundtripOptionError(f'{option}[{index}]', 'must be a non-empty folder name')
        try:
            check_wire_text(folder, f'{option}[{index}]')
        except ProbeOptionError as exc:
            raise RoundtripOptionError(exc.option, exc.problem) from exc
    return folders


def check_mailbox_options(raw, default_ca_path=None):
    raw = dict(raw or {})
    kind = _choice(raw.get('type') or 'imap', MAILBOX_TYPES, 'mailbox.type')
    folders = _folders(raw.get('folders') or list(DEFAULT_FOLDERS), 'mailbox.folders')
    junk = _folders(raw.get('junk_folders') if raw.get('junk_folders') is not None else list(DEFAULT_JUNK_FOLDERS),
                    'mailbox.junk_folders')
    box = {'type': kind, 'folders': folders, 'junk_folders': junk}
    if kind == 'maildir':
        for key in ('host', 'username', 'password'):
            if raw.get(key):
                raise RoundtripOptionError(f'mailbox.{key}', 'has no effect with mailbox.type maildir')
        if not raw.get('path'):
            raise RoundtripOptionError('mailbox.path', 'is required with mailbox.type maildir')
        box['path'] = os.path.expanduser(str(raw['path']))
        return box
    for key in ('host', 'username', 'password'):
        if not raw.get(key):
            raise RoundtripOptionError(f'mailbox.{key}', 'is required with mailbox.type imap')
    if raw.get('path'):
        raise RoundtripOptionError('mailbox.path', 'has no effect with mailbox.type imap')
    tls = _choice(raw.get('tls') or 'implicit', IMAP_TLS, 'mailbox.tls')
    port = raw.get('port') or IMAP_PORTS[tls]
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise RoundtripOptionError('mailbox.port', f'must be a TCP port (1-65535), got {port!r}')
    for key in ('host', 'username', 'server_name'):
        if raw.get(key):
            try:
                check_wire_text(str(raw[key]), f'mailbox.{key}')
            except ProbeOptionError as exc:
                raise RoundtripOptionError(exc.option, exc.problem) from exc
    password = str(raw['password'])
    if any(char in password for char in '\r\n\x00'):
        raise RoundtripOptionError('mailbox.password', 'contains a line break or NUL, refusing to send it')
    # The CA that verifies the SMTP server verifies the IMAP server too, unless the mailbox names its own.
    ca_path = raw.get('ca_path') or default_ca_path
    if ca_path and not os.path.exists(ca_path):
        raise RoundtripOptionError('mailbox.ca_path', f'{ca_path} does not exist')
    box.update(host=str(raw['host']), port=port, tls=tls, username=str(raw['username']), password=password,
               server_name=raw.get('server_name') or None, ca_path=ca_path or None)
    return box


def validate(raw):
    """Checked options (a new dict); raises RoundtripOptionError."""
    values = dict(raw)
    via = _choice(values.get('via') or 'submission', VIA, 'via')
    values['via'] = via
    if via == 'mx':
        if values.get('host'):
            raise RoundtripOptionError('host', 'has no effect with via: mx (the recipient domain\'s MX is used)')
    elif via == 'relay' and not values.get('host'):
        raise RoundtripOptionError('host', 'is required with via: relay (the relay to send through)')
    values['host'] = values.get('host') or ('localhost' if via == 'submission' else None)
    values['port'] = values.get('port') or DEFAULT_PORTS[via]
    if via == 'submission' and not values.get('auth'):
        raise RoundtripOptionError('auth', 'is required with via: submission (port 587 takes mail after AUTH)')
    if not values.get('recipient'):
        raise RoundtripOptionError('recipient', 'is required')
    if not values.get('sender'):
        raise RoundtripOptionError('sender', 'is required')
    try:
        values['recipient'] = check_mailbox(values['recipient'], 'recipient')
        values['sender'] = check_mailbox(values['sender'], 'sender')
    except ProbeOptionError as exc:
        raise RoundtripOptionError(exc.option, exc.problem) from exc
    headers = dict(values.get('headers') or {})
    if any(name.lower() == TOKEN_HEADER.lower() for name in headers):
        raise RoundtripOptionError('headers', f'{TOKEN_HEADER} is set by the module (it carries the token)')
    values['headers'] = headers
    values['subject'] = values.get('subject') or DEFAULT_SUBJECT
    values['timeout'] = _number(values, 'timeout', 0, MAX_TIMEOUT) or 60.0
    values['poll_interval'] = _number(values, 'poll_interval', 0, 60) or 1.0
    values['max_latency'] = _number(values, 'max_latency', 0)
    if values['max_latency'] is not None and values['max_latency'] >= values['timeout']:
        raise RoundtripOptionError('max_latency', 'is {} s, not below timeout ({} s): a message later than timeout is '
                                   'not delivered at all'.format(values['max_latency'], values['timeout']))
    values['mailbox'] = check_mailbox_options(values.get('mailbox'), values.get('ca_path'))
    values['cleanup'] = True if values.get('cleanup') is None else bool(values['cleanup'])
    return values
