# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""EHLO reply -> typed capabilities (RFC 5321 4.1.1.1 and the extension RFCs)."""

from __future__ import annotations

import ipaddress
import re

# Keywords with a typed value of their own; everything else lands in `other`.
_FLAGS = {
    'PIPELINING': 'pipelining',
    'STARTTLS': 'starttls',
    'DSN': 'dsn',
    'SMTPUTF8': 'smtputf8',
    '8BITMIME': 'eightbitmime',
    'CHUNKING': 'chunking',
    'ENHANCEDSTATUSCODES': 'enhancedstatuscodes',
}
# `Hello [172.16.0.5]` (Exchange), `Hello name [192.0.2.1]` (Exim), `at your service, [2001:db8::1]` (Gmail).
_CLIENT_ADDRESS_RE = re.compile(r'\[(?:IPv6:)?([0-9A-Fa-f:.]+)\]')
_MAX_OTHER = 100


_NOTHING_ANNOUNCED = dict([('esmtp', False), ('greeting', None), ('seen_client_address', None), ('size', None)]
                          + [(name, False) for name in _FLAGS.values()])


def empty_capabilities(esmtp=False, greeting=None):
    """Capabilities of a server that announced nothing (HELO, or no EHLO sent)."""
    caps = dict(_NOTHING_ANNOUNCED, auth=[], other=[])
    caps['esmtp'] = esmtp
    caps['greeting'] = greeting
    return caps


def seen_client_address(greeting):
    """The client address the server says it saw in its greeting line, if it names one."""
    if not greeting:
        return None
    for match in _CLIENT_ADDRESS_RE.finditer(greeting):
        try:
            return str(ipaddress.ip_address(match.group(1)))
        except ValueError:
            continue
    return None


def parse_ehlo(texts):
    """Parse an EHLO reply's texts (code already stripped, one per line) into typed capabilities.

    Unknown, repeated or malformed keyword lines never raise: they are kept raw in `other`.
    """
    greeting = texts[0] if texts else ''
    caps = empty_capabilities(True, greeting)
    caps['seen_client_address'] = seen_client_address(greeting)
    auth = caps['auth']
    for line in texts[1:]:
        parts = line.split()
        if not parts:
            continue
        keyword = parts[0].upper()
        flag = _FLAGS.get(keyword)
        if flag is not None:
            caps[flag] = True
            continue
        params = parts[1:]
        if keyword == 'SIZE':
            caps['size'] = _size(params)
        elif keyword == 'AUTH' or keyword.startswith('AUTH='):
            # `AUTH=LOGIN PLAIN` is the pre-RFC 4954 form some servers still send.
            mechanisms = params if keyword == 'AUTH' else [keyword[5:]] + params
            for mechanism in mechanisms:
                mechanism = mechanism.upper()
                if mechanism and mechanism not in auth:
                    auth.append(mechanism)
        elif len(caps['other']) < _MAX_OTHER:
            caps['other'].append(' '.join([keyword] + params))
    return caps


def _size(params):
    # RFC 1870: SIZE without a number, or 0, means no fixed limit.
    # A value that is not a plain ASCII number (or absurdly long) counts as no limit too.
    value = params[0] if params else ''
    if value and len(value) <= 20 and value.isascii() and value.isdigit():
        return int(value)
    return 0
