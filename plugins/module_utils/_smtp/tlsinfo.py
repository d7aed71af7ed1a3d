# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""TLS contexts, verify-error classification and certificate details.

The stdlib decodes a peer certificate only after a verified handshake, yet the details matter
most when verification fails. So the leaf certificate's DER is read here with a small, bounded
X.509 reader (only the fields reported: names, validity, SAN). Verification itself is always
OpenSSL's, done in the handshake.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import ipaddress
import os
import ssl
import threading

from .._diagnosis import errors

# OpenSSL X509_V_ERR_* codes -> condition names.
_VERIFY_CODES = {
    2: errors.TLS_CERT_UNKNOWN_CA,     # unable to get issuer certificate
    9: errors.TLS_CERT_NOT_YET_VALID,
    10: errors.TLS_CERT_EXPIRED,
    18: errors.TLS_CERT_SELF_SIGNED,   # depth zero self-signed
    19: errors.TLS_CERT_UNKNOWN_CA,    # self-signed root in the chain, not trusted
    20: errors.TLS_CERT_UNKNOWN_CA,    # unable to get local issuer certificate
    21: errors.TLS_CERT_UNKNOWN_CA,    # unable to verify the first certificate
    62: errors.TLS_CERT_NAME_MISMATCH,
    64: errors.TLS_CERT_NAME_MISMATCH,  # IP address mismatch
}
# Fallback on the message text when the code is missing (other TLS libraries, old builds).
_VERIFY_MESSAGES = (
    ('expired', errors.TLS_CERT_EXPIRED),
    ('not yet valid', errors.TLS_CERT_NOT_YET_VALID),
    ('self-signed certificate in', errors.TLS_CERT_UNKNOWN_CA),
    ('self signed certificate in', errors.TLS_CERT_UNKNOWN_CA),
    ('self-signed', errors.TLS_CERT_SELF_SIGNED),
    ('self signed', errors.TLS_CERT_SELF_SIGNED),
    ('local issuer', errors.TLS_CERT_UNKNOWN_CA),
    ('issuer certificate', errors.TLS_CERT_UNKNOWN_CA),
    ('mismatch', errors.TLS_CERT_NAME_MISMATCH),
)

_CONTEXTS = {}
_CONTEXTS_LOCK = threading.Lock()


def client_context(verify, ca_path=None):
    """A shared client SSLContext (building one loads the CA store: milliseconds, so cache it)."""
    key = (bool(verify), ca_path)
    with _CONTEXTS_LOCK:
        context = _CONTEXTS.get(key)
        if context is None:
            if verify:
                if ca_path and os.path.isdir(ca_path):
                    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, capath=ca_path)
                elif ca_path:
                    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_path)
                else:
                    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
            else:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            _CONTEXTS[key] = context
        return context


def permissive_context():
    """A client context that checks nothing and accepts old protocols and weak keys: only to read the
    certificate of a server whose normal handshake failed. Nothing is sent over a session it makes."""
    with _CONTEXTS_LOCK:
        context = _CONTEXTS.get('permissive')
        if context is None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            try:
                context.set_ciphers('ALL:@SECLEVEL=0')
                context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
            except (ssl.SSLError, ValueError, AttributeError):
                pass
            _CONTEXTS['permissive'] = context
        return context


def classify_verify_error(exc):
    """(condition, message) for an ssl.SSLCertVerificationError."""
    code = getattr(exc, 'verify_code', None)
    message = getattr(exc, 'verify_message', None) or str(exc)
    condition = _VERIFY_CODES.get(code)
    if condition is None:
        lowered = message.lower()
        for needle, name in _VERIFY_MESSAGES:
            if needle in lowered:
                condition = name
                break
        else:
            condition = errors.TLS_CERT_INVALID
    return condition, message


def session_details(sock):
    """Protocol version and cipher of an established TLS socket."""
    cipher = sock.cipher() or (None, None, None)
    return {'version': sock.version(), 'cipher': cipher[0], 'bits': cipher[2]}


# --- X.509 (DER) reading -------------------------------------------------------------------

