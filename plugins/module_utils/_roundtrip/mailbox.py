# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where a round trip waits: an IMAP account (stdlib imaplib, verified TLS, LOGIN) or a Maildir on this host.

Both look for the test message by its token only (one header), read only its header, and remove only that message.
Errors are MailboxError with a condition name and a message that never holds the password.
"""

from __future__ import annotations

import email.parser
import email.policy
import imaplib
import os
import re
import socket
import ssl

TOKEN_HEADER = 'X-Mailflow-Roundtrip'
_UID_RE = re.compile(rb'UID (\d+)')


class MailboxError(Exception):
    def __init__(self, condition, message):
        super().__init__(message)
        self.condition = condition


def header_fields(raw):
    """A message's header (bytes) -> email.message.Message with only the header parsed."""
    return email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)


def _quote(folder):
    return '"{}"'.format(folder.replace('\\', '\\\\').replace('"', '\\"'))


def _ok(reply, what):
    status, data = reply
    if status != 'OK':
        text = b' '.join(item for item in data if isinstance(item, bytes)).decode('utf-8', 'replace')
        raise MailboxError(f'imap_{what}_failed', f'{what}: {status} {text}')
    return data


class ImapMailbox:
    """One IMAP session. ``tls``: implicit (993) or starttls (143)."""

    kind = 'imap'

    def __init__(self, host, port, username, password, tls='implicit', ca_path=None, server_name=None, timeout=10.0,
                 command_timeout=30.0):
        self.host = host
        self.port = port
        self.username = username
        self._password = password
        self.tls = tls
        self.ca_path = ca_path
        self.server_name = server_name or host
        self.timeout = timeout
        # A failed login is answered late on purpose (Dovecot: 2 s, growing with repeated failures).
        self.command_timeout = command_timeout
        self._imap = None
        self.capabilities = ()
        self.tls_info = None

    def describe(self):
        return 'imap{}://{}@{}:{}'.format('s' if self.tls == 'implicit' else '', self.username, self.host, self.port)

    def _context(self):
        context = ssl.create_default_context(cafile=self.ca_path) if self.ca_path else ssl.create_default_context()
        context.check_hostname = True
        context.verify_mode = ssl.CERT_REQUIRED
        return context

    def open(self):
        context = self._context()
        try:
            imap = _Imap(self.host, self.port, self.server_name, context, self.timeout, self.tls == 'implicit')
            if self.tls != 'implicit':
                _starttls(imap, context, self.server_name)
        except ssl.SSLCertVerificationError as exc:
            raise MailboxError('imap_tls_verify_failed', f'TLS certificate of {self.host}:{self.port} does not verify: {exc.verify_message or exc}') from exc
        except (ssl.SSLError, imaplib.IMAP4.error) as exc:
            raise MailboxError('imap_tls_failed', f'TLS with {self.host}:{self.port} failed: {exc}') from exc
        except (OSError, socket.timeout) as exc:
            raise MailboxError('imap_connect_failed', f'cannot connect to {self.host}:{self.port}: {exc}') from exc
        self._imap = imap
        sock = imap.sock
        sock.settimeout(self.command_timeout)
        self.tls_info = {'version': sock.version(), 'cipher': (sock.cipher() or (None,))[0]}
        try:
            imap.login(self.username, self._password)
        except imaplib.IMAP4.error as exc:
            self.close()
            # imaplib's text is the server's reply, which does not carry the password.
            raise MailboxError('imap_login_failed', f'login as {self.username} refused: {_text(exc)}') from exc
        except (OSError, socket.timeout) as exc:
            self.close()
            raise MailboxError('imap_connect_failed', f'connection lost during login: {exc}') from exc
        try:
            # The capabilities before login may lack what is offered after it (UIDPLUS on Dovecot).
            data = _ok(imap.capability(), 'capability')
            self.capabilities = tuple(item.upper() for item in (data[0] or b'').decode('ascii', 'replace').split())
        except (OSError, imaplib.IMAP4.error, MailboxError):
            self.capabilities = tuple(cap.upper() for cap in imap.capabilities)
        return self

    def find(self, token, folders):
        """(folder, uid) of the message carrying the token, looking in each folder in order; None if absent."""
        for folder in folders:
            try:
                status, _data = self._imap.select(_quote(folder))
                if status != 'OK':
                    continue
                data = _ok(self._imap.uid('SEARCH', None, 'HEADER', TOKEN_HEADER, f'"{token}"'), 'search')
            except (OSError, socket.timeout, imaplib.IMAP4.abort) as exc:
                raise MailboxError('imap_connection_lost', f'connection lost while searching {folder}: {exc}') from exc
            uids = (data[0] or b'').split()
            if uids:
                return folder, uids[-1].decode('ascii')
        return None

    def header(self, found):
        folder, uid = found
        self._imap.select(_quote(folder))
        data = _ok(self._imap.uid('FETCH', uid, '(BODY.PEEK[HEADER])'), 'fetch')
        for item in data:
            if isinstance(item, tuple):
                return item[1]
        return b''

    def remove(self, found):
        """Delete exactly this message: UID EXPUNGE (RFC 4315) never touches another \\Deleted message. Without
        UIDPLUS nothing is removed (a plain EXPUNGE could)."""
        if 'UIDPLUS' not in self.capabilities:
            return False, 'the server does not offer UIDPLUS: the message was left in place'
        folder, uid = found
        self._imap.select(_quote(folder))
        _ok(self._imap.uid('STORE', uid, '+FLAGS.SILENT', '(\\Deleted)'), 'store')
        _ok(self._imap.uid('EXPUNGE', uid), 'expunge')
        return True, None

    def close(self):
        imap, self._imap = self._imap, None
        if imap is None:
            return
        try:
            imap.logout()
        except (OSError, imaplib.IMAP4.error):
            pass


