# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Certificate reading (checked against OpenSSL's own decoder) and verify-error classification."""

from __future__ import annotations

import datetime
import ssl

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.mailops.mailflow.plugins.module_utils._diagnosis import errors
from ansible_collections.mailops.mailflow.plugins.module_utils._smtp import tlsinfo
from ansible_collections.mailops.mailflow.tests.unit.plugins.module_utils._smtp.certs import have_openssl, make_pki

pytestmark = pytest.mark.skipif(not have_openssl(), reason='needs the openssl command')

_SHORT_NAMES = {'commonName': 'CN', 'organizationName': 'O', 'countryName': 'C'}


@pytest.fixture(scope='module')
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp('pki'))


def der_of(path):
    with open(path) as handle:
        return ssl.PEM_cert_to_DER_cert(handle.read())


def openssl_view(path):
    """The same certificate as decoded by OpenSSL through CPython (a private helper, fine in a test)."""
    decoded = ssl._ssl._test_decode_cert(path)  # pylint: disable=protected-access
    subject = ', '.join('%s=%s' % (_SHORT_NAMES[key], value) for rdn in reversed(decoded['subject']) for key, value in rdn)
    san = ['%s:%s' % ('IP' if kind == 'IP Address' else kind, value) for kind, value in decoded.get('subjectAltName', ())]
    not_after = datetime.datetime.strptime(decoded['notAfter'], '%b %d %H:%M:%S %Y %Z').strftime('%Y-%m-%dT%H:%M:%SZ')
    return subject, san, not_after, decoded['serialNumber']


@pytest.mark.parametrize('name', ['good', 'expired', 'future', 'other_name', 'self_signed'])
def test_reader_agrees_with_openssl(pki, name):
    path = pki[name][0]
    summary = tlsinfo.certificate_summary(der_of(path))
    subject, san, not_after, serial = openssl_view(path)
    assert summary['subject'] == subject
    assert summary['san'] == san
    assert summary['not_after'] == not_after
    assert summary['serial'] == serial
    assert len(summary['sha256'].split(':')) == 32
    assert 'parse_error' not in summary


def test_validity_and_days_left(pki):
    now = datetime.datetime(2030, 6, 1, tzinfo=datetime.timezone.utc)
    expired = tlsinfo.certificate_summary(der_of(pki['expired'][0]), now=now)
    assert expired['not_before'] == '2020-01-01T00:00:00Z'
    assert expired['not_after'] == '2021-01-01T00:00:00Z'
    assert expired['days_left'] < 0
    future = tlsinfo.certificate_summary(der_of(pki['future'][0]), now=now)
    assert future['not_after'] == '2050-01-01T00:00:00Z'  # GeneralizedTime (year >= 2050)
    assert future['days_left'] > 7000


def test_self_issued_and_issuer(pki):
    assert tlsinfo.certificate_summary(der_of(pki['self_signed'][0]))['self_issued'] is True
    good = tlsinfo.certificate_summary(der_of(pki['good'][0]))
    assert good['self_issued'] is False
    assert good['issuer'] == 'CN=Mailflow Lab CA, O=Mailflow Lab'
    assert good['common_name'] == 'mx1.fabrikam.test'
    assert good['san'] == ['DNS:mx1.fabrikam.test', 'IP:127.0.0.1']


def test_garbage_is_reported_not_raised():
    summary = tlsinfo.certificate_summary(b'\x30\x82\xff\xff garbage')
    assert 'parse_error' in summary and summary['sha256']
    assert tlsinfo.certificate_summary(None) is None


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=1, max_size=600))
def test_fuzz_certificate_summary_never_raises(data):
    summary = tlsinfo.certificate_summary(data)
    assert 'sha256' in summary


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_fuzz_truncated_real_certificate(pki, data):
    der = der_of(pki['good'][0])
    cut = data.draw(st.integers(min_value=1, max_value=len(der) - 1))
    flip = data.draw(st.integers(min_value=0, max_value=len(der) - 1))
    mutated = bytearray(der)
    mutated[flip] ^= 0xff
    for blob in (der[:cut], bytes(mutated)):
        assert 'sha256' in tlsinfo.certificate_summary(blob)


class FakeVerifyError(Exception):
    def __init__(self, code, message):
        super(FakeVerifyError, self).__init__(message)
        self.verify_code = code
        self.verify_message = message


@pytest.mark.parametrize('code, message, condition', [
    (10, 'certificate has expired', errors.TLS_CERT_EXPIRED),
    (9, 'certificate is not yet valid', errors.TLS_CERT_NOT_YET_VALID),
    (18, 'self-signed certificate', errors.TLS_CERT_SELF_SIGNED),
    (19, 'self-signed certificate in certificate chain', errors.TLS_CERT_UNKNOWN_CA),
    (20, 'unable to get local issuer certificate', errors.TLS_CERT_UNKNOWN_CA),
    (62, "Hostname mismatch, certificate is not valid for 'x'.", errors.TLS_CERT_NAME_MISMATCH),
    (64, 'IP address mismatch', errors.TLS_CERT_NAME_MISMATCH),
    (23, 'certificate revoked', errors.TLS_CERT_INVALID),
    (None, 'certificate has expired', errors.TLS_CERT_EXPIRED),
    (None, 'self signed certificate', errors.TLS_CERT_SELF_SIGNED),
    (None, 'something else', errors.TLS_CERT_INVALID),
])
def test_classify_verify_error(code, message, condition):
    assert tlsinfo.classify_verify_error(FakeVerifyError(code, message)) == (condition, message)


def test_contexts_are_cached_per_mode(pki):
    assert tlsinfo.client_context(False) is tlsinfo.client_context(False)
    verifying = tlsinfo.client_context(True, pki['ca'])
    assert verifying is tlsinfo.client_context(True, pki['ca'])
    assert verifying.verify_mode == ssl.CERT_REQUIRED and verifying.check_hostname
    assert tlsinfo.client_context(False).verify_mode == ssl.CERT_NONE
