# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""DANE for SMTP (RFC 7672, RFC 6698): TLSA records matched against the certificates a server presented.

Pure functions: the caller looks the records up (only a DNSSEC-authenticated answer counts) and gets the leaf
certificate from the SMTP engine. DANE-EE (usage 3) needs only the leaf; DANE-TA (usage 2) needs the chain the
server sent, which Python's ssl gives only from 3.13 on (``chain_support``): without it the result says so.
"""

from __future__ import annotations

import hashlib
import ssl
import sys

from .._smtp.tlsinfo import CertificateError, _element

USAGE_NAMES = {0: 'PKIX-TA', 1: 'PKIX-EE', 2: 'DANE-TA', 3: 'DANE-EE'}
SELECTOR_NAMES = {0: 'Cert', 1: 'SPKI'}
MATCHING_NAMES = {0: 'Full', 1: 'SHA2-256', 2: 'SHA2-512'}
# RFC 7672 3.1.3: usages 0 and 1 are not used for SMTP.
SMTP_USAGES = (2, 3)
_TAG_SEQUENCE = 0x30
_TAG_VERSION = 0xa0


def chain_support():
    """(True, None) when this Python's ssl can give the peer's chain, else (False, why)."""
    if hasattr(ssl.SSLSocket, 'get_unverified_chain'):
        return True, None
    return False, ('Python {}.{}.{} cannot give the certificate chain a server sent (ssl gives it from 3.13 on): '
                   'DANE-TA (usage 2) records cannot be matched'.format(*sys.version_info[:3]))


def spki_der(cert_der):
    """The DER SubjectPublicKeyInfo (tag and length included) of a DER certificate; raises CertificateError."""
    data = bytes(cert_der)
    tag, cert_start, cert_end = _element(data, 0, len(data))
    if tag != _TAG_SEQUENCE:
        raise CertificateError('not a DER certificate')
    tag, tbs_start, tbs_end = _element(data, cert_start, cert_end)
    if tag != _TAG_SEQUENCE:
        raise CertificateError('no TBSCertificate')
    pos, index = tbs_start, 0
    while pos < tbs_end:
        tag, _start, end = _element(data, pos, tbs_end)
        if index == 0 and tag == _TAG_VERSION:
            pos = end
            continue
        # serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo
        if index == 5:
            if tag != _TAG_SEQUENCE:
                raise CertificateError('no SubjectPublicKeyInfo')
            return data[pos:end]
        index += 1
        pos = end
    raise CertificateError('no SubjectPublicKeyInfo')


def association_data(cert_der, selector, matching_type):
    """The bytes a TLSA record with this selector and matching type holds for this certificate (hex text)."""
    if selector == 0:
        data = bytes(cert_der)
    elif selector == 1:
        data = spki_der(cert_der)
    else:
        raise ValueError(f'unknown selector {selector}')
    if matching_type == 0:
        return data.hex()
    if matching_type == 1:
        return hashlib.sha256(data).hexdigest()
    if matching_type == 2:
        return hashlib.sha512(data).hexdigest()
    raise ValueError(f'unknown matching type {matching_type}')


def describe(record):
    """'3 1 1 (DANE-EE SPKI SHA2-256) 85473f9b...' for a TLSA dict."""
    usage, selector, matching = record['usage'], record['selector'], record['matching_type']
    return '{} {} {} ({} {} {}) {}'.format(usage, selector, matching, USAGE_NAMES.get(usage, '?'),
                                           SELECTOR_NAMES.get(selector, '?'), MATCHING_NAMES.get(matching, '?'),
                                           record['data'][:16] + ('...' if len(record['data']) > 16 else ''))


def _matches(record, cert_der):
    try:
        return association_data(cert_der, record['selector'], record['matching_type']) == record['data'].lower()
    except (ValueError, CertificateError):
        return False


def match_tlsa(records, leaf_der, chain_der=None):
    """Match TLSA dicts (usage, selector, matching_type, data hex) against the presented certificates.

    ``chain_der``: the chain as the server sent it (leaf first), or None when this Python cannot give it.
    Returns {'outcome': match|no_match|chain_unavailable|unusable, 'matched': record or None, 'tried': [...],
    'skipped': [...], 'note': text or None}. Usage 3 matches the leaf; usage 2 a certificate of the chain above the
    leaf (the chain's signatures up to it are then the TLS library's to check, as with any trust anchor).
    """
    usable = [record for record in records if record['usage'] in SMTP_USAGES
              and record['selector'] in SELECTOR_NAMES and record['matching_type'] in MATCHING_NAMES]
    skipped = [describe(record) for record in records if record not in usable]
    result = {'outcome': 'no_match', 'matched': None, 'tried': [], 'untried': [], 'skipped': skipped, 'note': None}
    if not usable:
        result['outcome'] = 'unusable'
        return result
    undecided = False
    for record in usable:
        if record['usage'] == 3:
            result['tried'].append(describe(record))
            if leaf_der and _matches(record, leaf_der):
                result.update(outcome='match', matched=describe(record))
                return result
        elif chain_der is None:
            undecided = True
        else:
            result['tried'].append(describe(record))
            if any(_matches(record, cert) for cert in chain_der[1:]):
                result.update(outcome='match', matched=describe(record))
                return result
    if undecided:
        # A DANE-TA record might match: without the chain, no_match would be a guess.
        _supported, why = chain_support()
        result.update(outcome='chain_unavailable', untried=[describe(record) for record in usable if record['usage'] == 2],
                      note=why or 'the server\'s certificate chain was not recorded: DANE-TA records were not matched')
    return result