def _text(exc):
    text = exc.args[0] if exc.args else str(exc)
    if isinstance(text, bytes):
        text = text.decode('utf-8', 'replace')
    return str(text)


class _Imap(imaplib.IMAP4):
    """imaplib.IMAP4 with a socket timeout on Python 3.8 too (its timeout argument came in 3.9) and, for implicit
    TLS, the server name given apart from the address (IMAP4_SSL checks the name it connected to)."""

    def __init__(self, host, port, server_name, context, timeout, implicit):
        self._mailflow = (server_name, context, timeout, implicit)
        imaplib.IMAP4.__init__(self, host, port)

    def _create_socket(self, timeout=None):
        server_name, context, default_timeout, implicit = self._mailflow
        sock = socket.create_connection((self.host or None, self.port), timeout or default_timeout)
        return context.wrap_socket(sock, server_hostname=server_name) if implicit else sock


def _starttls(imap, context, server_name):
    """imaplib's starttls() checks the name against the address it connected to; this uses server_name."""
    if 'STARTTLS' not in imap.capabilities:
        raise imaplib.IMAP4.error('the server does not offer STARTTLS')
    status, _data = imap._simple_command('STARTTLS')
    if status != 'OK':
        raise imaplib.IMAP4.error('STARTTLS refused')
    imap.sock = context.wrap_socket(imap.sock, server_hostname=server_name)
    imap.file = imap.sock.makefile('rb')
    imap._tls_established = True
    imap._get_capabilities()


class MaildirMailbox:
    """A Maildir++ tree on this host: INBOX is the top, folder X is ``.X`` (Dovecot, Courier, Postfix virtual)."""

    kind = 'maildir'

    def __init__(self, path):
        self.path = path
        self.capabilities = ()
        self.tls_info = None

    def describe(self):
        return f'maildir:{self.path}'

    def _folder_dir(self, folder):
        return self.path if folder.upper() == 'INBOX' else os.path.join(self.path, '.' + folder)

    def open(self):
        if not os.path.isdir(os.path.join(self.path, 'new')) or not os.path.isdir(os.path.join(self.path, 'cur')):
            raise MailboxError('maildir_missing', f'{self.path} is not a Maildir (no new/ and cur/)')
        return self

    def find(self, token, folders):
        for folder in folders:
            base = self._folder_dir(folder)
            for sub in ('new', 'cur'):
                directory = os.path.join(base, sub)
                try:
                    names = sorted(os.listdir(directory))
                except OSError:
                    continue
                for name in names:
                    path = os.path.join(directory, name)
                    if self._carries(path, token):
                        return folder, path
        return None

    @staticmethod
    def _read_header(path):
        lines = []
        with open(path, 'rb') as handle:
            for line in handle:
                if line in (b'\n', b'\r\n'):
                    break
                lines.append(line)
        return b''.join(lines)

    def _carries(self, path, token):
        try:
            header = self._read_header(path)
        except OSError:
            # Moved from new/ to cur/ (or removed) while listing.
            return False
        return token in (header_fields(header).get_all(TOKEN_HEADER) or [])

    def header(self, found):
        return self._read_header(found[1])

    def remove(self, found):
        try:
            os.unlink(found[1])
        except FileNotFoundError:
            return False, 'the message file was gone before its removal (moved by a mail client?)'
        return True, None

    def close(self):
        return None
