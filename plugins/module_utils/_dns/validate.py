# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Input checks for the DNS options, done before any query is sent.

Stdlib only, so a module can reject bad input even when dnspython is missing;
internationalized names need the ``idna`` package (dnspython's own IDNA 2008 codec).
Each check raises ``ValueError`` with a message that does not repeat the option
name; callers prefix it (``domains[2]: ...``).
"""

from __future__ import annotations

import ipaddress
import re

try:
    import idna
except ImportError:
    idna = None

IP_VERSIONS = ('auto', '4', '6')

_MAX_NAME_OCTETS = 253      # RFC 1035 2.3.4, without the final dot
_MAX_LABEL_OCTETS = 63
_CONTROL_NAMES = {'\r': 'CR', '\n': 'LF', '\x00': 'NUL', '\t': 'TAB'}
_LABEL_CHARS = re.compile(r'^[A-Za-z0-9_-]+$')
# A name, a colon and a port number: host:port written where only the host belongs.
_NAME_AND_PORT = re.compile(r'^(?P<name>[^:]+):(?P<port>[0-9]{1,5})$')


def _describe_char(char):
    return _CONTROL_NAMES.get(char, f'U+{ord(char):04X}')


def to_ascii_name(name):
    """A host or domain name with each non-ASCII label as its IDNA 2008 A-label; an ASCII name unchanged.

    UTS 46 maps the name first (case, full-width forms), as dnspython and browsers do, without the
    transitional mapping of IDNA 2003: ``straße.de`` is ``xn--strae-oqa.de``, not ``strasse.de``.
    """
    if name.isascii():
        return name
    if idna is None:
        raise ValueError(f'{name!r} is an internationalized name; encoding it (IDNA 2008) needs the Python package idna on '
                         'this host: pip install idna, or apt install python3-idna')
    try:
        # Non-transitional is the default of every idna version (and the only mode of newer ones).
        mapped = idna.uts46_remap(name, std3_rules=False)
        return '.'.join(label if label.isascii() else idna.alabel(label).decode('ascii') for label in mapped.split('.'))
    except UnicodeError as exc:
        raise ValueError(f'{name!r} is not a valid internationalized name (IDNA 2008: {exc})') from exc


def port_in_name(value):
    """(name, port) when ``value`` is ``name:port`` or ``[address]:port``, else None."""
    if value.startswith('['):
        literal, bracket, rest = value.partition(']')
        if bracket and rest[:1] == ':' and rest[1:].isdigit() and rest[1:].isascii():
            return literal + bracket, rest[1:]
        return None
    match = _NAME_AND_PORT.match(value)
    if match is None:
        return None
    return match.group('name'), match.group('port')


def normalize_domain(value):
    """Check a mail domain and return it lower-cased, without the trailing dot.

    ``fabrikam.test`` and ``fabrikam.test.`` give the same result: names are always
    absolute. Internationalized names are returned in their ASCII (xn--) form.
    """
    if not isinstance(value, str):
        raise ValueError(f'must be a string, got {type(value).__name__}')
    if value == '':
        raise ValueError('is empty')
    for char in value:
        if ord(char) < 32 or ord(char) == 127:
            raise ValueError(f'contains a control character ({_describe_char(char)}); CR, LF and NUL are never allowed')
        if char.isspace():
            raise ValueError(f'{value!r} contains whitespace')
    if '@' in value:
        raise ValueError(f'{value!r} is an e-mail address; give the domain part only')
    with_port = port_in_name(value)
    if with_port is not None:
        raise ValueError(f'{value!r} ends in a port number; give the domain alone (smtp_probe and mx_probe take the SMTP port '
                         'in their port option)')
    if value.startswith('[') or value.endswith(']'):
        raise ValueError(f'{value!r} is an address literal; give a domain name')
    name = value[:-1] if value.endswith('.') else value
    if name == '':
        raise ValueError('the root (.) is not a mail domain')
    for label in name.split('.'):
        if label == '':
            raise ValueError(f'{value!r} has an empty label (two dots in a row, or a leading dot)')
    ascii_name = to_ascii_name(name)
    ascii_labels = [_ascii_label(value, label) for label in ascii_name.split('.')]
    ascii_name = '.'.join(ascii_labels).lower()
    if len(ascii_name) > _MAX_NAME_OCTETS:
        raise ValueError(f'{value!r} is longer than {_MAX_NAME_OCTETS} octets')
    if ascii_labels[-1].isdigit():
        raise ValueError(f'{value!r} looks like an IP address; give a domain name')
    return ascii_name


def _ascii_label(value, label):
    if label == '':
        raise ValueError(f'{value!r} has an empty label (two dots in a row, or a leading dot)')
    if len(label) > _MAX_LABEL_OCTETS:
        raise ValueError(f'{value!r} has a label longer than {_MAX_LABEL_OCTETS} octets')
    if not _LABEL_CHARS.match(label):
        bad = [char for char in label if not _LABEL_CHARS.match(char)][0]
        raise ValueError(f'{value!r} contains {bad!r}; a domain holds letters, digits, hyphens and dots')
    if label.startswith('-') or label.endswith('-'):
        raise ValueError(f'{value!r} has a label that starts or ends with a hyphen')
    return label


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
            raise ValueError(f'[{index}]: {exc}') from None
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
            raise ValueError(f'[{index}]: contains a control character (CR, LF, NUL are never allowed)')
        try:
            addresses.append(str(ipaddress.ip_address(text.strip())))
        except ValueError:
            raise ValueError(f'[{index}]: {text!r} is not an IP address; give the IPv4 or IPv6 address of the nameserver') from None
    return addresses


def check_port(value):
    """A TCP/UDP port: an integer from 1 to 65535."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f'must be an integer, got {value!r}')
    if not 1 <= value <= 65535:
        raise ValueError(f'{value} is out of range (1-65535)')
    return value


def check_seconds(value):
    """A positive number of seconds, at most one hour."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f'must be a number of seconds, got {value!r}')
    if not 0 < value <= 3600:
        raise ValueError(f'{value!r} is out of range (more than 0, at most 3600 seconds)')
    return float(value)


def normalize_ip_version(value):
    """``auto`` (both families), ``4`` or ``6``; ``any`` is taken as ``auto``."""
    text = str(value).strip().lower()
    if text in ('any', ''):
        text = 'auto'
    if text in ('ipv4', 'ipv6'):
        text = text[-1]
    if text not in IP_VERSIONS:
        raise ValueError('{!r} is not one of {}'.format(value, ', '.join(IP_VERSIONS)))
    return text
