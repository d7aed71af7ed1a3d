# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""MTA-STS (RFC 8461): the _mta-sts TXT record, the policy fetched over HTTPS, and how the MX set meets it.

The record and policy parsers and the MX pattern match are pure functions (unit tested without network);
``fetch_policy`` is the HTTPS fetch (certificate checked for mta-sts.<domain>, no redirects, 64 KiB at most).
"""

from __future__ import annotations

import http.client
import re
import socket
import ssl

from .._smtp.tlsinfo import classify_verify_error, client_context

RECORD_VERSION = 'STSv1'
POLICY_PATH = '/.well-known/mta-sts.txt'
MODES = ('enforce', 'testing', 'none')
# RFC 8461 3.2: max_age up to 31557600 seconds (about a year).
MAX_AGE_LIMIT = 31557600
# RFC 8461 3.3 lets senders cap the policy size; 64 KiB is what they use.
MAX_POLICY_BYTES = 65536
FETCH_REASONS = ('dns', 'connect', 'tls', 'http_status', 'content_type', 'size', 'timeout')

_ID_RE = re.compile(r'^[A-Za-z0-9]{1,32}$')
_FIELD_NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$')
_LABEL_RE = re.compile(r'^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$')


def _clean_host(name):
    return (name or '').strip().rstrip('.').lower()


def parse_record(text):
    """Parse one `v=STSv1; id=...` TXT string. Returns {'version', 'id', 'extensions'}; raises ValueError."""
    fields = [field.strip() for field in text.split(';')]
    if fields and fields[-1] == '':
        fields.pop()
    if not fields or fields[0].replace(' ', '') != 'v=' + RECORD_VERSION:
        raise ValueError(f'the record must start with v={RECORD_VERSION}')
    record = {'version': RECORD_VERSION, 'id': None, 'extensions': {}}
    for field in fields[1:]:
        key, sep, value = field.partition('=')
        key, value = key.strip(), value.strip()
        if not sep or not _FIELD_NAME_RE.match(key):
            raise ValueError(f'field {field!r} is not name=value')
        if key == 'id':
            if not _ID_RE.match(value):
                raise ValueError(f'id {value!r} must be 1 to 32 letters or digits')
            record['id'] = value
        else:
            record['extensions'][key] = value
    if record['id'] is None:
        raise ValueError('the record has no id field')
    return record


def select_record(texts):
    """The STS record among a name's TXT strings: (record text or None, problem or None). Strings that do not
    start with v=STSv1 are not STS records; more than one that does means no policy (RFC 8461 3.1)."""
    candidates = [text for text in texts if text.replace(' ', '').startswith('v=' + RECORD_VERSION)]
    if not candidates:
        return None, None
    if len(candidates) > 1:
        return None, f'{len(candidates)} TXT records start with v={RECORD_VERSION}; senders then assume no policy'
    return candidates[0], None


def check_pattern(pattern):
    """ValueError unless an mx value is a host name or *.host name (RFC 8461 3.2, 4.1)."""
    name = _clean_host(pattern)
    labels = name.split('.')
    if labels and labels[0] == '*':
        labels = labels[1:]
        if len(labels) < 2:
            raise ValueError(f'mx pattern {pattern!r}: a wildcard needs at least two labels after *.')
    if not labels or not all(_LABEL_RE.match(label) for label in labels):
        raise ValueError(f'mx pattern {pattern!r} is not a host name or *.host name')
    return name


def parse_policy(text):
    """Parse a policy body. Returns (policy, errors): policy has version, mode, max_age, mx (list), extensions;
    errors lists what makes it invalid (empty: valid)."""
    policy = {'version': None, 'mode': None, 'max_age': None, 'mx': [], 'extensions': {}}
    errors = []
    seen = set()
    for number, line in enumerate(text.replace('\r\n', '\n').split('\n'), 1):
        if not line.strip():
            continue
        key, sep, value = line.partition(':')
        key, value = key.strip(), value.strip()
        if not sep or not key:
            errors.append(f'line {number} is not "key: value": {line[:80]!r}')
            continue
        if key == 'mx':
            try:
                policy['mx'].append(check_pattern(value))
            except ValueError as exc:
                errors.append(str(exc))
            continue
        if key in seen:
            # RFC 8461 3.2: for a repeated key other than mx, the first one counts.
            continue
        seen.add(key)
        if key == 'version':
            policy['version'] = value
        elif key == 'mode':
            policy['mode'] = value
        elif key == 'max_age':
            policy['max_age'] = value
        else:
            policy['extensions'][key] = value
    if policy['version'] != RECORD_VERSION:
        errors.append('version must be {} (got {!r})'.format(RECORD_VERSION, policy['version']))
    if policy['mode'] not in MODES:
        errors.append('mode must be one of {} (got {!r})'.format(', '.join(MODES), policy['mode']))
    max_age = policy['max_age']
    if max_age is None:
        errors.append('max_age is missing')
    elif not (max_age.isdigit() and len(max_age) <= 10 and int(max_age) <= MAX_AGE_LIMIT):
        errors.append(f'max_age must be a number of seconds from 0 to {MAX_AGE_LIMIT} (got {max_age!r})')
        policy['max_age'] = None
    else:
        policy['max_age'] = int(max_age)
    if policy['mode'] in ('enforce', 'testing') and not policy['mx'] and not any('mx pattern' in e for e in errors):
        errors.append('mode {} needs at least one mx line'.format(policy['mode']))
    return policy, errors


def pattern_matches(pattern, host):
    """RFC 8461 4.1: an exact name, or *. matching exactly one leftmost label."""
    pattern, host = _clean_host(pattern), _clean_host(host)
    if pattern.startswith('*.'):
        first, dot, rest = host.partition('.')
        return bool(first and dot and rest == pattern[2:])
    return pattern == host


def matching_pattern(patterns, host):
    """The first pattern that covers host, or None."""
    for pattern in patterns:
        if pattern_matches(pattern, host):
            return pattern
    return None


def content_type_ok(value):
    """RFC 8461 3.2: media type text/plain, parameters allowed."""
    return (value or '').split(';', 1)[0].strip().lower() == 'text/plain'


def fetch_policy(domain, addresses, ca_path=None, timeout=10.0, port=443, opener=socket.create_connection):
    """GET https://mta-sts.<domain>/.well-known/mta-sts.txt from the first address that answers, the certificate
    checked for mta-sts.<domain>. Returns a dict: url, host, address, ok, reason (one of FETCH_REASONS or None),
    message, http_status, content_type, size, body (text, only when ok)."""
    host = f'mta-sts.{_clean_host(domain)}'
    fetch = {'url': f'https://{host}{POLICY_PATH}', 'host': host, 'address': None, 'ok': False, 'reason': None,
             'message': None, 'http_status': None, 'content_type': None, 'size': None, 'body': None}
    if not addresses:
        fetch.update(reason='dns', message=f'{host} has no address record')
        return fetch
    context = client_context(True, ca_path)
    failures = []
    for address in addresses:
        fetch['address'] = address
        try:
            sock = opener((address, port), timeout)
        except socket.timeout:
            failures.append(('timeout', f'connecting to {address} port {port} timed out after {timeout:g} s'))
            continue
        except OSError as exc:
            problem = exc.strerror or exc
            failures.append(('connect', f'connecting to {address} port {port} failed: {problem}'))
            continue
        try:
            return _fetch_over(sock, context, host, fetch, timeout)
        except ssl.SSLCertVerificationError as exc:
            condition, message = classify_verify_error(exc)
            fetch.update(reason='tls', message=f'certificate of {host} at {address} not valid: {message} ({condition})')
            return fetch
        except (ssl.SSLError, ssl.CertificateError) as exc:
            fetch.update(reason='tls', message=f'TLS with {host} at {address} failed: {exc}')
            return fetch
        except socket.timeout:
            fetch.update(reason='timeout', message=f'{host} at {address} did not answer within {timeout:g} s')
            return fetch
        except (OSError, http.client.HTTPException) as exc:
            fetch.update(reason='connect', message=f'HTTPS to {host} at {address} failed: {type(exc).__name__}: {exc}')
            return fetch
        finally:
            sock.close()
    reason, message = failures[-1]
    fetch.update(reason=reason, message='; '.join(text for _reason, text in failures))
    return fetch


def _fetch_over(sock, context, host, fetch, timeout):
    sock.settimeout(timeout)
    tls = context.wrap_socket(sock, server_hostname=host)
    try:
        request = (f'GET {POLICY_PATH} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: mailops.mailflow tls_policy\r\nAccept: text/plain\r\n'
                   'Connection: close\r\n\r\n')
        tls.sendall(request.encode('ascii'))
        response = http.client.HTTPResponse(tls, method='GET')
        response.begin()
        fetch['http_status'] = response.status
        fetch['content_type'] = response.getheader('Content-Type')
        if response.status != 200:
            location = response.getheader('Location')
            fetch.update(reason='http_status', message='{} answered HTTP {} {}{} (a policy needs 200; senders follow '
                         'no redirects)'.format(fetch['url'], response.status, response.reason,
                                                f' to {location}' if location else ''))
            return fetch
        body = response.read(MAX_POLICY_BYTES + 1)
        fetch['size'] = len(body)
        if len(body) > MAX_POLICY_BYTES:
            fetch.update(reason='size', size=None, message=f'the policy is larger than {MAX_POLICY_BYTES} bytes')
            return fetch
        if not content_type_ok(fetch['content_type']):
            fetch.update(reason='content_type', message='the policy is served as {!r}, not text/plain'.format(fetch['content_type']))
            return fetch
        try:
            fetch['body'] = body.decode('utf-8')
        except UnicodeDecodeError:
            fetch.update(reason='content_type', message='the policy is not UTF-8 text')
            return fetch
        fetch['ok'] = True
        return fetch
    finally:
        tls.close()