_OID_NAMES = {
    '2.5.4.3': 'CN', '2.5.4.6': 'C', '2.5.4.7': 'L', '2.5.4.8': 'ST', '2.5.4.10': 'O', '2.5.4.11': 'OU',
    '2.5.4.5': 'serialNumber', '1.2.840.113549.1.9.1': 'emailAddress', '0.9.2342.19200300.100.1.25': 'DC',
}
_OID_SAN = '2.5.29.17'
_STRING_CODECS = {0x0c: 'utf-8', 0x13: 'ascii', 0x16: 'ascii', 0x14: 'latin-1', 0x1e: 'utf-16-be', 0x1c: 'utf-32-be'}
_TAG_SEQUENCE = 0x30
_TAG_SET = 0x31
_TAG_INTEGER = 0x02
_TAG_OID = 0x06
_TAG_BOOLEAN = 0x01
_TAG_OCTET_STRING = 0x04
_TAG_UTC_TIME = 0x17
_TAG_GENERALIZED_TIME = 0x18
_TAG_VERSION = 0xa0
_TAG_EXTENSIONS = 0xa3
_SAN_DNS = 0x82
_SAN_IP = 0x87
_SAN_EMAIL = 0x81
_SAN_URI = 0x86


class CertificateError(ValueError):
    """The certificate could not be read."""


def _element(data, pos, end):
    """(tag, content start, content end) of the DER element at ``pos``; bounded by ``end``."""
    if pos + 2 > end:
        raise CertificateError('truncated element')
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7f
        if count == 0 or count > 4 or pos + count > end:
            raise CertificateError('bad length')
        length = int.from_bytes(data[pos:pos + count], 'big')
        pos += count
    if pos + length > end:
        raise CertificateError('element overruns its container')
    return tag, pos, pos + length


def _children(data, start, end):
    pos = start
    while pos < end:
        tag, content_start, content_end = _element(data, pos, end)
        yield tag, content_start, content_end
        pos = content_end


def _expect(data, pos, end, tag):
    found, start, stop = _element(data, pos, end)
    if found != tag:
        raise CertificateError(f'expected tag 0x{tag:02x}, found 0x{found:02x}')
    return start, stop


