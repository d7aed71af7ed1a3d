# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""TLS-RPT (RFC 8460 3): the _smtp._tls TXT record and its rua report addresses. Pure functions."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

RECORD_VERSION = 'TLSRPTv1'
_FIELD_NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$')
_LOCAL_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_HOST_RE = re.compile(r'^(?!-)[A-Za-z0-9-]{1,63}(?<!-)(?:\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))+$')


def select_record(texts):
    """(record text or None, problem or None): exactly one string may start with v=TLSRPTv1 (RFC 8460 3)."""
    candidates = [text for text in texts if text.replace(' ', '').startswith('v=' + RECORD_VERSION)]
    if not candidates:
        return None, None
    if len(candidates) > 1:
        return None, f'{len(candidates)} TXT records start with v={RECORD_VERSION}; senders then use none'
    return candidates[0], None


def check_rua(uri):
    """None when a rua URI is a valid mailto: or https: address, else the problem."""
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme == 'mailto':
        address = unquote(parts.path)
        local, at, domain = address.rpartition('@')
        if not at or not _LOCAL_RE.match(local) or not _HOST_RE.match(domain.rstrip('.')):
            return f'{uri}: not a valid mailto: address'
        return None
    if scheme == 'https':
        if not parts.hostname or not _HOST_RE.match(parts.hostname.rstrip('.')):
            return f'{uri}: https: URI without a valid host name'
        return None
    return f'{uri}: the scheme must be mailto: or https:'


def parse_record(text):
    """{'version', 'rua': [uri...], 'rua_problems': [...], 'extensions'}; raises ValueError for a record that is not
    v=TLSRPTv1 with a rua field."""
    fields = [field.strip() for field in text.split(';')]
    while fields and fields[-1] == '':
        fields.pop()
    if not fields or fields[0].replace(' ', '') != 'v=' + RECORD_VERSION:
        raise ValueError(f'the record must start with v={RECORD_VERSION}')
    record = {'version': RECORD_VERSION, 'rua': None, 'rua_problems': [], 'extensions': {}}
    for field in fields[1:]:
        key, sep, value = field.partition('=')
        key, value = key.strip(), value.strip()
        if not sep or not _FIELD_NAME_RE.match(key):
            raise ValueError(f'field {field!r} is not name=value')
        if key == 'rua':
            if record['rua'] is not None:
                raise ValueError('rua is given twice')
            record['rua'] = [uri.strip() for uri in value.split(',') if uri.strip()]
        else:
            record['extensions'][key] = value
    if not record['rua']:
        raise ValueError('the record has no rua field (where reports go)')
    record['rua_problems'] = [problem for problem in map(check_rua, record['rua']) if problem]
    return record
