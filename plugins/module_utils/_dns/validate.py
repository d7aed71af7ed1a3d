# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Input checks for the DNS options, done before any query is sent.

Stdlib only, so a module can reject bad input even when dnspython is missing.
Each check raises ``ValueError`` with a message that does not repeat the option
name; callers prefix it (``domains[2]: ...``).
"""

from __future__ import annotations

import ipaddress
import re

IP_VERSIONS = ('auto', '4', '6')

_MAX_NAME_OCTETS = 253      # RFC 1035 2.3.4, without the final dot
_MAX_LABEL_OCTETS = 63
_CONTROL_NAMES = {'\r': 'CR', '\n': 'LF', '\x00': 'NUL', '\t': 'TAB'}
_LABEL_CHARS = re.compile(r'^[A-Za-z0-9_-]+$')


def _describe_char(char):
    return _CONTROL_NAMES.get(char, 'U+%04X' % ord(char))


def normalize_domain(value):
    """Check a mail domain and return it lower-cased, without the trailing dot.

    ``fabrikam.test`` and ``fabrikam.test.`` give the same result: names are always
    absolute. Internationalized names are returned in their ASCII (xn--) form.
    """
    if not isinstance(value, str):
        raise ValueError('must be a string, got %s' % type(value).__name__)
    if value == '':
        raise ValueError('is empty')
    for char in value:
        if ord(char) < 32 or ord(char) == 127:
            raise ValueError('contains a control character (%s); CR, LF and NUL are never allowed' % _describe_char(char))
        if char.isspace():
            raise ValueError('%r contains whitespace' % value)
    if '@' in value:
        raise ValueError('%r is an e-mail address; give the domain part only' % value)
    if value.startswith('[') or value.endswith(']'):
        raise ValueError('%r is an address literal; give a domain name' % value)
    name = value[:-1] if value.endswith('.') else value
    if name == '':
        raise ValueError('the root (.) is not a mail domain')
    labels = name.split('.')
    ascii_labels = []
    for label in labels:
        if label == '':
            raise ValueError('%r has an empty label (two dots in a row, or a leading dot)' % value)
        ascii_labels.append(_ascii_label(value, label))
    ascii_name = '.'.join(ascii_labels).lower()
    if len(ascii_name) > _MAX_NAME_OCTETS:
        raise ValueError('%r is longer than %d octets' % (value, _MAX_NAME_OCTETS))
    if ascii_labels[-1].isdigit():
        raise ValueError('%r looks like an IP address; give a domain name' % value)
    return ascii_name


def _ascii_label(value, label):
    if label.isascii():
        ascii_label = label
    else:
        try:
            ascii_label = label.encode('idna').decode('ascii')
        except UnicodeError as exc:
            raise ValueError('%r has a label that is not a valid internationalized name (%s)' % (value, exc))
    if len(ascii_label) > _MAX_LABEL_OCTETS:
        raise ValueError('%r has a label longer than %d octets' % (value, _MAX_LABEL_OCTETS))
    if not _LABEL_CHARS.match(ascii_label):
        bad = [char for char in ascii_label if not _LABEL_CHARS.match(char)][0]
        raise ValueError('%r contains %r; a domain holds letters, digits, hyphens and dots' % (value, bad))
    if ascii_label.startswith('-') or ascii_label.endswith('-'):
        raise ValueError('%r has a label that starts or ends with a hyphen' % value)
    return ascii_label


def normalize_domains(values):
    """Check a list of domains; return them normalized, in the given order."""
    if not isinstance(values, (list, tuple)):
        raise ValueError('must be a list of domains')
    if not values:
        raise ValueError('is an empty list; give at least one domain')
    normalized = []
    for index, value in enumerate(values):
        try:
            normalized.append(normalize_domain(value))
        except ValueError as exc:
            raise ValueError('[%d]: %s' % (index, exc))
    return normalized


def normalize_nameservers(values):
    """Check nameserver IP addresses; return them in canonical text form."""
    if values is None:
        return None
    if not isinstance(values, (list, tuple)):
        raise ValueError('must be a list of IP addresses')
    if not values:
        raise ValueError('is an empty list; omit it to use the resolv.conf of the host')
    addresses = []
    for index, value in enumerate(values):
        text = value if isinstance(value, str) else str(value)
        if any(ord(char) < 32 or ord(char) == 127 for char in text):
            raise ValueError('[%d]: contains a control character (CR, LF, NUL are never allowed)' % index)
        try:
            addresses.append(str(ipaddress.ip_address(text.strip())))
        except ValueError:
            raise ValueError('[%d]: %r is not an IP address; give the IPv4 or IPv6 address of the nameserver' % (index, text))
    return addresses


def check_port(value):
    """A TCP/UDP port: an integer from 1 to 65535."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError('must be an integer, got %r' % (value,))
    if not 1 <= value <= 65535:
        raise ValueError('%d is out of range (1-65535)' % value)
    return value


def check_seconds(value):
    """A positive number of seconds, at most one hour."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError('must be a number of seconds, got %r' % (value,))
    if not 0 < value <= 3600:
        raise ValueError('%r is out of range (more than 0, at most 3600 seconds)' % (value,))
    return float(value)


def normalize_ip_version(value):
    """``auto`` (both families), ``4`` or ``6``; ``any`` is taken as ``auto``."""
    text = str(value).strip().lower()
    if text in ('any', ''):
        text = 'auto'
    if text in ('ipv4', 'ipv6'):
        text = text[-1]
    if text not in IP_VERSIONS:
        raise ValueError('%r is not one of %s' % (value, ', '.join(IP_VERSIONS)))
    return text