def _oid(raw):
    if not raw:
        raise CertificateError('empty OID')
    first = raw[0]
    arcs = [str(min(first // 40, 2)), str(first - 40 * min(first // 40, 2))]
    value = 0
    for byte in raw[1:]:
        value = (value << 7) | (byte & 0x7f)
        if not byte & 0x80:
            arcs.append(str(value))
            value = 0
    return '.'.join(arcs)


def _string(tag, raw):
    codec = _STRING_CODECS.get(tag, 'latin-1')
    return raw.decode(codec, 'replace')


def _name(data, start, end):
    """A Name as RFC 4514 text (last RDN first), e.g. ``CN=mx1.fabrikam.test, O=Lab``."""
    parts = []
    for tag, set_start, set_end in _children(data, start, end):
        if tag != _TAG_SET:
            raise CertificateError('bad RDN')
        for _tag, attr_start, attr_end in _children(data, set_start, set_end):
            oid_start, oid_end = _expect(data, attr_start, attr_end, _TAG_OID)
            value_tag, value_start, value_end = _element(data, oid_end, attr_end)
            oid = _oid(data[oid_start:oid_end])
            parts.append((_OID_NAMES.get(oid, oid), _string(value_tag, data[value_start:value_end])))
    parts.reverse()
    return parts


def _time(tag, raw):
    text = raw.decode('ascii')
    if tag == _TAG_UTC_TIME:
        year = int(text[:2])
        text = ('19' if year >= 50 else '20') + text
    elif tag != _TAG_GENERALIZED_TIME:
        raise CertificateError('bad time')
    if len(text) != 15 or not text.endswith('Z') or not (text[:14].isascii() and text[:14].isdigit()):
        raise CertificateError(f'unsupported time format {text!r}')
    return datetime.datetime(int(text[0:4]), int(text[4:6]), int(text[6:8]), int(text[8:10]), int(text[10:12]), int(text[12:14]),
                             tzinfo=datetime.timezone.utc)


def _san(raw):
    names = []
    start, end = _expect(raw, 0, len(raw), _TAG_SEQUENCE)
    for tag, value_start, value_end in _children(raw, start, end):
        value = raw[value_start:value_end]
        if tag == _SAN_DNS:
            names.append('DNS:' + value.decode('ascii', 'replace'))
        elif tag == _SAN_IP and len(value) in (4, 16):
            names.append('IP:' + str(ipaddress.ip_address(bytes(value))))
        elif tag == _SAN_EMAIL:
            names.append('email:' + value.decode('ascii', 'replace'))
        elif tag == _SAN_URI:
            names.append('URI:' + value.decode('ascii', 'replace'))
    return names


@functools.lru_cache(maxsize=256)
def read_certificate(der):
    """Decode the reported fields of a DER certificate; raise CertificateError.

    Cached: a fan-out meets the same few certificates again and again.
    """
    data = bytes(der)
    cert_start, cert_end = _expect(data, 0, len(data), _TAG_SEQUENCE)
    tbs_start, tbs_end = _expect(data, cert_start, cert_end, _TAG_SEQUENCE)
    fields = list(_children(data, tbs_start, tbs_end))
    if fields and fields[0][0] == _TAG_VERSION:
        fields = fields[1:]
    if len(fields) < 6 or fields[0][0] != _TAG_INTEGER:
        raise CertificateError('not an X.509 certificate')
    serial = data[fields[0][1]:fields[0][2]]
    issuer = _name(data, fields[2][1], fields[2][2])
    validity = list(_children(data, fields[3][1], fields[3][2]))
    if len(validity) != 2:
        raise CertificateError('bad validity')
    not_before = _time(validity[0][0], data[validity[0][1]:validity[0][2]])
    not_after = _time(validity[1][0], data[validity[1][1]:validity[1][2]])
    subject = _name(data, fields[4][1], fields[4][2])
    san = []
    for tag, start, end in fields[6:]:
        if tag != _TAG_EXTENSIONS:
            continue
        seq_start, seq_end = _expect(data, start, end, _TAG_SEQUENCE)
        for _tag, ext_start, ext_end in _children(data, seq_start, seq_end):
            parts = list(_children(data, ext_start, ext_end))
            if not parts or parts[0][0] != _TAG_OID or parts[-1][0] != _TAG_OCTET_STRING:
                raise CertificateError('bad extension')
            if _oid(data[parts[0][1]:parts[0][2]]) == _OID_SAN:
                san = _san(data[parts[-1][1]:parts[-1][2]])
    return {
        'subject': subject,
        'issuer': issuer,
        'serial': serial.lstrip(b'\x00').hex().upper() or '00',
        'not_before': not_before,
        'not_after': not_after,
        'san': san,
    }


def _format_name(parts):
    return ', '.join(f'{key}={value}' for key, value in parts)


def _iso(moment):
    return moment.strftime('%Y-%m-%dT%H:%M:%SZ')


def certificate_summary(der, now=None):
    """The reported certificate details; never raises (a reading problem is reported in the dict)."""
    if not der:
        return None
    digest = hashlib.sha256(der).hexdigest().upper()
    summary = {'sha256': ':'.join(digest[index:index + 2] for index in range(0, len(digest), 2))}
    try:
        fields = read_certificate(der)
    except (CertificateError, ValueError, IndexError, UnicodeError) as exc:
        summary['parse_error'] = str(exc)
        return summary
    now = now or datetime.datetime.now(datetime.timezone.utc)
    common_names = [value for key, value in fields['subject'] if key == 'CN']
    summary.update({
        'subject': _format_name(fields['subject']),
        'issuer': _format_name(fields['issuer']),
        'common_name': common_names[0] if common_names else None,
        'san': fields['san'],
        'serial': fields['serial'],
        'not_before': _iso(fields['not_before']),
        'not_after': _iso(fields['not_after']),
        'days_left': int((fields['not_after'] - now).total_seconds() // 86400),
        'self_issued': fields['subject'] == fields['issuer'],
    })
    return summary
